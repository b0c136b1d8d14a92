"""Clock queries: find what is due and claim it exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.sla.models import Clock, ClockStatus


def claim(session: Session, clock_id: int, *, status: ClockStatus, now: datetime) -> Clock | None:
    """Mark an open clock as fired; None if someone else already did (fires once)."""
    result = session.connection().execute(
        update(Clock)
        .where(Clock.id == clock_id, Clock.status == ClockStatus.open)
        .values(status=status, fired_at=now, breached_at=now)
    )
    if result.rowcount != 1:
        return None
    return session.get(Clock, clock_id, populate_existing=True)


def claim_due_batch(session: Session, now: datetime, limit: int = 100) -> list[Clock]:
    """Lock up to ``limit`` open clocks that are due, for this transaction only.

    On PostgreSQL, rows another worker holds are skipped (FOR UPDATE SKIP LOCKED), so any
    number of workers share the work; SQLite serialises writers, so one worker runs. The
    caller fires each clock and marks it in the same transaction: a worker that dies
    before committing leaves its clocks open for the next one, and none fires twice.
    """
    stmt = (
        select(Clock)
        .where(Clock.status == ClockStatus.open, Clock.due_at <= now)
        .order_by(Clock.due_at, Clock.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def mark_fired(clock: Clock, *, status: ClockStatus, now: datetime) -> None:
    clock.status = status
    clock.fired_at = now
    if status is ClockStatus.breached:
        clock.breached_at = now
    elif status is ClockStatus.met:
        clock.met_at = now
