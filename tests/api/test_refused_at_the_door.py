"""What was refused at the door (never a case) is recorded and counted in the daily
referral import, by channel and reason in plain words: a JSON body without a birth date,
a FHIR body that is not JSON, a bulk file's bad row. The record keeps the field and the
rule, never what was sent (no PHI), and a refusal changes nothing else."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.imports import tasks
from careloop.referral.models import Referral
from careloop.report import reconciliation
from careloop.report import service as report_service
from tests.api.conftest import Tokens, on_both_token_paths
from tests.factories.identity import make_user
from tests.factories.referral import referral_payload

settings = on_both_token_paths()  # every test with the token checked, and cached

H = Tokens.header
ZONE = "America/New_York"


def test_refusals_by_the_api_fhir_and_a_bulk_file_are_counted_by_channel_and_reason(
    client: TestClient, tokens: Tokens, database: Database, session: Session, clock: FixedClock
) -> None:
    body = referral_payload(clock.now(), member__birth_date=...)
    refused = client.post("/api/v1/referrals", json=body, headers=H(tokens.intake))
    assert refused.status_code == 422, refused.text
    not_json = client.post(
        "/fhir",
        content=b"{not json",
        headers={**H(tokens.hartford), "Content-Type": "application/fhir+json"},
    )
    assert not_json.status_code == 400
    # A caller who may not refer is not a refused submission: it is told 403 first.
    assert client.post("/api/v1/referrals", json=body, headers=H(tokens.member)).status_code == 403
    rows = [
        referral_payload(clock.now(), external_id="ROW-1", channel=...),
        referral_payload(clock.now(), external_id="ROW-2", channel=..., items=[]),
    ]
    upload = client.post(
        "/api/v1/imports",
        headers=H(tokens.intake),
        files={"file": ("daily.ndjson", "\n".join(map(json.dumps, rows)), "text/plain")},
    )
    assert upload.status_code == 202, upload.text
    assert tasks.run_pending(database, clock=clock) == 1
    assert session.scalar(select(func.count()).select_from(Referral)) == 1  # ROW-1 only

    records = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "intake.refused")
    ).all()
    assert sorted(r.detail["channel"] for r in records if r.detail) == ["api", "batch", "fhir"]
    kept = json.dumps([r.detail for r in records])
    assert "Dorothy" not in kept and "Hale" not in kept and "NEH448812301" not in kept
    assert {r.outcome for r in records} == {"refused"}

    manager, _ = make_user(session, clock=clock, role=Role.supervisor, email="sup@hub.test")
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    today = clock.now().astimezone(ZoneInfo(ZONE)).date()
    report = reconciliation.make_report(
        session,
        manager,
        "daily-import",
        start=today,
        end=today + timedelta(days=1),
        clock=clock,
        zone=ZONE,
    )
    arrived = {r[0]: r for r in report.sections[0].rows}
    assert report.sections[0].columns[-1] == "Refused at the door"
    assert arrived["JSON API"][-1] == 1 and arrived["JSON API"][1] == 0
    assert arrived["Hospital system (FHIR)"][-1] == 1
    assert arrived["Bulk file"][1:] == [1, 1, 0, 0, 0, 1]
    assert arrived["Every channel"][-1] == 3
    why = {(r[0], r[1]): r[2] for r in report.sections[2].rows}
    assert why[("JSON API", "Member birth date: missing")] == 1
    assert why[("Hospital system (FHIR)", "The submission: not readable")] == 1
    assert why[("Bulk file", "Items: too few")] == 1
    assert "3 submissions were refused at the door." in report.notes
    for row in report.sections[2].rows:  # plain words: no codes, no snake_case
        assert "_" not in str(row[1])
