"""Grievances and regulatory escalation over HTTP (issue 11 item 4): a complaint from
any party with its windows as clocks (payer line of business and state), acknowledged
and resolved, counted in the provider's scorecard; and the filing with the state
regulator listing every earlier attempt, refused before any internal route was tried."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.grievance import service as grievance_service
from careloop.payer.models import Payer
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from tests.api.care_path.test_api import new_case
from tests.api.conftest import Tokens
from tests.factories.identity import make_user
from tests.factories.network import make_provider

h = Tokens.header
ZONE = ZoneInfo("America/New_York")


def _grievance_clocks(session: Session) -> dict[ClockKind, ClockRow]:
    session.expire_all()
    rows = session.scalars(
        select(ClockRow).where(
            ClockRow.kind.in_([ClockKind.grievance_acknowledgement, ClockKind.grievance_resolution])
        )
    )
    return {row.kind: row for row in rows}


def test_a_complaint_from_the_referrer_then_the_regulator(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    payer = session.scalars(select(Payer)).one()
    payer.rules = {
        "grievance": {
            "line_of_business": "medicaid_managed_care",
            "states": {"CT": {"resolve": "45 calendar days"}},
        }
    }
    session.flush()
    number = new_case(client, tokens, clock)
    manager = h(tokens.case_manager)
    url = f"/api/v1/referrals/{number}/grievances"
    regulator_url = f"/api/v1/referrals/{number}/regulatory-escalations"

    too_early = client.post(
        regulator_url,
        json={"regulator": "department_of_insurance", "summary": "No delivery"},
        headers=manager,
    )
    assert too_early.status_code == 409
    assert "internal routes" in too_early.json()["detail"]

    staff_without_who = client.post(
        url, json={"subject": "coordination", "details": "No call back"}, headers=manager
    )
    assert staff_without_who.status_code == 422
    assert {e["field"] for e in staff_without_who.json()["errors"]} == {
        "raised_by",
        "raised_by_name",
    }
    no_provider = client.post(
        url,
        json={"subject": "provider_quality", "details": "Rude driver"},
        headers=h(tokens.hartford),
    )
    assert no_provider.status_code == 422
    assert no_provider.json()["errors"][0]["field"] == "provider_id"
    hidden = client.post(
        url, json={"subject": "coordination", "details": "x"}, headers=h(tokens.albany)
    )
    assert hidden.status_code == 404

    opened = client.post(
        url,
        json={"subject": "coordination", "details": "Three calls, no call back in a week"},
        headers=h(tokens.hartford),
    )
    assert opened.status_code == 201, opened.text
    grievance = opened.json()
    assert (grievance["raised_by"], grievance["status"]) == ("referrer", "open")
    assert grievance["line_of_business"] == "medicaid_managed_care"
    today = clock.now().astimezone(ZONE).date()
    ack_due = _local_due(grievance["acknowledge_due_at"])
    resolve_due = _local_due(grievance["resolve_due_at"])
    assert ack_due == (today + timedelta(days=5), 23)
    assert resolve_due == (today + timedelta(days=45), 23)
    clocks = _grievance_clocks(session)
    assert {k: c.status for k, c in clocks.items()} == {
        ClockKind.grievance_acknowledgement: ClockStatus.open,
        ClockKind.grievance_resolution: ClockStatus.open,
    }
    assert "medicaid managed care" in clocks[ClockKind.grievance_resolution].rule_source

    ack_url = f"/api/v1/grievances/{grievance['id']}/acknowledge"
    assert client.post(ack_url, headers=h(tokens.hartford)).status_code == 403
    acked = client.post(ack_url, headers=manager)
    assert acked.status_code == 200, acked.text
    assert acked.json()["allowed_actions"] == ["resolve"]
    twice = client.post(ack_url, headers=manager)
    assert twice.status_code == 409
    assert twice.json()["allowed_actions"] == ["resolve"]
    bad = client.post(
        f"/api/v1/grievances/{grievance['id']}/resolve",
        json={"resolution": "maybe", "note": "x"},
        headers=manager,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "resolution"

    clock.advance(timedelta(days=3))
    resolved = client.post(
        f"/api/v1/grievances/{grievance['id']}/resolve",
        json={"resolution": "substantiated", "note": "Call-back rota fixed; apology made"},
        headers=manager,
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution_label"] == "Founded: action taken"
    assert {c.status for c in _grievance_clocks(session).values()} == {ClockStatus.met}

    unlisted = client.post(
        regulator_url,
        json={"regulator": "medicaid_ombudsman", "summary": "Still no delivery"},
        headers=manager,
    )
    assert unlisted.status_code == 422
    assert "listed: CA, NY, TX" in unlisted.json()["errors"][0]["message"]
    filed = client.post(
        regulator_url,
        json={
            "regulator": "department_of_insurance",
            "summary": "Oxygen not delivered for nine days despite a grievance",
            "reference": "CID-2026-1188",
        },
        headers=manager,
    )
    assert filed.status_code == 201, filed.text
    filing = filed.json()
    assert filing["state"] == "CT"
    assert filing["agency_name"].startswith("Connecticut Insurance Department")
    assert filing["agency_verified"] is False
    assert [(a["kind"], a["what"]) for a in filing["attempts"]] == [
        ("grievance", "Grievance about our coordination: founded: action taken")
    ]
    assert filing["attempts"][0]["at"] == grievance["opened_at"]
    listed = client.get(regulator_url, headers=manager).json()["items"]
    assert [f["reference"] for f in listed] == ["CID-2026-1188"]
    assert client.get(regulator_url, headers=h(tokens.hartford)).status_code == 403


def _local_due(text: str) -> tuple[object, int]:
    local = datetime.fromisoformat(text).astimezone(ZONE)
    return local.date(), local.hour


def test_complaints_about_a_provider_count_in_its_scorecard(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    supplier = make_provider(session, clock=clock, admin=admin, name="Charter Oak Home Medical")
    number = new_case(client, tokens, clock)
    url = f"/api/v1/referrals/{number}/grievances"
    ids = []
    for details in ("Left the concentrator unset", "No tubing delivered"):
        made = client.post(
            url,
            json={
                "subject": "provider_quality",
                "provider_id": supplier.id,
                "details": details,
                "raised_by": "member",
                "raised_by_name": "Dorothy Hale",
                "expedited": True,
            },
            headers=h(tokens.case_manager),
        )
        assert made.status_code == 201, made.text
        assert made.json()["raised_by_label"] == "The member"
        ids.append(made.json()["id"])
    resolved = client.post(
        f"/api/v1/grievances/{ids[0]}/resolve",
        json={"resolution": "substantiated", "note": "Provider retrained its drivers"},
        headers=h(tokens.case_manager),
    )
    assert resolved.status_code == 200, resolved.text
    card = grievance_service.provider_scorecard(
        session, supplier.id, clock.now() - timedelta(days=1), clock.now() + timedelta(days=1)
    )
    assert (card.opened, card.substantiated, card.open_now) == (2, 1, 1)
    empty = grievance_service.provider_scorecard(
        session, supplier.id, clock.now() + timedelta(days=1), clock.now() + timedelta(days=2)
    )
    assert empty.opened == 0
