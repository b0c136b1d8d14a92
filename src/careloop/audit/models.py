"""The audit trail: one row per PHI access or change, written in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.audit.rules import AuditOutcome
from careloop.db.base import Base
from careloop.db.types import JSONVariant, UTCDateTime


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_case_number_at", "case_number", "at"),
        Index("ix_audit_records_actor_user_id_at", "actor_user_id", "at"),
        # Submissions refused at the door, by day (the daily referral import): a partial
        # index, so the hot path's successful records never enter it.
        Index(
            "ix_audit_records_refused_at",
            "action",
            "at",
            postgresql_where=text("outcome = 'refused'"),
            sqlite_where=text("outcome = 'refused'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str] = mapped_column(String(40))
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20))
    case_number: Mapped[str | None] = mapped_column(String(40))
    referral_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONVariant)


__all__ = ["AuditOutcome", "AuditRecord"]
