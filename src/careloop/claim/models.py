"""Claims, their service lines, the remittances read and what each posted to a claim.

The claim domain is the only writer of these tables. Money is integer cents."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        # The status inquiry's sweep: claims still waiting, oldest first.
        Index("ix_claims_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), index=True
    )
    claim_number: Mapped[str] = mapped_column(String(38), unique=True)
    # The delivery or visit the worker billed (one claim per appointment: the unique
    # constraint is the last line of defence when two passes race).
    appointment_id: Mapped[int | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), unique=True
    )
    # prepared (837P written, 0 pyx12 errors; ready to send), queued (stored in the
    # clearinghouse's outbound files), sent (handed to the clearinghouse), accepted or
    # rejected (the payer's 999), then paid, partly_paid, denied (its 835).
    status: Mapped[str] = mapped_column(String(20))
    billed_by: Mapped[str] = mapped_column(String(20))
    billing_npi: Mapped[str] = mapped_column(String(10))
    rendering_npi: Mapped[str | None] = mapped_column(String(10))
    payer_id: Mapped[int | None] = mapped_column(ForeignKey("payers.id"))
    authorization_number: Mapped[str | None] = mapped_column(String(60))
    diagnoses: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    charge_cents: Mapped[int] = mapped_column(Integer)
    expected_cents: Mapped[int] = mapped_column(Integer)
    paid_cents: Mapped[int] = mapped_column(Integer, default=0)
    first_service_on: Mapped[date] = mapped_column(Date)
    filing_closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    filing_escalates_at: Mapped[datetime] = mapped_column(UTCDateTime())
    x12: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The payer's last word from a 277 (STC01-1 category such as A1, F1; STC01-2 the
    # status code) and when it was read; when CareLoop last asked (a 276).
    payer_status: Mapped[str | None] = mapped_column(String(3))
    payer_status_code: Mapped[str | None] = mapped_column(String(5))
    payer_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the 837P was handed to the clearinghouse, and when the payer's 999 said it
    # accepted (or rejected) it.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClaimLine(Base):
    __tablename__ = "claim_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(12))
    modifiers: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    units: Mapped[int] = mapped_column(Integer)
    service_date: Mapped[date] = mapped_column(Date)
    pointers: Mapped[list[int]] = mapped_column(JSONVariant, default=list)
    charge_cents: Mapped[int] = mapped_column(Integer)


class Remittance(Base):
    __tablename__ = "remittances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # ISA13 with the sender: a file read twice posts once.
    interchange_key: Mapped[str] = mapped_column(String(60), unique=True)
    payer_name: Mapped[str] = mapped_column(String(200))
    trace_number: Mapped[str] = mapped_column(String(60))
    paid_cents: Mapped[int] = mapped_column(Integer)
    paid_on: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ClaimPosting(Base):
    """What one remittance said about one claim: paid, adjusted (CARC), remarks (RARC),
    and how it compares with the fee schedule's expectation."""

    __tablename__ = "claim_postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    remittance_id: Mapped[int] = mapped_column(
        ForeignKey("remittances.id", ondelete="CASCADE"), index=True
    )
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    claim_number: Mapped[str] = mapped_column(String(38))
    status_code: Mapped[str] = mapped_column(String(4))
    charge_cents: Mapped[int] = mapped_column(Integer)
    paid_cents: Mapped[int] = mapped_column(Integer)
    # Paid minus expected (negative: underpaid).
    variance_cents: Mapped[int | None] = mapped_column(Integer)
    adjustments: Mapped[list[dict[str, Any]]] = mapped_column(JSONVariant, default=list)
    remarks: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    denied: Mapped[bool] = mapped_column(default=False)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
