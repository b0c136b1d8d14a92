"""Clock queries: find what is due and claim it exactly once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from careloop.db.session import skip_locked
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
    return list(session.scalars(skip_locked(session, stmt)))


_FIRED_AT = {ClockStatus.breached: "breached_at", ClockStatus.met: "met_at"}


def mark_fired(
    session: Session, outcomes: Sequence[tuple[Clock, ClockStatus]], now: datetime
) -> None:
    """Record that claimed clocks fired, with their outcome: one UPDATE per outcome for the
    whole batch. The loaded rows are brought up to date without being flushed again."""
    by_status: dict[ClockStatus, list[Clock]] = defaultdict(list)
    for clock, status in outcomes:
        by_status[status].append(clock)
    for status, fired in by_status.items():
        values: dict[str, Any] = {"status": status, "fired_at": now}
        if status in _FIRED_AT:
            values[_FIRED_AT[status]] = now
        session.connection().execute(
            update(Clock).where(Clock.id.in_([c.id for c in fired])).values(values)
        )
        for clock in fired:
            for key, value in values.items():
                set_committed_value(clock, key, value)
