"""Claims and complaints in the figures and the denial audit, through the domains that
record them (both databases): a claim sent after its filing window is missed on the
worker's pass and counted in the pack; a claim denied on an 835 and paid later, and an
authorisation denied, fill the denial audit's money at stake to the cent; a founded
complaint about the provider counts on the scorecard."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.claim import rules as claim_rules
from careloop.claim import service as claim_service
from careloop.claim import tasks as claim_tasks
from careloop.claim import x835
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.grievance import service as grievance_service
from careloop.grievance.rules import Party, Resolution, Subject
from careloop.grievance.schemas import GrievanceCreate, ResolveGrievanceIn
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.report import reconciliation
from careloop.report import service as report_service
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"


def _case(session: Session, clock: FixedClock, staff: Actor, external_id: str) -> Referral:
    number = referral_service.submit_referral(
        session, staff, referral_draft(clock.now(), external_id=external_id), clock=clock
    ).case_number
    return session.scalars(select(Referral).where(Referral.case_number == number)).one()


def _delivered(session: Session, clock: FixedClock, referral: Referral) -> None:
    session.add(
        Appointment(
            referral_id=referral.id,
            sequence=1,
            kind=next(iter(AppointmentKind)),
            status=AppointmentStatus.delivered,
            outcome_at=clock.now(),
            serial_numbers=[],
            units=[],
        )
    )
    session.flush()


def _835(control: str, payment: x835.ClaimPayment) -> str:
    remittance = x835.Remittance(
        control, "NEHP", "NEW ENGLAND HEALTH PLAN", f"EFT{control}", payment.paid,
        date(2026, 6, 1), (payment,),
    )  # fmt: skip
    return x835.write(
        remittance, receiver_id="CARELOOP", payee_name="CARELOOP", payee_npi="1234567893",
        created=datetime(2026, 6, 1, 8),
    )  # fmt: skip


def _world(session: Session, clock: FixedClock) -> tuple[Actor, Actor]:
    make_payer(
        session, clock=clock, rules={"claims": {"billed_by": "coordinator", "filing_days": 120}}
    )
    staff, _ = make_user(session, clock=clock, role=Role.case_manager, email="cm@hub.test")
    admin, _ = make_user(session, clock=clock, role=Role.admin, email="admin@hub.test")
    return staff, admin


def test_a_claim_sent_after_its_window_and_a_founded_complaint_count_in_the_pack(
    session: Session, clock: FixedClock
) -> None:
    staff, admin = _world(session, clock)
    provider = make_provider(session, clock=clock, admin=admin, name="Valley Home Medical")
    referral = _case(session, clock, staff, "LATE-1")
    moves.event(
        session, staff, referral, "offer.accepted", now=clock.now(), provider_id=provider.id
    )
    _delivered(session, clock, referral)
    long_ago = clock.now().date() - timedelta(days=200)  # the 120-day window has closed
    late = claim_service.prepare(
        session, staff, referral.id, [claim_rules.Line("A4253", 3, long_ago)], clock=clock
    )
    on_time = claim_service.prepare(
        session, staff, referral.id, [claim_rules.Line("A4253", 1, clock.now().date())], clock=clock
    )
    assert late.claim_number != on_time.claim_number
    # The worker's pass: the late claim's clock is due at once and breaches.
    due = session.scalars(
        select(ClockRow).where(
            ClockRow.subject_id == late.claim_id, ClockRow.status == ClockStatus.open
        )
    ).one()
    assert due.due_at <= clock.now()
    assert claim_tasks.on_filing_due(session, due, clock) is ClockStatus.breached

    opened = grievance_service.open_grievance(
        session,
        staff,
        referral.case_number,
        GrievanceCreate(
            subject=Subject.provider_quality,
            details="The driver left the concentrator at the door.",
            provider_id=provider.id,
            raised_by=Party.member,
            raised_by_name="Dorothy Hale",
        ),
        clock=clock,
    )
    grievance_service.resolve(
        session,
        staff,
        opened.id,
        ResolveGrievanceIn(resolution=Resolution.substantiated, note="Driver retrained."),
        clock=clock,
    )
    session.flush()
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    today = clock.now().date()
    pack = report_service.kpi_pack(
        session,
        staff,
        grain="month",
        start=today,
        end=today,
        dimension="provider",
        clock=clock,
        zone=ZONE,
        with_contacts=False,
    )
    (row,) = pack.rows
    assert row.label == "Valley Home Medical"
    c = row.counters
    assert (c.claims, c.filing_missed) == (2, 1)
    assert (c.grievances, c.grievances_substantiated) == (1, 1)
    csv_text = report_service.pack_csv(pack)
    assert "Claims that missed their filing window (share of claims)" in csv_text
    assert "Complaints about the provider's care found justified" in csv_text
    assert "Time to service start (hours, 90th percentile)" in csv_text


def test_the_denial_audit_puts_money_at_stake_on_claim_and_authorisation_denials(
    session: Session, clock: FixedClock
) -> None:
    staff, _ = _world(session, clock)
    billed = _case(session, clock, staff, "DENY-1")
    _delivered(session, clock, billed)
    lines = [
        claim_rules.Line("A4253", 3, clock.now().date()),
        claim_rules.Line("E0260", 1, clock.now().date(), ("RR",), (1, 2)),
    ]
    claim = claim_service.prepare(session, staff, billed.id, lines, clock=clock)
    assert claim.charge == Decimal("180.83")
    denial = x835.ClaimPayment(
        claim.claim_number, "4", Decimal("180.83"), Decimal("0"), Decimal("0"), "PCN1",
        (x835.Adjustment("CO", "197", Decimal("180.83")),), ("N54",),
    )  # fmt: skip
    claim_service.import_835(session, staff, _835("101", denial), clock=clock)
    clock.advance(timedelta(days=3))
    paid = x835.ClaimPayment(
        claim.claim_number, "1", Decimal("180.83"), Decimal("100.50"), Decimal("0"), "PCN1",
        (x835.Adjustment("CO", "45", Decimal("80.33")),), (),
    )  # fmt: skip
    claim_service.import_835(session, staff, _835("102", paid), clock=clock)

    # An authorisation denied: the items are G0299 x 8 and E1390 rented, on the defaults
    # of the fee schedule 8 x $118.64 + $173.17.
    denied = _case(session, clock, staff, "DENY-2")
    moves.event(
        session,
        staff,
        denied,
        "authorization.denied",
        now=clock.now(),
        authorization_id=1,
        reason="not_medically_necessary",
        to="denied",
    )
    session.flush()
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    first = clock.now().date().replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    made = reconciliation.make_report(
        session, staff, "denial-audit", start=first, end=after, clock=clock, zone=ZONE
    )
    sections = {s.title: s for s in made.sections}
    assert sections["Authorisations denied, by reason"].rows == [
        ["Not medically necessary", 1, 0, 0, 0, 0, "$1,122.29"]
    ]
    assert sections["Claims denied, by reason"].rows == [
        ["No prior authorisation (code 197)", 1, 1, 1, 0, "$180.83", "$100.50"]
    ]
    (every,) = sections["Every claim denied"].rows
    assert every[0] == claim.claim_number
    assert every[4] == "No prior authorisation (code 197), owed by the provider's contract"
    assert every[5:] == ["N54", "$180.83", "$100.50"]
    outcomes = {r[0]: r for r in sections["Appeal outcomes"].rows}
    assert outcomes["Claims"][3] == 1 and outcomes["Claims"][-2:] == ["$100.50", "$80.33"]
    assert outcomes["Authorisations"][-1] == "$1,122.29"
    assert any("Money at stake: $1,303.12" in note for note in made.notes)
    assert not any("filled in once claims are recorded" in note for note in made.notes)
