"""A claim prepared for a delivered service, and an 835 posted to it: exact money, a
denial opening a work item, a malformed file posting nothing (both databases)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.claim import rules, service, tasks, x835
from careloop.claim.models import Claim, ClaimPosting, Remittance
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.session import CONFIG_KEY
from careloop.referral import service as referral_service
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import CancelIn
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus
from careloop.settings import Settings
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from careloop.workqueue.models import WorkItem
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


def _delivered_case(
    session: Session, clock: FixedClock, *, payer: bool = True
) -> tuple[Actor, int]:
    if payer:
        make_payer(
            session,
            clock=clock,
            rules={"claims": {"billed_by": "coordinator", "filing_days": 120}},
        )
    user, _ = make_user(session, clock=clock, role=Role.intake_agent, email="intake@hub.test")
    number = referral_service.submit_referral(
        session, user, referral_draft(clock.now()), clock=clock
    ).case_number
    referral_id = session.scalars(select(Referral.id).where(Referral.case_number == number)).one()
    session.add(
        Appointment(
            referral_id=referral_id,
            sequence=1,
            kind=next(iter(AppointmentKind)),
            status=AppointmentStatus.delivered,
            outcome_at=clock.now(),
            serial_numbers=[],
            units=[],
        )
    )
    session.flush()
    return user, referral_id


def _remittance(claim_number: str, *, denied: bool) -> str:
    payment = (
        x835.ClaimPayment(
            claim_number, "4", Decimal("180.83"), Decimal("0"), Decimal("0"), "PCN9",
            (x835.Adjustment("CO", "197", Decimal("180.83")),), ("N54",),
        )
        if denied
        else x835.ClaimPayment(
            claim_number, "1", Decimal("180.83"), Decimal("170.10"), Decimal("0"), "PCN9",
            (x835.Adjustment("CO", "45", Decimal("10.73")),), (),
        )
    )  # fmt: skip
    remittance = x835.Remittance(
        "77", "NEHP", "NEW ENGLAND HEALTH PLAN", "EFT77", payment.paid, date(2026, 6, 1),
        (payment,),
    )  # fmt: skip
    return x835.write(
        remittance, receiver_id="CARELOOP", payee_name="CARELOOP", payee_npi="1234567893",
        created=datetime(2026, 6, 1, 8),
    )  # fmt: skip


LINES = [
    rules.Line("A4253", 3, date(2026, 3, 3), (), (1,)),
    rules.Line("E0260", 1, date(2026, 3, 3), ("RR",), (1, 2)),
]


def test_a_claim_is_prepared_and_a_denial_on_its_835_opens_a_work_item(
    session: Session, clock: FixedClock
) -> None:
    user, referral_id = _delivered_case(session, clock)
    prepared = service.prepare(session, user, referral_id, LINES, clock=clock)
    assert prepared.charge == Decimal("180.83")
    claim = session.get(Claim, prepared.claim_id)
    assert claim is not None and claim.charge_cents == 18083
    filing = session.scalars(
        select(ClockRow).where(
            ClockRow.kind == ClockKind.timely_filing, ClockRow.subject_id == claim.id
        )
    ).one()
    assert filing.status is ClockStatus.open
    assert "120 days" in filing.rule_source

    broken = _remittance(prepared.claim_number, denied=True).replace("BPR*H*0", "BPR*H*ABC")
    with pytest.raises(x835.RemittanceRefusedError, match="BPR"):
        service.import_835(session, user, broken, clock=clock)
    assert session.scalar(select(func.count()).select_from(Remittance)) == 0
    assert session.scalar(select(func.count()).select_from(ClaimPosting)) == 0

    posted = service.import_835(
        session,
        user,
        _remittance(prepared.claim_number, denied=True),
        clock=clock,
    )
    assert (posted.claims_posted, posted.denials, posted.unmatched) == (1, 1, ())
    assert posted.variance == Decimal("-180.83")
    item = session.scalars(
        select(WorkItem).where(WorkItem.subject == f"claim:{claim.id}:denied")
    ).one()
    assert item.closed_at is None
    assert "CO-197" in item.title and "appeal" in item.title
    assert claim.status == "denied"
    session.refresh(filing)
    assert filing.status is ClockStatus.met


def test_a_partial_payment_is_reconciled_to_the_cent(session: Session, clock: FixedClock) -> None:
    user, referral_id = _delivered_case(session, clock)
    prepared = service.prepare(session, user, referral_id, LINES, clock=clock)
    posted = service.import_835(
        session,
        user,
        _remittance(prepared.claim_number, denied=False),
        clock=clock,
    )
    assert posted.variance == Decimal("-10.73")
    claim = session.get(Claim, prepared.claim_id)
    assert claim is not None and (claim.paid_cents, claim.status) == (17010, "partly_paid")
    posting = session.scalars(select(ClaimPosting)).one()
    assert posting.adjustments == [{"group": "CO", "reason": "45", "cents": 1073}]


def test_the_filing_clock_asks_for_a_person_at_75_percent_escalates_then_records_the_miss(
    session: Session, clock: FixedClock
) -> None:
    user, referral_id = _delivered_case(session, clock)
    day = clock.now().date()
    lines = [rules.Line("A4253", 3, day, (), (1,))]
    claim = session.get(
        Claim, service.prepare(session, user, referral_id, lines, clock=clock).claim_id
    )
    assert claim is not None

    def open_clock() -> ClockRow:
        return session.scalars(
            select(ClockRow).where(
                ClockRow.subject_id == claim.id, ClockRow.status == ClockStatus.open
            )
        ).one()

    first = open_clock()
    clock.set(first.due_at)
    assert first.due_at.date() == day + timedelta(days=90)  # 75 % of 120 days
    assert tasks.on_filing_due(session, first, clock) is ClockStatus.met
    first.status = ClockStatus.met  # what the worker records
    session.flush()
    item = session.scalars(
        select(WorkItem).where(WorkItem.subject == f"claim:{claim.id}:filing")
    ).one()
    assert "filing window" in item.title
    second = open_clock()
    assert second.due_at == claim.filing_escalates_at
    clock.set(second.due_at)
    assert tasks.on_filing_due(session, second, clock) is ClockStatus.met
    second.status = ClockStatus.met
    session.flush()
    assert session.get(Referral, referral_id).escalated  # type: ignore[union-attr]
    # Still not filed when the window closes: the miss is on the timeline.
    third = open_clock()
    assert third.due_at == claim.filing_closes_at
    clock.set(third.due_at)
    assert tasks.on_filing_due(session, third, clock) is ClockStatus.breached
    missed = session.scalars(
        select(ReferralEvent).where(ReferralEvent.type == "claim.filing_window_missed")
    ).one()
    assert missed.data["claim_number"] == claim.claim_number


def test_a_claim_the_payer_accepted_was_filed_in_time(session: Session, clock: FixedClock) -> None:
    user, referral_id = _delivered_case(session, clock)
    lines = [rules.Line("A4253", 3, clock.now().date(), (), (1,))]
    claim = session.get(
        Claim, service.prepare(session, user, referral_id, lines, clock=clock).claim_id
    )
    assert claim is not None
    claim.status = "accepted"  # the payer's 999 took it
    session.flush()
    (due,) = session.scalars(
        select(ClockRow).where(ClockRow.subject_id == claim.id, ClockRow.status == ClockStatus.open)
    ).all()
    clock.set(claim.filing_closes_at)
    assert tasks.on_filing_due(session, due, clock) is ClockStatus.met
    assert not session.scalars(
        select(ReferralEvent).where(ReferralEvent.type == "claim.filing_window_missed")
    ).all()


def test_the_payers_fee_schedule_prices_the_claim_and_the_settings_name_the_coordinator(
    session: Session, clock: FixedClock
) -> None:
    contract = {
        "billed_by": "coordinator",
        "filing_days": 60,
        "fee_schedule": {"A4253": "1.10", "E0260-RR": "200"},
    }
    make_payer(session, clock=clock, rules={"claims": contract})
    user, referral_id = _delivered_case(session, clock, payer=False)
    session.info[CONFIG_KEY] = {
        "coordinator_billing": {**Settings().coordinator_billing(), "name": "Harbor Care",
                                "npi": "1245319599", "tax_id": "987654321"}
    }  # fmt: skip
    prepared = service.prepare(session, user, referral_id, LINES, clock=clock)
    assert prepared.charge == Decimal("203.30")  # 3 x 1.10 + 1 x 200.00
    assert "NM1*85*2*HARBOR CARE*****XX*1245319599~" in prepared.x12
    assert "REF*EI*987654321~" in prepared.x12
    filing = session.scalars(select(ClockRow).where(ClockRow.kind == ClockKind.timely_filing)).one()
    assert "60 days" in filing.rule_source


def test_a_payer_contract_that_breaks_a_rule_stores_no_claim(
    session: Session, clock: FixedClock
) -> None:
    make_payer(session, clock=clock, rules={"claims": {"fee_schedule": {"A4253": 0.81}}})
    user, referral_id = _delivered_case(session, clock, payer=False)
    with pytest.raises(rules.ClaimContractError) as caught:
        service.prepare(session, user, referral_id, LINES, clock=clock)
    assert caught.value.field == "rules.claims.fee_schedule.A4253"
    assert session.scalar(select(func.count()).select_from(Claim)) == 0


def test_cancelling_the_case_leaves_the_claims_filing_window_running(
    session: Session, clock: FixedClock
) -> None:
    """The money comes after the case: its other deadlines end with it, a claim's filing
    window runs until the payer holds the claim."""
    user, referral_id = _delivered_case(session, clock)
    lines = [rules.Line("A4253", 3, clock.now().date(), (), (1,))]
    claim_id = service.prepare(session, user, referral_id, lines, clock=clock).claim_id
    number = session.get(Referral, referral_id).case_number  # type: ignore[union-attr]
    referral_service.cancel_referral(
        session, user, number, CancelIn(reason="The member moved out of state."), clock=clock
    )
    still = session.scalars(
        select(ClockRow).where(
            ClockRow.referral_id == referral_id, ClockRow.status == ClockStatus.open
        )
    ).all()
    assert [(c.kind, c.subject_id) for c in still] == [(ClockKind.timely_filing, claim_id)]
