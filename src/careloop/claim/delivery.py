"""A claim for every delivery and visit done, prepared by the worker.

When the scheduling domain records a delivery or a visit done it announces
``appointment.done`` in its transaction; this module answers by starting a
``claim_preparation`` clock due at once (through the sla domain, the clocks' writer).
The worker fires that clock exactly once (DESIGN.md §3) and :func:`bill_appointment`
prepares the claim: lines from what was ordered and used (HCPCS, RR/NU for equipment,
the units recorded at delivery, within what the authorisation has left), dated the day
it was done, priced from the payer's fee schedule. One claim per appointment, whoever
runs twice: an appointment already billed is left alone, and a unique constraint on
the claim's appointment is the last line of defence.

A refused claim (no authorisation, no provider, a code without a price, pyx12 errors, a
contract that breaks a rule) stores nothing but a work item saying in plain words what
to fix; once fixed, staff prepare the claim from the case (which closes the item).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.claim import repository, rules, service
from careloop.core import events
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.referral import moves
from careloop.referral.models import Referral, ReferralItem
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind

#: Who prepares the claims the worker makes (timeline 'who', audit actor).
BILLING_ACTOR = Actor(user_id=None, role=Role.service, organization_id=None, display_name="claims")
RULE_SOURCE = "a claim is prepared for each delivery or visit done (DOMAIN.md §7)"


def on_appointment_done(
    *,
    session: Session,
    clock: Clock,
    referral_id: int,
    appointment_id: int,
    time_zone: str,
    **_: Any,
) -> None:
    """``appointment.done``: queue the delivery's claim for the worker."""
    now = clock.now()
    clocks.start(
        session,
        kind=ClockKind.claim_preparation,
        referral_id=referral_id,
        subject_id=appointment_id,
        due_at=now,
        rule_source=RULE_SOURCE,
        time_zone=time_zone,
        now=now,
    )


events.subscribe("appointment.done", on_appointment_done)


def bill_appointment(
    session: Session, appointment_id: int, *, clock: Clock
) -> service.Prepared | None:
    """Prepare the claim of one delivery or visit done; None when it was billed already,
    is not billable, or the claim was refused (then a work item says why)."""
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.status not in service.BILLABLE:
        return None
    if repository.claim_of_appointment(session, appointment_id) is not None:
        return None
    referral = moves.locked(session, appointment.referral_id)
    try:
        with session.begin_nested():
            lines = _lines(session, referral, appointment)
            return service.prepare(
                session,
                BILLING_ACTOR,
                referral.id,
                lines,
                clock=clock,
                appointment_id=appointment.id,
            )
    except DomainError as exc:
        _refused(session, referral, appointment, exc, clock=clock)
        return None


def _lines(session: Session, referral: Referral, appointment: Appointment) -> list[rules.Line]:
    items = {
        i.line: i
        for i in session.scalars(
            select(ReferralItem).where(ReferralItem.referral_id == referral.id)
        )
    }
    used = []
    for entry in appointment.units or []:
        item = items.get(int(entry.get("line") or 0))
        code = str(entry.get("code") or (item.code if item else ""))
        used.append(
            rules.Delivered(code, int(entry.get("units") or 0), item.rental if item else None)
        )
    if not used:  # nothing counted at delivery: what was ordered
        used = [rules.Delivered(i.code, i.quantity, i.rental) for i in items.values()]
    return rules.delivery_lines(
        used,
        service_date=_day(appointment.outcome_at, referral),
        diagnoses=len(referral.diagnoses),
    )


def _day(at: datetime | None, referral: Referral) -> Any:
    moment = at or referral.updated_at
    return moment.astimezone(ZoneInfo(referral.time_zone)).date()


def refusal_title(case_number: str, what: str, exc: DomainError) -> str:
    """What the person who picks the item up must fix, in plain words."""
    reasons = [e.message for e in exc.errors][:3] or [exc.detail]
    return (
        f"Claim for the {what} on case {case_number} was not prepared: "
        + "; ".join(reasons)
        + ". Fix this, then prepare the claim from the case."
    )[:300]


def _refused(
    session: Session,
    referral: Referral,
    appointment: Appointment,
    exc: DomainError,
    *,
    clock: Clock,
) -> None:
    what = "visit" if appointment.status is AppointmentStatus.visit_done else "delivery"
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=referral.id,
        kind="claim_refused",
        team="case_management",
        due_at=clock.now(),
        subject=service.refusal_subject(appointment.id),
        title=refusal_title(referral.case_number, what, exc),
    )
