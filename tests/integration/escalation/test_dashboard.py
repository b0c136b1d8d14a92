"""The dashboard's kept-promise rate, from escalations worked through their services."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.escalation import CommitIn, EscalationCreate, Reason, RequesterIn, ResolveIn
from careloop.escalation import service as escalation_service
from careloop.referral import service as referral_service
from careloop.report import rules as report_rules
from careloop.report import service as report_service
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


def test_kept_and_missed_promises_make_the_rate(session: Session, clock: FixedClock) -> None:
    make_payer(session, clock=clock)
    intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
    boss, _ = make_user(session, clock=clock, role=Role.supervisor, name="Morgan Reyes")
    case = referral_service.submit_referral(
        session, intake, referral_draft(clock.now()), clock=clock
    ).case_number
    body = EscalationCreate(
        reason=Reason.service_delay, requested_by=RequesterIn(name="Sam", phone="555-0100")
    )
    dashboard = report_service.compute_dashboard(session, clock=clock, zone="America/New_York")
    assert dashboard.promises_kept == report_rules.Rate(0, 0)
    for eta_in, resolve_after in ((timedelta(hours=2), timedelta(hours=1)),) * 3 + (
        (timedelta(hours=1), timedelta(hours=2)),
    ):
        esc = escalation_service.open_escalation(session, intake, case, body, clock=clock)
        escalation_service.commit_eta(
            session, boss, case, esc.id, CommitIn(eta=clock.now() + eta_in), clock=clock
        )
        clock.advance(resolve_after)
        escalation_service.resolve(
            session, boss, case, esc.id, ResolveIn(resolution="done"), clock=clock
        )
    dashboard = report_service.compute_dashboard(session, clock=clock, zone="America/New_York")
    assert dashboard.promises_kept == report_rules.Rate(3, 4)
    again = report_service.Dashboard.from_json(dashboard.as_json())
    assert again.promises_kept == report_rules.Rate(3, 4)
