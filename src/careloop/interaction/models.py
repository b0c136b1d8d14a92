"""Contacts (calls, e-mails, faxes, portal messages, texts) and notes on a case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime
from careloop.interaction.rules import (
    ContactKind,
    ContactOutcome,
    ContactReason,
    Direction,
    NoteVisibility,
    PartyKind,
)


class Contact(Base):
    """One interaction with a party, as the call script asks it to be logged (DOMAIN.md
    §9). ``referral_id`` is empty until the contact is linked to a case."""

    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_referral_id_started_at", "referral_id", "started_at"),
        # The KPIs (first-contact resolution, handling time) read contacts by time.
        Index("ix_contacts_started_at", "started_at"),
        # Contacts waiting to be linked to a case.
        Index(
            "ix_contacts_unlinked",
            "logged_at",
            postgresql_where=text("referral_id IS NULL"),
            sqlite_where=text("referral_id IS NULL"),
        ),
    )
    # PHI columns: never logged, always audited when read (STYLE.md §6).
    __phi_columns__ = ("party_name", "party_phone", "party_email", "summary")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    kind: Mapped[ContactKind] = mapped_column(StrEnumType(ContactKind))
    direction: Mapped[Direction] = mapped_column(StrEnumType(Direction))
    party_kind: Mapped[PartyKind] = mapped_column(StrEnumType(PartyKind))
    party_name: Mapped[str] = mapped_column(String(200))
    party_organization: Mapped[str | None] = mapped_column(String(200))
    party_phone: Mapped[str | None] = mapped_column(String(40))
    party_email: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[ContactReason] = mapped_column(StrEnumType(ContactReason))
    summary: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The call script: the case number and the agent's name given to the party.
    case_number_given: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_name_given: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[ContactOutcome] = mapped_column(StrEnumType(ContactOutcome))
    # The team whose work this contact was (its queue): handling time is reported by it,
    # and a follow-up goes to its queue.
    team: Mapped[str] = mapped_column(String(30))
    follow_up_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    follow_up_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The earlier contact whose follow-up this one answers.
    answers_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    logged_by_user_id: Mapped[int | None] = mapped_column(Integer)
    logged_by: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int | None] = mapped_column(Integer)


class CaseNote(Base):
    """A note on a case: internal (staff only) or shared with the referrer."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_referral_id_id", "referral_id", "id"),)
    __phi_columns__ = ("text",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    visibility: Mapped[NoteVisibility] = mapped_column(StrEnumType(NoteVisibility))
    text: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime())
    author_user_id: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(200))
