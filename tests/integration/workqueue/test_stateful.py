"""No case that needs a person ever leaves the queue: random sequences of intake (some
with gaps), moves through the public services, discharges reported, worker passes and
clock jumps. After every step, every open case has at least one open work item, closed
and cancelled cases have none, the counts kept per team and level are the open items and
each open item carries its case's discharge flag; a worker pass breaches every past-due
item and closes no work of a case whose status it did not move (a breached item stays
open)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, exists, func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.eligibility import service as eligibility_service
from careloop.matching import service as matching_service
from careloop.matching.models import DeclineReason
from careloop.matching.schemas import DeclineIn, OfferCreate
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import Outcome as Decision
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.enums import OPEN_STATUSES, ReferralStatus
from careloop.referral.models import Referral
from careloop.referral.schemas import AcknowledgeIn, CancelIn, CloseIn, ReferralClarify
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.rules import Outcome
from careloop.scheduling.schemas import OutcomeIn, ScheduleIn
from careloop.workqueue import rules
from careloop.workqueue.models import WorkItem, WorkItemCount
from tests.factories.coverage import make_coverage
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_draft

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]
# Names in several scripts: Latin, Chinese, Cyrillic, Arabic, Greek.
NAMES = st.text(
    alphabet=st.sampled_from("abcdefgÉéñ王李张Жёжщ محمدΑλέξ"), min_size=1, max_size=12
).filter(lambda s: s.strip() != "")
JUMPS = st.sampled_from(
    [timedelta(minutes=30), timedelta(hours=5), timedelta(days=1), timedelta(days=4)]
)


class Cast:
    def __init__(self, session: Session, clock: FixedClock) -> None:
        make_payer(session, clock=clock)
        make_coverage(session, clock=clock)
        self.intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
        self.manager, _ = make_user(session, clock=clock, role=Role.case_manager)
        self.reviewer, _ = make_user(session, clock=clock, role=Role.clinical_reviewer)
        admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        provider = make_provider(session, clock=clock, admin=admin, name="Acme Home Medical")
        self.provider_id = provider.id
        self.provider, _ = make_user(
            session, clock=clock, role=Role.provider_staff, organization="Acme Home Medical"
        )


class QueueMachine(RuleBasedStateMachine):
    """Cases are case numbers; the machine remembers each one's offer and appointment."""

    database: Database
    connection: Connection
    clock: FixedClock
    cast: Cast

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = self.connection.begin_nested()
        self.cases: list[str] = []
        self.offers: dict[str, int] = {}
        self.appointments: dict[str, int] = {}
        self.authorizations: dict[str, int] = {}
        self.serial = 0

    def teardown(self) -> None:
        self.savepoint.rollback()

    def _do(self, step: Any) -> Any:
        """One step in its own transaction; a move the case's status refuses is fine."""
        try:
            with self.database.unit_of_work() as session:
                return step(session)
        except DomainError:
            return None

    # ---- intake and the case's moves ---------------------------------------------------

    @rule(name=NAMES, gap=st.booleans(), discharge=st.booleans())
    def intake(self, name: str, gap: bool, discharge: bool) -> None:
        self.serial += 1
        overrides: dict[str, Any] = {
            "items": OXYGEN,
            "member__first_name": name,
            "external_id": f"ST-{self.serial}",
        }
        if gap:
            overrides["diagnoses"] = []
        if discharge:
            overrides["urgency"] = "discharge"
            overrides["discharge_at"] = (self.clock.now() + timedelta(hours=30)).isoformat()
        draft = referral_draft(self.clock.now(), **overrides)
        read = self._do(
            lambda s: referral_service.submit_referral(s, self.cast.intake, draft, clock=self.clock)
        )
        assert read is not None
        self.cases.append(read.case_number)

    def _case(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.cases))

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        case = self._case(data)
        self._do(
            lambda s: referral_service.acknowledge_referral(
                s, self.cast.manager, case, AcknowledgeIn(), clock=self.clock
            )
        )

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def clarify(self, data: st.DataObject) -> None:
        case = self._case(data)
        body = ReferralClarify.model_validate(
            {"diagnoses": [{"code": "J44.1"}], "note": "Diagnosis from the hospital"}
        )
        self._do(
            lambda s: referral_service.supply_information(
                s, self.cast.manager, case, body, clock=self.clock
            )
        )

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def verify(self, data: st.DataObject) -> None:
        case = self._case(data)
        self._do(
            lambda s: eligibility_service.verify_eligibility(
                s, self.cast.manager, case, clock=self.clock
            )
        )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), approve=st.booleans())
    def authorise(self, data: st.DataObject, approve: bool) -> None:
        case = self._case(data)

        def step(s: Session) -> None:
            request = prior_auth_service.request_authorization(
                s, self.cast.manager, case, AuthorizationRequestIn(), clock=self.clock
            )
            today = self.clock.now().date()
            body = (
                DecisionIn(
                    outcome=Decision.approved,
                    authorization_number=f"PA-{request.id}",
                    valid_from=today,
                    valid_to=today + timedelta(days=90),
                )
                if approve
                else DecisionIn.model_validate(
                    {"outcome": "denied", "denial_reason": "not_medically_necessary"}
                )
            )
            prior_auth_service.record_decision(
                s, self.cast.reviewer, request.id, body, clock=self.clock
            )

        self._do(step)

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def offer(self, data: st.DataObject) -> None:
        case = self._case(data)
        read = self._do(
            lambda s: matching_service.offer_referral(
                s,
                self.cast.manager,
                case,
                OfferCreate(provider_id=self.cast.provider_id),
                clock=self.clock,
            )
        )
        if read is not None and hasattr(read, "id"):
            self.offers[case] = read.id

    @precondition(lambda self: self.offers)
    @rule(data=st.data(), accept=st.booleans())
    def answer(self, data: st.DataObject, accept: bool) -> None:
        case = data.draw(st.sampled_from(sorted(self.offers)))
        offer_id = self.offers[case]
        provider: Actor = self.cast.provider
        if accept:
            self._do(
                lambda s: matching_service.accept_offer(s, provider, offer_id, clock=self.clock)
            )
        else:
            body = DeclineIn(reason=DeclineReason.no_capacity)
            self._do(
                lambda s: matching_service.decline_offer(
                    s, provider, offer_id, body, clock=self.clock
                )
            )

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def schedule(self, data: st.DataObject) -> None:
        case = self._case(data)
        start = self.clock.now() + timedelta(hours=20)
        body = ScheduleIn(window_start=start, window_end=start + timedelta(hours=3))
        read = self._do(
            lambda s: scheduling_service.schedule(
                s, self.cast.manager, case, body, clock=self.clock
            )
        )
        if read is not None:
            self.appointments[case] = read.id

    @precondition(lambda self: self.appointments)
    @rule(data=st.data(), outcome=st.sampled_from([Outcome.delivered, Outcome.missed]))
    def outcome(self, data: st.DataObject, outcome: Outcome) -> None:
        case = data.draw(st.sampled_from(sorted(self.appointments)))
        appointment_id = self.appointments[case]
        fields: dict[str, Any] = {"outcome": outcome.value}
        if outcome is Outcome.missed:
            fields["reason"] = "member_not_home"
        else:
            fields["received_by"] = "Member"
        body = OutcomeIn.model_validate(fields)
        self._do(
            lambda s: scheduling_service.record_outcome(
                s, self.cast.manager, appointment_id, body, clock=self.clock
            )
        )

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), hours=st.sampled_from([6, 30]))
    def discharge_reported(self, data: st.DataObject, hours: int) -> None:
        case = self._case(data)

        def step(s: Session) -> None:
            referral = s.scalars(select(Referral).where(Referral.case_number == case)).one()
            moves.report_discharge(
                s,
                self.cast.manager,
                referral,
                self.clock.now() + timedelta(hours=hours),
                clock=self.clock,
                expected=True,
            )

        self._do(step)

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        case = self._case(data)
        self._do(
            lambda s: referral_service.close_referral(
                s, self.cast.manager, case, CloseIn(), clock=self.clock
            )
        )

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        case = self._case(data)
        self._do(
            lambda s: referral_service.cancel_referral(
                s, self.cast.manager, case, CancelIn(reason="Member moved"), clock=self.clock
            )
        )

    # ---- time and the worker -------------------------------------------------------------

    @rule(jump=JUMPS)
    def worker_pass(self, jump: timedelta) -> None:
        self.clock.advance(jump)
        before = self._open_by_case()
        worker.run_until_idle(self.database, clock=self.clock)
        after = self._open_by_case()
        with self.database.unit_of_work() as session:
            unraised = session.scalars(
                select(WorkItem.subject).where(
                    WorkItem.closed_at.is_(None),
                    WorkItem.due_at <= self.clock.now(),
                    WorkItem.breached_at.is_(None),
                )
            ).all()
        assert unraised == [], unraised  # past due: breached and on the supervisor's queue
        for referral_id, (status, items) in before.items():
            now_status, now_items = after.get(referral_id, (status, set()))
            if now_status == status:
                assert items <= now_items, (status, items - now_items)

    def _open_by_case(self) -> dict[int, tuple[str, set[int]]]:
        with self.database.unit_of_work() as session:
            rows = session.execute(
                select(Referral.id, Referral.status, WorkItem.id).join(
                    WorkItem, (WorkItem.referral_id == Referral.id) & WorkItem.closed_at.is_(None)
                )
            )
            out: dict[int, tuple[str, set[int]]] = {}
            for referral_id, status, item_id in rows:
                out.setdefault(referral_id, (str(status), set()))[1].add(item_id)
            return out

    # ---- what must hold ------------------------------------------------------------------

    @invariant()
    def open_cases_have_work_and_ended_cases_none(self) -> None:
        with self.database.unit_of_work() as session:
            has_work = exists().where(
                WorkItem.referral_id == Referral.id, WorkItem.closed_at.is_(None)
            )
            orphaned = session.scalars(
                select(Referral.case_number).where(
                    Referral.status.in_(list(OPEN_STATUSES)), ~has_work
                )
            ).all()
            assert orphaned == [], orphaned
            ended = session.scalars(
                select(Referral.case_number).where(
                    Referral.status.in_([ReferralStatus.closed, ReferralStatus.cancelled]),
                    has_work,
                )
            ).all()
            assert ended == [], ended

    @invariant()
    def open_items_carry_their_cases_discharge_flag(self) -> None:
        """The queue's order among equal due times reads the item's copy of its case's
        discharge flag (``WorkItem.discharge_last``): it is the case's."""
        with self.database.unit_of_work() as session:
            rows = session.execute(
                select(
                    WorkItem.id, WorkItem.discharge_last, Referral.urgency, Referral.discharge_at
                )
                .join(Referral, Referral.id == WorkItem.referral_id)
                .where(WorkItem.closed_at.is_(None))
            ).all()
            wrong = [i for i, last, u, at in rows if last != rules.discharge_last(u, at)]
            assert wrong == [], wrong

    @invariant()
    def kept_counts_are_the_open_items(self) -> None:
        """The header's figures kept per team and level (``work_item_counts``) are the
        open items, however they opened, moved, climbed and closed."""
        with self.database.unit_of_work() as session:
            kept = {
                (team, level): int(n)
                for team, level, n in session.execute(
                    select(
                        WorkItemCount.team, WorkItemCount.level, func.sum(WorkItemCount.open_items)
                    ).group_by(WorkItemCount.team, WorkItemCount.level)
                )
                if n
            }
            actual = {
                (team, level): int(n)
                for team, level, n in session.execute(
                    select(WorkItem.team, WorkItem.level, func.count())
                    .where(WorkItem.closed_at.is_(None))
                    .group_by(WorkItem.team, WorkItem.level)
                )
            }
            assert kept == actual


@pytest.mark.slow
def test_no_case_that_needs_a_person_leaves_the_queue(
    database: Database, connection: Connection, clock: FixedClock
) -> None:
    with database.unit_of_work() as session:
        cast = Cast(session, clock)
    QueueMachine.database = database
    QueueMachine.connection = connection
    QueueMachine.clock = clock
    QueueMachine.cast = cast
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
