"""The care path over HTTP (issue 4): precise problems, 409 with the allowed moves, the
written confirmation as a PDF, and another organisation's case answering 404."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.factories.coverage import make_coverage
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_payload

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


def h(token: str) -> dict[str, str]:
    return Tokens.header(token)


def new_case(client: TestClient, tokens: Tokens, clock: FixedClock, **overrides: object) -> str:
    overrides.setdefault("items", OXYGEN)
    created = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now(), **overrides),
        headers=h(tokens.hartford),
    )
    assert created.status_code == 201, created.text
    number: str = created.json()["case_number"]
    ack = client.post(f"/api/v1/referrals/{number}/acknowledge", headers=h(tokens.case_manager))
    assert ack.status_code == 200, ack.text
    return number


def test_the_whole_path_over_http(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    make_coverage(session, clock=clock, prior_auth="E1390")
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    supplier = make_provider(session, clock=clock, admin=admin, name="Charter Oak Home Medical")
    number = new_case(client, tokens, clock)
    manager = h(tokens.case_manager)

    early = client.post(f"/api/v1/referrals/{number}/offers", headers=manager)
    assert early.status_code == 409
    assert early.json()["allowed_actions"] == ["supply_information", "verify_eligibility", "cancel"]

    verified = client.post(f"/api/v1/referrals/{number}/verify-eligibility", headers=manager)
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert (body["status"], body["authorization_required"]) == ("active", True)
    assert body["items"][0]["basis"] == "E1390 is on the prior-authorisation list of NEHP Gold HMO"

    requested = client.post(f"/api/v1/referrals/{number}/authorizations", headers=manager)
    assert requested.status_code == 201, requested.text
    auth_id = requested.json()["id"]
    incomplete = client.post(
        f"/api/v1/authorizations/{auth_id}/decision",
        json={"outcome": "approved"},
        headers=h(tokens.nurse),
    )
    assert incomplete.status_code == 422
    assert {e["field"] for e in incomplete.json()["errors"]} == {
        "authorization_number",
        "valid_from",
        "valid_to",
    }
    by_manager = client.post(
        f"/api/v1/authorizations/{auth_id}/decision",
        json={"outcome": "pended", "missing_information": "x"},
        headers=manager,
    )
    assert by_manager.status_code == 403
    approved = client.post(
        f"/api/v1/authorizations/{auth_id}/decision",
        json={
            "outcome": "approved",
            "authorization_number": "PA-2026-0042",
            "valid_from": "2026-11-24",
            "valid_to": "2027-02-22",
        },
        headers=h(tokens.nurse),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["case_status"] == "authorized"

    offered = client.post(f"/api/v1/referrals/{number}/offers", headers=manager)
    assert offered.status_code == 201, offered.text
    start = clock.now() + timedelta(hours=20)
    window = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(hours=3)).isoformat(),
    }
    too_soon = client.post(f"/api/v1/referrals/{number}/appointments", json=window, headers=manager)
    assert too_soon.status_code == 409
    assert too_soon.json()["code"] == "illegal_transition"
    assert "schedule" not in too_soon.json()["allowed_actions"]
    no_pdf = client.get(f"/api/v1/referrals/{number}/confirmation.pdf", headers=manager)
    assert no_pdf.status_code == 409

    accepted = client.post(
        f"/api/v1/offers/{offered.json()['id']}/accept", headers=h(supplier.token)
    )
    assert accepted.status_code == 200, accepted.text
    booked = client.post(
        f"/api/v1/referrals/{number}/appointments", json=window, headers=h(supplier.token)
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    assert appointment["case_status"] == "scheduled"

    pdf = client.get(f"/api/v1/referrals/{number}/confirmation.pdf", headers=h(tokens.hartford))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert number in text and "Charter Oak Home Medical" in text
    other = client.get(f"/api/v1/referrals/{number}/confirmation.pdf", headers=h(tokens.albany))
    assert other.status_code == 404

    outcome_url = f"/api/v1/appointments/{appointment['id']}/outcome"
    bad = client.post(
        outcome_url, json={"outcome": "delivered", "at": clock.now().isoformat()}, headers=manager
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"received_by", "serial_numbers"}
    done = client.post(
        outcome_url,
        json={
            "outcome": "delivered",
            "at": clock.now().isoformat(),
            "received_by": "Daughter",
            "serial_numbers": ["SN-4411-0092"],
        },
        headers=h(supplier.token),
    )
    assert done.status_code == 200, done.text
    assert done.json()["on_time"] is True and done.json()["case_status"] == "fulfilled"
    again = client.post(
        outcome_url, json={"outcome": "missed", "reason": "weather"}, headers=manager
    )
    assert again.status_code == 409
    assert again.json()["code"] == "appointment_state"
    closed = client.post(f"/api/v1/referrals/{number}/close", headers=manager)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


def test_unknown_fields_and_wrong_types_are_named(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    number = new_case(client, tokens, clock)
    response = client.post(
        f"/api/v1/referrals/{number}/appointments",
        json={"window_start": "tomorrow", "window_end": "2026-11-25T12:00:00", "colour": 1},
        headers=h(tokens.case_manager),
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"window_start", "window_end", "colour"} <= fields


def test_other_organisations_and_unknown_ids_answer_404(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    number = new_case(client, tokens, clock)
    for path in (
        f"/api/v1/referrals/{number}/appointments",
        "/api/v1/appointments/999999",
    ):
        assert client.get(path, headers=h(tokens.provider)).status_code == 404
    assert (
        client.get("/api/v1/authorizations/999999", headers=h(tokens.case_manager)).status_code
        == 404
    )
