"""What the worker does when a scheduling clock is due."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.db import outbox
from careloop.referral import moves
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus


def _subject(session: Session, row: ClockRow) -> Appointment | None:
    return session.get(Appointment, row.subject_id) if row.subject_id else None


def on_outcome_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The window ended hours ago and nobody said what happened: chase the provider."""
    appointment = _subject(session, row)
    if appointment is None or appointment.status is not AppointmentStatus.scheduled:
        return ClockStatus.met
    referral = moves.locked(session, appointment.referral_id)
    now = clock.now()
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "appointment.outcome_overdue",
        now=now,
        provider_id=appointment.provider_id,
        appointment_id=appointment.id,
    )
    outbox.enqueue(
        session,
        dedupe_key=f"outcome_overdue:{row.id}",
        audience="provider",
        recipient=str(appointment.provider_id or ""),
        template="appointment.outcome_overdue",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"appointment_id": appointment.id},
    )
    return ClockStatus.breached


def on_resupply_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The next delivery of a recurring supply is near and not booked: ask the provider."""
    appointment = _subject(session, row)
    if appointment is None or appointment.status is not AppointmentStatus.due:
        return ClockStatus.met
    referral = moves.locked(session, appointment.referral_id)
    now = clock.now()
    outbox.enqueue(
        session,
        dedupe_key=f"resupply:{row.id}",
        audience="provider",
        recipient=str(appointment.provider_id or ""),
        template="supply.resupply_due",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"appointment_id": appointment.id, "due_on": str(appointment.due_on)},
    )
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "supply.resupply_due",
        now=now,
        provider_id=appointment.provider_id,
        appointment_id=appointment.id,
        due_on=str(appointment.due_on),
    )
    return ClockStatus.met
