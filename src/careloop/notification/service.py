"""Deliver queued outbox messages after their transaction committed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.db.outbox import OutboxMessage, OutboxStatus
from careloop.db.session import skip_locked
from careloop.notification.sinks import Sink

#: Delivery attempts before a message is parked as failed (and shows to operators).
MAX_ATTEMPTS = 8


def deliver_due(session: Session, sink: Sink, *, clock: Clock, limit: int = 100) -> int:
    """Send up to ``limit`` due messages; each is marked sent in this transaction, so a
    crash after sending and before commit re-sends it (consumers dedupe on ``id``),
    and none is lost. Failures back off exponentially."""
    now = clock.now()
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.pending.value, OutboxMessage.next_attempt_at <= now
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    sent = 0
    for message in session.scalars(skip_locked(session, stmt)):
        message.attempts += 1
        try:
            sink.send(
                {
                    "id": message.id,
                    "dedupe_key": message.dedupe_key,
                    "template": message.template,
                    "audience": message.audience,
                    "recipient": message.recipient,
                    "channel": message.channel,
                    "case_number": message.case_number,
                    "payload": message.payload,
                    "queued_at": message.created_at.isoformat(),
                }
            )
        except Exception as exc:  # a channel failure must not stop the others
            message.last_error = type(exc).__name__
            message.next_attempt_at = now + timedelta(seconds=30 * 2 ** min(message.attempts, 8))
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.failed.value
            continue
        message.status = OutboxStatus.sent.value
        message.sent_at = now
        sent += 1
    return sent
