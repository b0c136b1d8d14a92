"""Offers: a referral offered to one provider at a time, answered or expired."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime


class OfferStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    withdrawn = "withdrawn"


class DeclineReason(StrEnum):
    out_of_service_area = "out_of_service_area"
    no_capacity = "no_capacity"
    payer_not_accepted = "payer_not_accepted"
    clinical_complexity = "clinical_complexity"
    other = "other"


class Offer(Base):
    """One offer of a referral to a provider.

    The partial unique indexes are the last line of defence of "exactly one winner": at
    most one accepted offer, and at most one pending offer, per referral, whatever the
    application does (DESIGN.md §4 concurrency; RELIABILITY.md row 7).
    """

    __tablename__ = "offers"
    __table_args__ = (
        Index("ix_offers_provider_id_status", "provider_id", "status"),
        Index("ix_offers_provider_id_offered_at", "provider_id", "offered_at"),
        Index("ix_offers_referral_id", "referral_id"),
        Index(
            "uq_offers_one_accepted_per_referral",
            "referral_id",
            unique=True,
            sqlite_where=text("status = 'accepted'"),
            postgresql_where=text("status = 'accepted'"),
        ),
        Index(
            "uq_offers_one_pending_per_referral",
            "referral_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    status: Mapped[OfferStatus] = mapped_column(StrEnumType(OfferStatus))
    # The service line the offer uses a slot of (capacity is per day per service line).
    service_line: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime())
    offered_by_user_id: Mapped[int | None] = mapped_column(Integer)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    responded_by_user_id: Mapped[int | None] = mapped_column(Integer)
    decline_reason: Mapped[str | None] = mapped_column(String(40))
    decline_note: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONVariant)
