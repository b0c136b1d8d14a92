"""The claim routes: a claim refused with its fields named, a malformed 835 refused with
nothing posted, and who may call them."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.claim import rules, service, status
from careloop.claim.models import ClaimPosting, Remittance
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import FixedClock
from careloop.payer.models import Payer
from careloop.referral.models import Referral
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload


def h(token: str) -> dict[str, str]:
    return Tokens.header(token)


def test_a_malformed_835_is_refused_and_posts_nothing(
    client: TestClient, tokens: Tokens, session: Session
) -> None:
    sent = client.post(
        "/api/v1/remittances",
        content=b"ISA*00*garbage~",
        headers={**h(tokens.case_manager), "Content-Type": "application/edi-x12"},
    )
    assert sent.status_code == 422, sent.text
    assert "835" in sent.json()["title"]
    assert session.scalar(select(func.count()).select_from(Remittance)) == 0
    assert session.scalar(select(func.count()).select_from(ClaimPosting)) == 0
    assert (
        client.post("/api/v1/remittances", content=b"x", headers=h(tokens.hartford)).status_code
        == 403
    )


def test_a_claim_for_a_case_with_nothing_delivered_is_refused(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    case = client.post(
        "/api/v1/referrals", json=referral_payload(clock.now()), headers=h(tokens.hartford)
    ).json()["case_number"]
    body = {
        "lines": [{"code": "E0260", "modifiers": ["RR"], "units": 1, "service_date": "2026-03-03"}]
    }
    refused = client.post(
        f"/api/v1/referrals/{case}/claims", json=body, headers=h(tokens.case_manager)
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "nothing_to_bill"
    bad = {"lines": [{"code": "E0260", "units": 0, "service_date": "2026-03-03"}]}
    named = client.post(
        f"/api/v1/referrals/{case}/claims", json=bad, headers=h(tokens.case_manager)
    )
    assert named.status_code == 422
    assert "units" in named.text
    assert (
        client.post(
            "/api/v1/referrals/CL-2099-999999/claims", json=body, headers=h(tokens.case_manager)
        ).status_code
        == 404
    )


def test_a_cases_claims_are_listed_with_the_payers_status_in_words(
    client: TestClient, tokens: Tokens, session: Session, clock: FixedClock
) -> None:
    case = client.post(
        "/api/v1/referrals", json=referral_payload(clock.now()), headers=h(tokens.hartford)
    ).json()["case_number"]
    referral_id = session.scalars(select(Referral.id).where(Referral.case_number == case)).one()
    session.add(
        Appointment(
            referral_id=referral_id, sequence=1, kind=next(iter(AppointmentKind)),
            status=AppointmentStatus.delivered, outcome_at=clock.now(), serial_numbers=[],
            units=[],
        )
    )  # fmt: skip
    # The coordinator bills (the case has no provider yet).
    session.scalars(select(Payer)).one().rules = {"claims": {"billed_by": "coordinator"}}
    session.flush()
    lines = [rules.Line("E0260", 1, clock.now().date(), ("RR",), (1,))]
    prepared = service.prepare(session, SYSTEM_ACTOR, referral_id, lines, clock=clock)
    status.record_payer_status(
        session, SYSTEM_ACTOR, prepared.claim_number, category="P1", code="20",
        effective=clock.now().date(), source="test", clock=clock,
    )  # fmt: skip
    listed = client.get(f"/api/v1/referrals/{case}/claims", headers=h(tokens.case_manager))
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["claim_number"] == prepared.claim_number
    # Prepared, not yet handed to the clearinghouse (`careloop claims send`).
    assert (item["status_words"], item["charge"]) == ("Ready to send", "178.40")
    assert item["payer_status_words"] == "Pending: in process at the payer (status code 20)"
    hidden = client.get(f"/api/v1/referrals/{case}/claims", headers=h(tokens.hartford))
    assert hidden.status_code in (403, 404)
    missing = client.get("/api/v1/referrals/CL-2099-999999/claims", headers=h(tokens.case_manager))
    assert missing.status_code == 404
