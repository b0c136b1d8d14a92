"""The case packet over HTTP: one PDF with a bookmark per section, its own pages then
every document's pages, the case number on the cover, and the SHA-256 of what was
downloaded recorded on the timeline; anyone but the coordination staff gets 404."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.clock import FixedClock
from careloop.packet import SECTIONS
from tests.api.appeal.test_api import _denied_case
from tests.api.conftest import Tokens
from tests.api.escalation.test_api import escalate
from tests.api.interaction.test_api import call
from tests.factories import files
from tests.factories.coverage import make_coverage


def h(token: str) -> dict[str, str]:
    return Tokens.header(token)


def test_the_packet_proves_the_case(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    make_coverage(session, clock=clock, prior_auth="E1390")
    number, _auth = _denied_case(client, tokens, clock)
    manager = h(tokens.case_manager)
    opened = client.post(
        f"/api/v1/referrals/{number}/appeals",
        json={"rationale": "Resting SpO2 86 % on room air, twice"},
        headers=manager,
    )
    assert opened.status_code == 201, opened.text
    due = (clock.now() + timedelta(days=1)).isoformat()
    for body in (call(clock), call(clock, outcome="follow_up", follow_up_due_at=due)):
        logged = client.post(f"/api/v1/referrals/{number}/contacts", json=body, headers=manager)
        assert logged.status_code == 201, logged.text
    escalate(client, tokens.case_manager, number)
    for content, name in ((files.pdf(pages=3), "order.pdf"), (files.image("PNG"), "wound.png")):
        attached = client.post(
            f"/api/v1/referrals/{number}/documents",
            files={"file": (name, content, "application/octet-stream")},
            data={"kind": "other"},
            headers=manager,
        )
        assert attached.status_code == 201, attached.text

    response = client.get(f"/api/v1/referrals/{number}/packet.pdf", headers=manager)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    titles = [item.title for item in reader.outline if not isinstance(item, list)]
    assert titles[: len(SECTIONS)] == list(SECTIONS)
    assert titles[-1] == "Documents appended"
    children = reader.outline[-1]
    assert isinstance(children, list) and len(children) == 2
    own = reader.get_destination_page_number(reader.outline[len(SECTIONS)])
    assert len(reader.pages) == own + 3 + 1
    cover = reader.pages[0].extract_text()
    assert number in cover
    assert "medically necessary" in cover.lower()
    assert reader.page_labels[-1] == str(len(reader.pages))

    digest = hashlib.sha256(response.content).hexdigest()
    assert response.headers["x-packet-sha256"] == digest
    timeline = client.get(f"/api/v1/referrals/{number}/timeline", headers=manager).json()
    made = [e for e in timeline["events"] if e["type"] == "packet.made"]
    assert [e["data"]["sha256"] for e in made] == [digest]

    audited = session.scalars(
        select(AuditRecord.action).where(AuditRecord.case_number == number)
    ).all()
    assert "packet.read" in audited

    missing = client.get("/api/v1/referrals/CL-2026-999999/packet.pdf", headers=manager)
    assert missing.status_code == 404
    for token in (tokens.hartford, tokens.albany, tokens.provider, tokens.member):
        other = client.get(f"/api/v1/referrals/{number}/packet.pdf", headers=h(token))
        assert other.status_code == 404, other.text
        assert other.json()["title"] == missing.json()["title"]
        assert other.json()["code"] == missing.json()["code"]
    timeline = client.get(f"/api/v1/referrals/{number}/timeline", headers=manager).json()
    assert len([e for e in timeline["events"] if e["type"] == "packet.made"]) == 1
