"""Appeals over HTTP (issue 11 item 3): a denial appealed level by level, upheld at the
first level and overturned at the second, with the clocks of each window, the letter,
and bad input answered clearly (409 for what the state forbids, 422 naming the field)."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from tests.api.care_path.test_api import new_case
from tests.api.conftest import Tokens
from tests.factories import files
from tests.factories.coverage import make_coverage

h = Tokens.header


def _denied_case(client: TestClient, tokens: Tokens, clock: FixedClock) -> tuple[str, int]:
    number = new_case(client, tokens, clock)
    manager = h(tokens.case_manager)
    verified = client.post(f"/api/v1/referrals/{number}/verify-eligibility", headers=manager)
    assert verified.status_code == 200, verified.text
    requested = client.post(f"/api/v1/referrals/{number}/authorizations", headers=manager)
    assert requested.status_code == 201, requested.text
    auth_id: int = requested.json()["id"]
    denied = client.post(
        f"/api/v1/authorizations/{auth_id}/decision",
        json={
            "outcome": "denied",
            "denial_reason": "not_medically_necessary",
            "peer_to_peer_contact": "Dr. Lee, 860-555-0199",
            "note": "Resting saturation not documented",
        },
        headers=h(tokens.nurse),
    )
    assert denied.status_code == 200, denied.text
    return number, auth_id


def _clocks(session: Session, kind: ClockKind) -> list[ClockRow]:
    session.expire_all()
    return list(session.scalars(select(ClockRow).where(ClockRow.kind == kind)))


def test_upheld_at_the_first_level_overturned_at_the_second(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    make_coverage(session, clock=clock, prior_auth="E1390")
    number, auth_id = _denied_case(client, tokens, clock)
    manager, nurse = h(tokens.case_manager), h(tokens.nurse)
    url = f"/api/v1/referrals/{number}/appeals"
    window = _clocks(session, ClockKind.appeal_deadline)
    assert [c.status for c in window] == [ClockStatus.open]
    assert window[0].rule_source.startswith("first-level appeal: file within 30 calendar days")

    nothing = client.post(url, json={}, headers=manager)
    assert nothing.status_code == 422
    assert [e["field"] for e in nothing.json()["errors"]] == ["rationale"]
    by_referrer = client.post(url, json={"rationale": "x"}, headers=h(tokens.hartford))
    assert by_referrer.status_code == 403

    opened = client.post(
        url,
        json={
            "rationale": "Resting SpO2 86 % on room air, twice",
            "objective_measures": "Overnight oximetry: 38 minutes below 88 %",
        },
        headers=manager,
    )
    assert opened.status_code == 201, opened.text
    appeal = opened.json()
    appeal_url = f"{url}/{appeal['id']}"
    assert appeal["preventing_check"] == "medical_necessity_undocumented"
    assert [(lv["kind"], lv["status"]) for lv in appeal["levels"]] == [
        ("first_level", "filed"),
        ("second_level", "waiting"),
        ("external_review", "waiting"),
    ]
    assert appeal["allowed_actions"] == ["outcome"]
    assert [c.status for c in _clocks(session, ClockKind.appeal_deadline)] == [ClockStatus.met]
    assert [c.status for c in _clocks(session, ClockKind.appeal_decision)] == [ClockStatus.open]
    case = client.get(f"/api/v1/referrals/{number}", headers=manager).json()
    assert case["status"] == "authorization_pending"
    again = client.post(url, json={"rationale": "twice"}, headers=manager)
    assert again.status_code == 409
    direct = client.post(
        f"/api/v1/authorizations/{auth_id}/decision",
        json={"outcome": "approved", "authorization_number": "PA-9"},
        headers=nurse,
    )
    assert direct.status_code == 409
    assert "appeal's level" in direct.json()["detail"]

    clock.advance(timedelta(days=12))
    upheld = client.post(
        f"{appeal_url}/outcome",
        json={"outcome": "upheld", "note": "Criteria still not met"},
        headers=nurse,
    )
    assert upheld.status_code == 200, upheld.text
    body = upheld.json()
    assert (body["status"], body["current_level"]) == ("open", 2)
    assert body["levels"][0]["status"] == "upheld"
    assert body["levels"][1]["status"] == "open_for_filing"
    assert body["allowed_actions"] == ["file_level"]
    assert client.get(f"/api/v1/referrals/{number}", headers=manager).json()["status"] == "denied"
    filing = _clocks(session, ClockKind.appeal_filing)
    assert [c.status for c in filing] == [ClockStatus.open]
    assert [c.status for c in _clocks(session, ClockKind.appeal_decision)] == [ClockStatus.met]

    early = client.post(f"{appeal_url}/outcome", json={"outcome": "overturned"}, headers=nurse)
    assert early.status_code == 409
    assert "has not been filed yet" in early.json()["detail"]
    assert early.json()["allowed_actions"] == ["file_level"]
    unknown = client.post(f"{appeal_url}/levels", json={"level": "tertiary"}, headers=manager)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "level"
    not_offered = client.post(
        f"{appeal_url}/levels", json={"level": "peer_to_peer"}, headers=manager
    )
    assert not_offered.status_code == 422
    assert "not a level of this payer's appeals" in not_offered.json()["errors"][0]["message"]
    skipping = client.post(
        f"{appeal_url}/levels", json={"level": "external_review"}, headers=manager
    )
    assert skipping.status_code == 409

    filed = client.post(
        f"{appeal_url}/levels",
        json={"level": "second_level", "rationale": "Six-minute walk: desaturation to 84 %"},
        headers=manager,
    )
    assert filed.status_code == 200, filed.text
    assert filed.json()["levels"][1]["status"] == "filed"
    assert [c.status for c in _clocks(session, ClockKind.appeal_filing)] == [ClockStatus.met]

    attached = client.post(
        f"/api/v1/referrals/{number}/documents",
        files={"file": ("notes.pdf", files.pdf(), "application/pdf")},
        data={"kind": "progress_notes"},
        headers=manager,
    )
    assert attached.status_code == 201, attached.text
    letter = client.get(f"{appeal_url}/letter.pdf", headers=manager)
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    assert letter.headers["content-disposition"].startswith("attachment")
    assert letter.headers["x-content-type-options"] == "nosniff"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(letter.content)).pages)
    for expected in (
        number,
        "Second-level appeal",
        "Six-minute walk",
        "38 minutes below 88",
        "not medically necessary",
        "Progress notes, received",
    ):
        assert expected in text, expected
    # Appeals are the coordination team's work: a referrer's role may not read them.
    assert client.get(f"{appeal_url}/letter.pdf", headers=h(tokens.hartford)).status_code == 403
    assert client.get(url, headers=h(tokens.albany)).status_code == 403
    missing = client.get(f"{url}/999999/letter.pdf", headers=manager)
    assert missing.status_code == 404

    incomplete = client.post(f"{appeal_url}/outcome", json={"outcome": "overturned"}, headers=nurse)
    assert incomplete.status_code == 422
    assert {e["field"] for e in incomplete.json()["errors"]} >= {"authorization_number"}
    overturned = client.post(
        f"{appeal_url}/outcome",
        json={
            "outcome": "overturned",
            "authorization_number": "PA-2026-0077",
            "valid_from": "2026-11-24",
            "valid_to": "2027-02-22",
        },
        headers=nurse,
    )
    assert overturned.status_code == 200, overturned.text
    assert (overturned.json()["status"], overturned.json()["allowed_actions"]) == (
        "overturned",
        [],
    )
    case = client.get(f"/api/v1/referrals/{number}", headers=manager).json()
    assert case["status"] == "authorized"
    auth = client.get(f"/api/v1/authorizations/{auth_id}", headers=manager).json()
    assert (auth["status"], auth["authorization_number"]) == ("approved", "PA-2026-0077")
    after = client.post(f"{appeal_url}/outcome", json={"outcome": "upheld"}, headers=nurse)
    assert after.status_code == 409
    listed = client.get(url, headers=manager).json()["items"]
    assert [a["status"] for a in listed] == ["overturned"]


def test_appeal_of_a_case_with_nothing_denied_is_refused(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    number = new_case(client, tokens, clock)
    refused = client.post(
        f"/api/v1/referrals/{number}/appeals",
        json={"rationale": "x"},
        headers=h(tokens.case_manager),
    )
    assert refused.status_code == 409
    assert "nothing was denied" in refused.json()["detail"]


def test_an_unfiled_next_level_lapses_and_closes_the_appeal(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock, database: Database
) -> None:
    make_coverage(session, clock=clock, prior_auth="E1390")
    number, _ = _denied_case(client, tokens, clock)
    url = f"/api/v1/referrals/{number}/appeals"
    appeal = client.post(url, json={"rationale": "SpO2 86 %"}, headers=h(tokens.case_manager))
    upheld = client.post(
        f"{url}/{appeal.json()['id']}/outcome", json={"outcome": "upheld"}, headers=h(tokens.nurse)
    )
    assert upheld.status_code == 200, upheld.text
    session.commit()
    clock.advance(timedelta(days=32))
    fired = worker.fire_due(database, clock=clock)
    assert fired["appeal_filing"] == 1
    closed = client.get(f"{url}/{appeal.json()['id']}", headers=h(tokens.case_manager)).json()
    assert closed["status"] == "closed"
    assert closed["levels"][1]["status"] == "lapsed"
    assert "not filed within its window" in closed["close_reason"]
