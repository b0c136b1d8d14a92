"""A claim is prepared by the worker for each delivery or visit done: lines from what was
ordered and authorised, priced from the payer's fee schedule, exactly one per delivery
however often the worker runs; a refused claim stores nothing but a work item saying
what to fix (both databases, committed transactions as the worker sees them)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.claim import delivery
from careloop.claim.models import Claim, ClaimLine
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.referral.models import ReferralEvent
from careloop.referral.schemas import CloseIn
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus
from careloop.workqueue.models import WorkItem
from tests.integration.auto_claim_path import delivered
from tests.integration.care_path.test_care_path import DRESSINGS, OXYGEN, Path


def _claims(session: Session) -> list[Claim]:
    return list(session.scalars(select(Claim).order_by(Claim.id)))


def test_a_delivery_gets_exactly_one_claim_however_often_the_worker_runs(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        path = Path(session, clock)
        number = delivered(path, OXYGEN, "E1390", 1)
        assert _claims(session) == []  # the worker prepares it, not the delivery
    fired = worker.run_until_idle(committed_database, clock=clock)
    again = worker.run_until_idle(committed_database, clock=clock)
    assert fired["claim_preparation"] == 1 and again["claim_preparation"] == 0
    with committed_database.unit_of_work() as session:
        (claim,) = _claims(session)
        appointment = session.get(Appointment, claim.appointment_id)
        assert appointment is not None and appointment.status is AppointmentStatus.delivered
        assert claim.claim_number == f"{number}-1"
        assert claim.authorization_number == "PA-31"
        assert (claim.charge_cents, claim.status) == (17317, "prepared")
        line = session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim.id)).one()
        assert (line.code, line.modifiers, line.units) == ("E1390", ["RR"], 1)
        assert line.service_date == clock.now().date()
        assert "CLM*" + claim.claim_number in claim.x12 and "REF*G1*PA-31~" in claim.x12
        # The same delivery billed again (a second worker, a replayed clock): nothing new.
        assert delivery.bill_appointment(session, appointment.id, clock=clock) is None
        events = session.scalars(
            select(ReferralEvent.type).where(ReferralEvent.type == "claim.prepared")
        ).all()
        assert len(events) == 1
    with committed_database.unit_of_work() as session:
        assert len(_claims(session)) == 1


def test_a_refused_claim_stores_nothing_but_a_work_item_saying_what_to_fix(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        # A6212 (foam dressing) is on no default fee schedule and this contract names none.
        path = Path(session, clock)
        number = delivered(path, DRESSINGS, "A6212", 10)
    worker.run_until_idle(committed_database, clock=clock)
    with committed_database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Claim)) == 0
        assert session.scalar(select(func.count()).select_from(ClaimLine)) == 0
        item = session.scalars(select(WorkItem).where(WorkItem.kind == "claim_refused")).one()
        assert item.closed_at is None and item.team == "case_management"
        assert item.title == (
            f"Claim for the delivery on case {number} was not prepared: A6212 has no price "
            "on the fee schedule. Fix this, then prepare the claim from the case."
        )


def test_the_payers_fee_schedule_prices_a_delivered_supply(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        path = Path(session, clock, payer_rules={"claims": {"fee_schedule": {"A6212": "2.15"}}})
        delivered(path, DRESSINGS, "A6212", 10)
    worker.run_until_idle(committed_database, clock=clock)
    with committed_database.unit_of_work() as session:
        (claim,) = _claims(session)
        assert Decimal(claim.charge_cents) / 100 == Decimal("21.50")
        line = session.scalars(select(ClaimLine)).one()
        assert (line.code, line.modifiers, line.units) == ("A6212", [], 10)
        assert session.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.kind == "claim_refused")) == 0  # fmt: skip


def test_a_case_closed_before_the_worker_runs_still_gets_its_claim(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        path = Path(session, clock)
        number = delivered(path, OXYGEN, "E1390", 1)
        referral_service.close_referral(
            session, path.manager, number, CloseIn(note="Set up; member trained"), clock=clock
        )
    worker.run_until_idle(committed_database, clock=clock)
    with committed_database.unit_of_work() as session:
        (claim,) = _claims(session)
        assert claim.claim_number == f"{number}-1"
