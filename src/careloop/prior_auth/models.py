"""Prior authorisation requests and their items (units requested, approved, used)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime
from careloop.prior_auth.rules import AuthorizationStatus, DenialReason, Priority


class AuthorizationRequest(Base):
    __tablename__ = "authorization_requests"
    __table_args__ = (Index("ix_authorization_requests_referral_id", "referral_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    status: Mapped[AuthorizationStatus] = mapped_column(StrEnumType(AuthorizationStatus))
    priority: Mapped[Priority] = mapped_column(StrEnumType(Priority))
    clinical_notes: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(200))
    decision_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))
    authorization_number: Mapped[str | None] = mapped_column(String(60))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    missing_information: Mapped[str | None] = mapped_column(Text)
    denial_reason: Mapped[DenialReason | None] = mapped_column(StrEnumType(DenialReason))
    denial_note: Mapped[str | None] = mapped_column(Text)
    peer_to_peer_contact: Mapped[str | None] = mapped_column(String(300))
    appeal_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appeal_rationale: Mapped[str | None] = mapped_column(Text)


class AuthorizationItem(Base):
    __tablename__ = "authorization_items"
    __table_args__ = (Index("ix_authorization_items_request_id", "request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("authorization_requests.id", ondelete="CASCADE")
    )
    line: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12))
    units_requested: Mapped[int] = mapped_column(Integer)
    units_approved: Mapped[int | None] = mapped_column(Integer)
    units_used: Mapped[int] = mapped_column(Integer, default=0)
