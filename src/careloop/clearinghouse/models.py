"""Every X12 file exchanged with a payer through the clearinghouse, in and out.

The interchange control number (ISA13) with the partner makes a file's identity: an
inbound file read twice is found here and changes nothing the second time; an outbound
file is stored before it is handed over, so a crash between the two loses nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.clearinghouse.rules import Direction, ExchangeStatus
from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime


class X12Exchange(Base):
    __tablename__ = "x12_exchanges"
    __table_args__ = (
        UniqueConstraint("direction", "partner", "control_number"),
        Index("ix_x12_exchanges_trace", "trace"),
        Index("ix_x12_exchanges_status", "direction", "status", "id"),
        Index("ix_x12_exchanges_referral_id", "referral_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(StrEnumType(Direction))
    # 270, 271, 276, 277, 278, 837, 835 or 999
    transaction: Mapped[str] = mapped_column(String(3))
    status: Mapped[ExchangeStatus] = mapped_column(StrEnumType(ExchangeStatus))
    # The payer's X12 id (ISA06 of an inbound file, ISA08 of an outbound one).
    partner: Mapped[str] = mapped_column(String(80))
    # ISA13, as written in the file.
    control_number: Mapped[str] = mapped_column(String(20))
    # CareLoop's trace (TRN02) of an outbound request, echoed by the payer's answer.
    trace: Mapped[str | None] = mapped_column(String(80))
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    authorization_id: Mapped[int | None] = mapped_column(
        ForeignKey("authorization_requests.id", ondelete="SET NULL")
    )
    # The claim an outbound 837P carries: one per claim (the unique constraint is the
    # last line of defence when two sends race).
    claim_id: Mapped[int | None] = mapped_column(
        ForeignKey("claims.id", ondelete="SET NULL"), unique=True
    )
    # The outbound request an inbound answer answered (or a 999 rejected).
    answers_id: Mapped[int | None] = mapped_column(ForeignKey("x12_exchanges.id"))
    file_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    # Why a file was rejected or ignored, in plain words (segment and position named).
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
