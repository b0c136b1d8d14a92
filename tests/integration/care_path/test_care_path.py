"""The care path after intake against a real database (issue 4): eligibility, prior
authorisation, the offer, scheduling, the written confirmation, the outcome, units and
recurring supplies, and the worker firing the new clocks."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.appeal import service as appeals
from careloop.appeal.schemas import AppealCreate, AppealOutcomeIn
from careloop.appeal.service import AppealStateError
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError, IllegalTransitionError, RuleViolationError
from careloop.db.outbox import OutboxMessage
from careloop.db.session import Database
from careloop.eligibility import service as eligibility
from careloop.matching import service as matching
from careloop.matching.schemas import OfferCreate
from careloop.prior_auth import service as prior_auth
from careloop.prior_auth.rules import AuthorizationStatus, DenialReason, Outcome, Priority
from careloop.prior_auth.schemas import (
    AuthorizationRequestIn,
    DecisionIn,
    InformationIn,
    ItemDecisionIn,
)
from careloop.prior_auth.service import AuthorizationStateError
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus
from careloop.referral.errors import ReferralNotFoundError
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import AcknowledgeIn
from careloop.scheduling import service as scheduling
from careloop.scheduling.rules import AppointmentStatus, MissedReason
from careloop.scheduling.rules import Outcome as Done
from careloop.scheduling.schemas import OutcomeIn, ScheduleIn
from careloop.scheduling.service import AppointmentStateError
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from tests.factories.coverage import make_coverage
from tests.factories.identity import make_user
from tests.factories.network import MadeProvider, make_provider
from tests.factories.referral import make_payer, referral_draft

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]
NURSE_AND_OXYGEN = [
    {"code": "G0299", "code_system": "HCPCS", "quantity": 8, "frequency": "2x weekly"},
    {"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True},
]
DRESSINGS = [
    {"code": "A6212", "code_system": "HCPCS", "quantity": 10, "frequency": "weekly"},
]


class Path:
    def __init__(
        self, session: Session, clock: FixedClock, *, payer_rules: dict[str, object] | None = None
    ) -> None:
        self.session, self.clock = session, clock
        make_payer(session, clock=clock, rules=payer_rules)
        self.admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        self.manager, _ = make_user(
            session, clock=clock, role=Role.case_manager, name="Jane Ruiz", extension="4417"
        )
        self.reviewer, _ = make_user(session, clock=clock, role=Role.clinical_reviewer)
        self.supplier: MadeProvider = make_provider(
            session,
            clock=clock,
            admin=self.admin,
            name="Charter Oak Home Medical",
            categories=["oxygen", "wound_care"],
        )

    def case(
        self,
        *,
        prior_auth: str = "",
        coverage: dict[str, object] | None = None,
        **overrides: object,
    ) -> str:
        make_coverage(self.session, clock=self.clock, prior_auth=prior_auth, **(coverage or {}))
        overrides.setdefault("items", OXYGEN)
        draft = referral_draft(self.clock.now(), **overrides)
        number = referral_service.submit_referral(
            self.session, self.manager, draft, clock=self.clock
        ).case_number
        referral_service.acknowledge_referral(
            self.session, self.manager, number, AcknowledgeIn(), clock=self.clock
        )
        return number

    def referral(self, number: str) -> Referral:
        return self.session.scalars(select(Referral).where(Referral.case_number == number)).one()

    def verify(self, number: str) -> object:
        return eligibility.verify_eligibility(self.session, self.manager, number, clock=self.clock)

    def accepted(self, number: str) -> None:
        offer = matching.offer_referral(
            self.session, self.manager, number, OfferCreate(), clock=self.clock
        )
        matching.accept_offer(self.session, self.supplier.staff, offer.id, clock=self.clock)

    def window(self, hours_from_now: float, length: float = 3) -> tuple[datetime, datetime]:
        start = self.clock.now() + timedelta(hours=hours_from_now)
        return start, start + timedelta(hours=length)

    def schedule(self, number: str, who: Actor | None = None, **body: object) -> object:
        start, end = self.window(4)
        values: dict[str, object] = {"window_start": start, "window_end": end}
        values.update(body)
        return scheduling.schedule(
            self.session,
            who or self.supplier.staff,
            number,
            ScheduleIn.model_validate(values),
            clock=self.clock,
        )

    def events(self, number: str) -> list[str]:
        stmt = (
            select(ReferralEvent.type)
            .where(ReferralEvent.referral_id == self.referral(number).id)
            .order_by(ReferralEvent.id)
        )
        return list(self.session.scalars(stmt))


@pytest.fixture
def path(session: Session, clock: FixedClock) -> Path:
    return Path(session, clock)


class TestEligibility:
    def test_active_coverage_without_prior_auth_goes_straight_to_the_offer(
        self, path: Path
    ) -> None:
        number = path.case()
        result = path.verify(number)
        assert result.status == "active" and result.authorization_required is False
        assert result.plan is not None and result.plan.code == "GOLD"
        assert path.referral(number).status is ReferralStatus.eligibility_verified
        assert "eligibility.verified" in path.events(number)
        path.accepted(number)
        assert path.referral(number).status is ReferralStatus.accepted

    def test_coverage_ending_before_start_is_a_finding_and_the_case_waits(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case(
            coverage={"terminates_on": date(2026, 11, 25)},
            requested_start=date(2026, 11, 27).isoformat(),
        )
        result = path.verify(number)
        assert result.status == "inactive"
        assert [f.code for f in result.findings] == ["coverage_ends_before_start"]
        referral = path.referral(number)
        assert referral.status is ReferralStatus.acknowledged
        assert any(f["code"] == "coverage_ends_before_start" for f in referral.findings)
        with pytest.raises(IllegalTransitionError):
            matching.offer_referral(path.session, path.manager, number, OfferCreate(), clock=clock)

    def test_unknown_member_is_not_found_and_another_org_cannot_verify(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case(coverage__member_id="ZZZ000111")
        assert path.verify(number).status == "not_found"
        with pytest.raises(ForbiddenError):
            eligibility.verify_eligibility(path.session, path.supplier.staff, number, clock=clock)


class TestPriorAuthorisation:
    def test_pended_then_partial_approval_then_offer(self, path: Path, clock: FixedClock) -> None:
        number = path.case(prior_auth="E1390 G0299", items=NURSE_AND_OXYGEN)
        assert path.verify(number).authorization_required is True
        with pytest.raises(IllegalTransitionError, match="prior authorisation first"):
            matching.offer_referral(path.session, path.manager, number, OfferCreate(), clock=clock)
        request = prior_auth.request_authorization(
            path.session, path.manager, number, AuthorizationRequestIn(), clock=clock
        )
        assert [(i.line, i.code, i.units_requested) for i in request.items] == [
            (1, "G0299", 8),
            (2, "E1390", 1),
        ]
        assert request.priority == "standard"
        assert request.decision_due_at == clock.now() + timedelta(days=7)
        assert path.referral(number).status is ReferralStatus.authorization_pending

        clock.advance(timedelta(days=2))
        pended = prior_auth.record_decision(
            path.session,
            path.reviewer,
            request.id,
            DecisionIn(outcome=Outcome.pended, missing_information="Oxygen saturation log"),
            clock=clock,
        )
        assert pended.status is AuthorizationStatus.pended
        clock.advance(timedelta(days=3))
        resumed = prior_auth.supply_information(
            path.session, path.manager, request.id, InformationIn(note="Faxed"), clock=clock
        )
        # Three days waiting on us do not count against the payer's seven.
        assert resumed.decision_due_at == request.decision_due_at + timedelta(days=3)

        partial = prior_auth.record_decision(
            path.session,
            path.reviewer,
            request.id,
            DecisionIn.model_validate(
                strict=False,
                obj={
                    "outcome": "partially_approved",
                    "authorization_number": "PA-77",
                    "valid_from": "2026-11-29",
                    "valid_to": "2027-02-26",
                    "items": [{"line": 1, "units_approved": 4}],
                },
            ),
            clock=clock,
        )
        assert partial.status is AuthorizationStatus.partially_approved
        assert [(i.units_approved, i.units_left) for i in partial.items] == [(4, 4), (1, 1)]
        assert path.referral(number).status is ReferralStatus.authorized
        expiry = path.session.scalars(
            select(ClockRow).where(ClockRow.kind == ClockKind.authorization_expiry)
        ).one()
        assert expiry.due_at.date() == date(2027, 2, 12)
        assert expiry.rule_source == "flag 14 days before the authorisation ends (payer rule)"
        offer = matching.offer_referral(
            path.session, path.manager, number, OfferCreate(), clock=clock
        )
        assert offer.status == "pending"

    def test_denied_needs_an_appeal_before_another_decision(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case(prior_auth="service_line:dme")
        path.verify(number)
        request = prior_auth.request_authorization(
            path.session, path.manager, number, AuthorizationRequestIn(), clock=clock
        )
        with pytest.raises(RuleViolationError) as incomplete:
            prior_auth.record_decision(
                path.session,
                path.reviewer,
                request.id,
                DecisionIn(outcome=Outcome.denied),
                clock=clock,
            )
        assert {e.field for e in incomplete.value.errors} == {
            "denial_reason",
            "peer_to_peer_contact",
        }
        denied = prior_auth.record_decision(
            path.session,
            path.reviewer,
            request.id,
            DecisionIn(
                outcome=Outcome.denied,
                denial_reason=DenialReason.not_medically_necessary,
                peer_to_peer_contact="Dr. Lee, 860-555-0199",
            ),
            clock=clock,
        )
        assert denied.denial is not None and denied.denial.carc == "50"
        assert denied.denial.appeal_due_at is not None
        local_due = denied.denial.appeal_due_at.astimezone(ZoneInfo("America/New_York"))
        assert (local_due.date(), local_due.hour) == (date(2026, 12, 24), 23)
        appeal_clock = path.session.scalars(
            select(ClockRow).where(ClockRow.kind == ClockKind.appeal_deadline)
        ).one()
        assert appeal_clock.rule_source.startswith(
            "first-level appeal: file within 30 calendar days"
        )
        assert path.referral(number).status is ReferralStatus.denied
        approve = DecisionIn.model_validate(
            strict=False,
            obj={
                "outcome": "approved",
                "authorization_number": "PA-1",
                "valid_from": "2026-11-24",
                "valid_to": "2027-01-31",
            },
        )
        with pytest.raises(AuthorizationStateError, match="only after an appeal") as refused:
            prior_auth.record_decision(
                path.session, path.reviewer, request.id, approve, clock=clock
            )
        assert refused.value.extra["allowed_actions"] == ["appeal"]
        appealed = appeals.open_appeal(
            path.session,
            path.manager,
            number,
            AppealCreate(authorization_id=request.id, rationale="SpO2 86 %"),
            clock=clock,
        )
        assert path.referral(number).status is ReferralStatus.authorization_pending
        with pytest.raises(AuthorizationStateError, match="appeal's level"):
            prior_auth.record_decision(
                path.session, path.reviewer, request.id, approve, clock=clock
            )
        overturned = appeals.record_outcome(
            path.session,
            path.reviewer,
            number,
            appealed.id,
            AppealOutcomeIn.model_validate(
                {
                    **approve.model_dump(mode="json", include={"valid_from", "valid_to"}),
                    "outcome": "overturned",
                    "authorization_number": "PA-1",
                },
                strict=False,
            ),
            clock=clock,
        )
        assert overturned.status == "overturned"
        assert (
            prior_auth.get_authorization(
                path.session, path.reviewer, request.id, clock=clock
            ).status
            is AuthorizationStatus.approved
        )
        assert path.referral(number).status is ReferralStatus.authorized

    def test_appeal_after_the_window_is_refused(self, path: Path, clock: FixedClock) -> None:
        number = path.case(prior_auth="E1390")
        path.verify(number)
        request = prior_auth.request_authorization(
            path.session, path.manager, number, AuthorizationRequestIn(), clock=clock
        )
        prior_auth.record_decision(
            path.session,
            path.reviewer,
            request.id,
            DecisionIn(
                outcome=Outcome.denied,
                denial_reason=DenialReason.missing_information,
                peer_to_peer_contact="Dr. Lee, 860-555-0199",
            ),
            clock=clock,
        )
        clock.advance(timedelta(days=31))
        with pytest.raises(AppealStateError, match="appeal window closed"):
            appeals.open_appeal(
                path.session, path.manager, number, AppealCreate(rationale="late"), clock=clock
            )


class TestSchedulingAndFulfilment:
    def test_schedule_before_acceptance_is_refused_with_the_allowed_moves(self, path: Path) -> None:
        number = path.case()
        path.verify(number)
        with pytest.raises(IllegalTransitionError) as refused:
            path.schedule(number, who=path.manager)
        assert "schedule" not in refused.value.extra["allowed_actions"]

    def test_window_after_the_deadline_needs_a_reason_and_escalates(self, path: Path) -> None:
        number = path.case()
        path.verify(number)
        path.accepted(number)
        due = path.referral(number).service_due_at
        late_start = due + timedelta(hours=1)
        with pytest.raises(RuleViolationError) as missing:
            path.schedule(
                number, window_start=late_start, window_end=late_start + timedelta(hours=2)
            )
        assert [e.field for e in missing.value.errors] == ["late_reason"]
        path.schedule(
            number,
            window_start=late_start,
            window_end=late_start + timedelta(hours=2),
            late_reason="Member away until Friday",
        )
        referral = path.referral(number)
        assert referral.status is ReferralStatus.scheduled
        assert referral.escalated
        assert referral.escalation_reason == (
            "scheduled after the service deadline: Member away until Friday"
        )

    def test_deliver_with_serials_on_time_confirms_and_feeds_the_track_record(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case(urgency="discharge", discharge_at=(clock.now() + timedelta(hours=30)))
        path.verify(number)
        path.accepted(number)
        booked = path.schedule(number)
        pdf = scheduling.confirmation_pdf(path.session, path.manager, number, clock=clock)
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        for expected in (
            number,
            "Dorothy Hale",
            "Charter Oak Home Medical",
            "Jane Ruiz, extension 4417",
            "E1390",
        ):
            assert expected in text
        assert len(PdfReader(io.BytesIO(pdf)).pages) == 1

        with pytest.raises(RuleViolationError) as no_serials:
            scheduling.record_outcome(
                path.session,
                path.supplier.staff,
                booked.id,
                OutcomeIn(outcome=Done.delivered, at=clock.now(), received_by="Daughter"),
                clock=clock,
            )
        assert [e.field for e in no_serials.value.errors] == ["serial_numbers"]
        clock.advance(timedelta(hours=5))
        done = scheduling.record_outcome(
            path.session,
            path.supplier.staff,
            booked.id,
            OutcomeIn(
                outcome=Done.delivered,
                at=clock.now() - timedelta(hours=1),
                received_by="Daughter",
                serial_numbers=["SN-1"],
            ),
            clock=clock,
        )
        assert done.status is AppointmentStatus.delivered and done.on_time is True
        outcome_clock = path.session.scalars(
            select(ClockRow).where(ClockRow.kind == ClockKind.appointment_outcome)
        ).one()
        assert outcome_clock.status is ClockStatus.met
        assert outcome_clock.rule_source == (
            "outcome due 2 hours after the scheduled window (project default)"
        )
        referral = path.referral(number)
        assert referral.status is ReferralStatus.fulfilled
        assert "service.started_on_time" in path.events(number)
        open_start = path.session.scalar(
            select(func.count())
            .select_from(ClockRow)
            .where(
                ClockRow.referral_id == referral.id,
                ClockRow.kind.in_([ClockKind.service_start, ClockKind.discharge]),
                ClockRow.status == ClockStatus.open,
            )
        )
        assert open_start == 0
        with pytest.raises(AppointmentStateError, match="delivered"):
            scheduling.record_outcome(
                path.session,
                path.supplier.staff,
                booked.id,
                OutcomeIn(outcome=Done.missed, reason=MissedReason.weather),
                clock=clock,
            )

    def test_missed_reopens_scheduling_and_counts_against_on_time(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case()
        path.verify(number)
        path.accepted(number)
        booked = path.schedule(number)
        scheduling.record_outcome(
            path.session,
            path.supplier.staff,
            booked.id,
            OutcomeIn(outcome=Done.missed, reason=MissedReason.member_not_home),
            clock=clock,
        )
        assert path.referral(number).status is ReferralStatus.missed
        again = path.schedule(number)
        assert again.id == booked.id and again.status is AppointmentStatus.scheduled
        candidates = matching.find_candidates(path.session, path.manager, path.case(), clock=clock)
        (ranked,) = [c for c in candidates.ranked if c.provider_id == path.supplier.id]
        assert "on-time 0 % over 90 days" in ranked.reasons

    def test_recurring_dressings_book_the_next_delivery_and_count_units(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case(prior_auth="A6212", items=DRESSINGS)
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
                authorization_number="PA-9",
                valid_from=date(2026, 11, 24),
                valid_to=date(2027, 5, 24),
                items=[ItemDecisionIn(line=1, units_approved=10)],
            ),
            clock=clock,
        )
        path.accepted(number)
        first = path.schedule(number)
        scheduling.record_outcome(
            path.session,
            path.supplier.staff,
            first.id,
            OutcomeIn(outcome=Done.delivered, at=clock.now(), received_by="Member"),
            clock=clock,
        )
        listing = scheduling.list_appointments(path.session, path.manager, number, clock=clock)
        assert [a.provider_name for a in listing.items] == ["Charter Oak Home Medical"] * 2
        nxt = listing.items[-1]
        assert (nxt.sequence, nxt.status, nxt.due_on) == (
            2,
            AppointmentStatus.due,
            date(2026, 12, 1),
        )
        with pytest.raises(AppointmentStateError, match="Schedule it first") as early:
            scheduling.record_outcome(
                path.session,
                path.supplier.staff,
                nxt.id,
                OutcomeIn(outcome=Done.delivered, at=clock.now(), received_by="Member"),
                clock=clock,
            )
        assert early.value.extra["allowed_actions"] == ["schedule"]
        approval = prior_auth.list_authorizations(path.session, path.manager, number, clock=clock)
        (auth,) = approval.items
        assert auth.items[0].units_used == 10
        assert auth.flags == ["units_exhausted"]
        assert "authorization.units_low" in path.events(number)

    def test_another_provider_cannot_see_or_schedule_the_case(
        self, path: Path, clock: FixedClock
    ) -> None:
        number = path.case()
        path.verify(number)
        path.accepted(number)
        other = make_provider(path.session, clock=clock, admin=path.admin, name="Elm Street DME")
        with pytest.raises(ReferralNotFoundError):
            path.schedule(number, who=other.staff)


def test_worker_fires_the_new_clocks_once(committed_database: Database, clock: FixedClock) -> None:
    with committed_database.unit_of_work() as session:
        path = Path(session, clock)
        number = path.case(prior_auth="E1390")
        path.verify(number)
        prior_auth.request_authorization(
            session,
            path.manager,
            number,
            AuthorizationRequestIn(priority=Priority.expedited),
            clock=clock,
        )
    clock.advance(timedelta(hours=73))
    fired = worker.run_until_idle(committed_database, clock=clock)
    again = worker.run_until_idle(committed_database, clock=clock)
    assert fired["authorization_decision"] == 1
    assert again["authorization_decision"] == 0
    with committed_database.unit_of_work() as session:
        referral = session.scalars(select(Referral).where(Referral.case_number == number)).one()
        assert referral.escalated
        assert referral.escalation_reason == "prior-authorisation decision overdue"
        breached = session.scalars(
            select(ClockRow.status).where(ClockRow.kind == ClockKind.authorization_decision)
        ).one()
        assert breached is ClockStatus.breached
        escalations = session.scalars(
            select(ReferralEvent.data).where(
                ReferralEvent.referral_id == referral.id,
                ReferralEvent.type == "referral.escalated",
            )
        ).all()
        reasons = [e["reason"] for e in escalations]
        assert reasons.count("prior-authorisation decision overdue") == 1
        messages = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.referral_id == referral.id,
                OutboxMessage.template == "referral.escalated",
            )
        )
        assert messages == len(escalations)
