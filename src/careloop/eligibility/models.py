"""Eligibility checks: each verification of a case's coverage, kept as it was answered."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.eligibility.rules import EligibilityStatus


class EligibilityCheck(Base):
    __tablename__ = "eligibility_checks"
    __table_args__ = (Index("ix_eligibility_checks_referral_id", "referral_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    status: Mapped[EligibilityStatus] = mapped_column(StrEnumType(EligibilityStatus))
    payer_id: Mapped[int | None] = mapped_column(ForeignKey("payers.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    coverage_id: Mapped[int | None] = mapped_column(ForeignKey("coverages.id"))
    service_date: Mapped[date] = mapped_column(Date)
    # [{line, code, authorization_required, basis}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    checked_by: Mapped[str] = mapped_column(String(200))
