"""A case delivered after its authorisation: what the claim tests bill."""

from __future__ import annotations

from datetime import date

from careloop.prior_auth import service as prior_auth
from careloop.prior_auth.rules import Outcome
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn, ItemDecisionIn
from careloop.scheduling import service as scheduling
from careloop.scheduling.rules import Outcome as Done
from careloop.scheduling.schemas import OutcomeIn
from tests.integration.care_path.test_care_path import Path


def delivered(path: Path, items: list[dict[str, object]], code: str, units: int) -> str:
    """A case authorised for ``units`` of ``code``, accepted, delivered."""
    clock = path.clock
    number = path.case(prior_auth=code, items=items)
    path.verify(number)
    request = prior_auth.request_authorization(
        path.session, path.manager, number, AuthorizationRequestIn(), clock=clock
    )
    prior_auth.record_decision(
        path.session,
        path.reviewer,
        request.id,
        DecisionIn(
            outcome=Outcome.approved,
            authorization_number="PA-31",
            valid_from=date(2026, 11, 24),
            valid_to=date(2027, 5, 24),
            items=[ItemDecisionIn(line=1, units_approved=units)],
        ),
        clock=clock,
    )
    path.accepted(number)
    booked = path.schedule(number)
    scheduling.record_outcome(
        path.session,
        path.supplier.staff,
        booked.id,  # type: ignore[attr-defined]
        OutcomeIn(
            outcome=Done.delivered,
            at=clock.now(),
            received_by="Member",
            serial_numbers=["SN-7"] if code.startswith("E") else [],
        ),
        clock=clock,
    )
    return number
