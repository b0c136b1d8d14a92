"""Appointments: each delivery or visit, its window and its outcome."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus, MissedReason


class Appointment(Base):
    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_referral_id", "referral_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    # 1 is the start of service (the on-time KPI); later ones are recurring supplies.
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[AppointmentKind] = mapped_column(StrEnumType(AppointmentKind))
    status: Mapped[AppointmentStatus] = mapped_column(StrEnumType(AppointmentStatus))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    due_on: Mapped[date | None] = mapped_column(Date)
    window_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    late_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_by: Mapped[str | None] = mapped_column(String(200))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str | None] = mapped_column(String(200))
    received_by: Mapped[str | None] = mapped_column(String(200))
    serial_numbers: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    missed_reason: Mapped[MissedReason | None] = mapped_column(StrEnumType(MissedReason))
    note: Mapped[str | None] = mapped_column(Text)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    # [{line, code, units}] counted against the authorisation.
    units: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
