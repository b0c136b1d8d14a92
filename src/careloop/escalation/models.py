"""Escalation rows: a case handed to a named supervisor who promises a time (DOMAIN.md §6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime
from careloop.escalation.rules import PartyKind, Promise, Reason, Severity, Source, Status


class Escalation(Base):
    """One escalation of a case. The commit window and the committed ETA are clocks (the
    sla domain's); this row keeps what a person reads: who asked, who owns it, what was
    promised and whether the promise was kept."""

    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_referral_id_opened_at", "referral_id", "opened_at"),
        # The least-loaded supervisor: open escalations per supervisor.
        Index("ix_escalations_supervisor_user_id_status", "supervisor_user_id", "status"),
        # The dashboard's kept-promise rate reads promises by the time they were decided.
        Index("ix_escalations_promise_decided_at", "promise_decided_at"),
    )
    # The requester's name, e-mail and phone, and the free text, are PHI-adjacent.
    __pii_columns__ = ("requester_name", "requester_email", "requester_phone", "details")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    source: Mapped[Source] = mapped_column(StrEnumType(Source))
    reason: Mapped[Reason] = mapped_column(StrEnumType(Reason))
    severity: Mapped[Severity] = mapped_column(StrEnumType(Severity))
    details: Mapped[str | None] = mapped_column(Text)
    requester_kind: Mapped[PartyKind] = mapped_column(StrEnumType(PartyKind))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str | None] = mapped_column(String(254))
    requester_phone: Mapped[str | None] = mapped_column(String(40))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by_user_id: Mapped[int | None] = mapped_column(Integer)
    opened_by_label: Mapped[str] = mapped_column(String(200))
    supervisor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supervisor_name: Mapped[str | None] = mapped_column(String(200))
    # A direct phone, or the centre's number and an extension, as the requester dials it.
    supervisor_contact: Mapped[str | None] = mapped_column(String(80))
    level: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[Status] = mapped_column(StrEnumType(Status))
    commit_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime())
    committed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    commit_missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    promise: Mapped[Promise | None] = mapped_column(StrEnumType(Promise))
    promise_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by_label: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)
    # The e-mail thread to the requester: the first message's Message-ID, and how many
    # messages went into it (each next one is In-Reply-To the first).
    thread_id: Mapped[str | None] = mapped_column(String(200))
    messages_sent: Mapped[int] = mapped_column(Integer, default=0)
