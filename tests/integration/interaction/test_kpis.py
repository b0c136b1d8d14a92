"""The contact KPIs on the staff dashboard, computed from the contacts on record
(DOMAIN.md §8), and kept in the worker's snapshot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.interaction import service
from careloop.interaction.schemas import ContactCreate
from careloop.referral import service as referral_service
from careloop.report import service as report_service
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"


def body(clock: FixedClock, minutes: int, **changes: Any) -> ContactCreate:
    now = clock.now()
    values: dict[str, Any] = {
        "kind": "call",
        "direction": "inbound",
        "party": {"kind": "member", "name": "Dorothy Hale"},
        "reason": "status_check",
        "started_at": (now - timedelta(minutes=minutes)).isoformat(),
        "ended_at": now.isoformat(),
        "outcome": "resolved",
    }
    values.update(changes)
    return ContactCreate.model_validate(values, strict=False)


def test_first_contact_resolution_and_handling_time_from_the_contacts(
    session: Session, clock: FixedClock
) -> None:
    make_payer(session, clock=clock)
    agent, _ = make_user(session, clock=clock, role=Role.intake_agent)
    number = referral_service.submit_referral(
        session, agent, referral_draft(clock.now()), clock=clock
    ).case_number
    # Day 0: resolved, but the member calls again on day 2 about the same thing.
    service.log_contact(session, agent, body(clock, 4), clock=clock, case_number=number)
    clock.advance(timedelta(days=2))
    service.log_contact(session, agent, body(clock, 8), clock=clock, case_number=number)
    # A scheduling call the same day, resolved; an outbound call (not counted for FCR).
    service.log_contact(
        session, agent, body(clock, 6, reason="scheduling"), clock=clock, case_number=number
    )
    service.log_contact(
        session, agent, body(clock, 2, direction="outbound", team="intake"), clock=clock
    )
    clock.advance(timedelta(days=8))

    figures = report_service.compute_dashboard(session, clock=clock, zone=ZONE).contacts
    assert figures is not None
    fcr = figures.first_contact_resolution
    assert (fcr.hits, fcr.counted) == (2, 3)
    assert figures.handling[""].mean == timedelta(minutes=5)
    assert figures.handling["intake"].mean == timedelta(minutes=2)
    assert figures.handling["case_management"].mean == timedelta(minutes=6)

    again = report_service.Dashboard.from_json(
        report_service.compute_dashboard(session, clock=clock, zone=ZONE).as_json()
    )
    assert again.contacts == figures
