"""The transactional outbox: messages that leave the system (to referrers, members,
providers) are rows written in the same transaction as the change that causes them,
and delivered after commit by the worker (STYLE.md §4). Nothing is sent from inside a
use case, and nothing queued is lost when a process dies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from careloop.db.base import Base, table_of
from careloop.db.types import JSONVariant, UTCDateTime


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # A message is queued once for a given reason (deduplicated on retry or replay).
        UniqueConstraint("dedupe_key"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dedupe_key: Mapped[str] = mapped_column(String(200))
    # Who it is for: referrer, member, provider, staff; ``recipient`` names them by id.
    audience: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))
    template: Mapped[str] = mapped_column(String(60))
    referral_id: Mapped[int | None] = mapped_column(Integer)
    case_number: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.pending.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


def message(
    *,
    dedupe_key: str,
    audience: str,
    template: str,
    now: datetime,
    channel: str = "default",
    recipient: str | None = None,
    referral_id: int | None = None,
    case_number: str | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The row of one queued message, for :func:`enqueue_many`."""
    return {
        "created_at": now,
        "dedupe_key": dedupe_key,
        "audience": audience,
        "recipient": recipient,
        "channel": channel,
        "template": template,
        "referral_id": referral_id,
        "case_number": case_number,
        "payload": payload or {},
        "status": OutboxStatus.pending.value,
        "attempts": 0,
        "next_attempt_at": now,
    }


def enqueue(
    session: Session,
    *,
    dedupe_key: str,
    audience: str,
    template: str,
    now: datetime,
    channel: str = "default",
    recipient: str | None = None,
    referral_id: int | None = None,
    case_number: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Queue a message in the caller's transaction; a second call with the same
    ``dedupe_key`` is ignored (the first one stands)."""
    row = message(
        dedupe_key=dedupe_key,
        audience=audience,
        template=template,
        now=now,
        channel=channel,
        recipient=recipient,
        referral_id=referral_id,
        case_number=case_number,
        payload=payload,
    )
    enqueue_many(session, [row])


def enqueue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Queue messages built by :func:`message` with one statement; a message whose
    ``dedupe_key`` is already queued is ignored (the first one stands)."""
    if not rows:
        return
    table = table_of(OutboxMessage)
    # Both dialects spell "insert unless the key exists" the same way.
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)
