"""Appeals of a denial and their levels: the appeal domain writes these tables alone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.appeal.rules import AppealStatus, LevelKind, LevelStatus
from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime
from careloop.prior_auth.rules import DenialReason


class Appeal(Base):
    """One appeal of one denied authorisation request, climbing the payer's ladder."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index("ix_appeals_referral_id", "referral_id", "id"),
        Index("ix_appeals_authorization_id", "authorization_id"),
    )
    __pii_columns__ = ("rationale", "objective_measures")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    authorization_id: Mapped[int] = mapped_column(
        ForeignKey("authorization_requests.id", ondelete="CASCADE")
    )
    denial_reason: Mapped[DenialReason] = mapped_column(StrEnumType(DenialReason))
    status: Mapped[AppealStatus] = mapped_column(StrEnumType(AppealStatus))
    rationale: Mapped[str] = mapped_column(Text)
    objective_measures: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    close_reason: Mapped[str | None] = mapped_column(String(300))


class AppealLevel(Base):
    """One rung: its filing window, then its decision window (both clocks of the sla
    domain, ``subject_id`` = this row's id), and its outcome."""

    __tablename__ = "appeal_levels"
    __table_args__ = (UniqueConstraint("appeal_id", "position", name="uq_appeal_levels_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[LevelKind] = mapped_column(StrEnumType(LevelKind))
    status: Mapped[LevelStatus] = mapped_column(StrEnumType(LevelStatus))
    filing_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    filed_by: Mapped[str | None] = mapped_column(String(200))
    rationale: Mapped[str | None] = mapped_column(Text)
    decision_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
