"""The log of the messages the hospital's feed has accepted: a message sent again (the
same sender and control id, MSH-10) is acknowledged again and changes nothing.

The adt domain is the only writer of this table. Refused messages (a NAK) are not kept:
the hospital corrects them and sends them again, often under the same control id.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class AdtMessage(Base):
    __tablename__ = "adt_messages"
    __table_args__ = (UniqueConstraint("sender", "control_id"),)
    # PHI columns: never logged, always audited when read (STYLE.md §6).
    __phi_columns__ = ("hospital_mrn", "family_name", "given_name", "birth_date", "discharge_at")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # MSH-3 and MSH-4, "application|facility": control ids are unique per sender.
    sender: Mapped[str] = mapped_column(String(120))
    control_id: Mapped[str] = mapped_column(String(60))
    event: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ack_code: Mapped[str] = mapped_column(String(2))
    ack_text: Mapped[str] = mapped_column(String(300))
    # applied, unchanged, review (a person matches it), nothing (no discharge date).
    outcome: Mapped[str] = mapped_column(String(20))
    referral_ids: Mapped[list[int]] = mapped_column(JSONVariant, default=list)
    discharge_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who the message is about, for the person who matches an uncertain report.
    hospital_mrn: Mapped[str | None] = mapped_column(String(40))
    hospital_mrn_authority: Mapped[str | None] = mapped_column(String(40))
    family_name: Mapped[str | None] = mapped_column(String(100))
    given_name: Mapped[str | None] = mapped_column(String(100))
    birth_date: Mapped[date | None] = mapped_column(Date)
