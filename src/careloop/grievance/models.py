"""Grievances and regulatory escalations: the grievance domain writes these tables alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.grievance.rules import LineOfBusiness, Party, Regulator, Resolution, Status, Subject


class Grievance(Base):
    """A quality complaint about a provider or about the coordination, with its
    acknowledgement and resolution windows (clocks of the sla domain, subject = id)."""

    __tablename__ = "grievances"
    __table_args__ = (
        Index("ix_grievances_referral_id", "referral_id", "id"),
        # The provider's scorecard counts grievances about its care by the time opened.
        Index("ix_grievances_provider_id_opened_at", "provider_id", "opened_at"),
    )
    __pii_columns__ = ("raised_by_name", "details", "resolution_note")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"))
    subject: Mapped[Subject] = mapped_column(StrEnumType(Subject))
    raised_by: Mapped[Party] = mapped_column(StrEnumType(Party))
    raised_by_name: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text)
    expedited: Mapped[bool] = mapped_column(Boolean, default=False)
    line_of_business: Mapped[LineOfBusiness] = mapped_column(StrEnumType(LineOfBusiness))
    state: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[Status] = mapped_column(StrEnumType(Status))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(200))
    acknowledge_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolve_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[Resolution | None] = mapped_column(StrEnumType(Resolution))
    resolution_note: Mapped[str | None] = mapped_column(Text)


class RegulatoryEscalation(Base):
    """A filing with a state regulator after the internal routes failed, with every
    earlier attempt (contacts, escalations, grievances) and its time, as filed."""

    __tablename__ = "regulatory_escalations"
    __table_args__ = (Index("ix_regulatory_escalations_referral_id", "referral_id", "id"),)
    __pii_columns__ = ("summary",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    regulator: Mapped[Regulator] = mapped_column(StrEnumType(Regulator))
    state: Mapped[str] = mapped_column(String(2))
    agency_name: Mapped[str] = mapped_column(String(200))
    agency_phone: Mapped[str] = mapped_column(String(40))
    agency_web: Mapped[str] = mapped_column(String(200))
    agency_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(60))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filed_by: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
