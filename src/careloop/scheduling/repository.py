"""Scheduling queries. Nothing commits here."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from careloop.network.models import Provider
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus


def find(
    session: Session,
    visible_ids: Select[tuple[int]],
    *,
    statuses: Sequence[AppointmentStatus] | None,
    case_numbers: Sequence[str] | None,
    first_only: bool,
    limit: int,
) -> Sequence[Row[Appointment, str, ReferralStatus]]:
    """Appointments of the cases in ``visible_ids`` with their case number and status,
    the soonest first: one query."""
    stmt = (
        select(Appointment, Referral.case_number, Referral.status)
        .join(Referral, Referral.id == Appointment.referral_id)
        .where(Appointment.referral_id.in_(visible_ids.scalar_subquery()))
        .order_by(
            Appointment.window_start.is_(None),
            Appointment.window_start,
            Appointment.due_on,
            Appointment.id,
        )
        .limit(limit)
    )
    if statuses is not None:
        stmt = stmt.where(Appointment.status.in_(list(statuses)))
    if case_numbers is not None:
        stmt = stmt.where(Referral.case_number.in_(list(case_numbers)))
    if first_only:
        stmt = stmt.where(Appointment.sequence == 1)
    return session.execute(stmt).all()


def first_appointment(session: Session, referral_id: int) -> Appointment | None:
    stmt = select(Appointment).where(
        Appointment.referral_id == referral_id, Appointment.sequence == 1
    )
    return session.scalars(stmt).first()


def appointments_of(session: Session, referral_id: int) -> list[Appointment]:
    stmt = (
        select(Appointment)
        .where(Appointment.referral_id == referral_id)
        .order_by(Appointment.sequence)
    )
    return list(session.scalars(stmt))


def provider_names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Provider.id, Provider.legal_name).where(Provider.id.in_(ids)))
    return {provider_id: name for provider_id, name in rows}
