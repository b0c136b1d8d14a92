"""Clock statements: the only code that writes the clocks table (the ``sla`` domain owns
it; other domains go through :mod:`careloop.sla.service`). Nothing commits here."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from careloop.db import copy
from careloop.db.base import table_of
from careloop.db.session import skip_locked
from careloop.sla.models import (
    OPEN_CLOCK_STATUSES,
    TEAM_OF_KIND,
    Clock,
    ClockKind,
    ClockStatus,
)

# A Core statement on the table (not the ORM bulk path): one INSERT for many clocks.
_CLOCKS = table_of(Clock)


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert clocks from their column values, one statement, nothing read back."""
    # Written past the ORM: the team comes from the kind, as the model's default does.
    for row in rows:
        row.setdefault("team", TEAM_OF_KIND[ClockKind(row["kind"])].value)
    copy.insert_rows(session, _CLOCKS, rows)


def open_of(
    session: Session,
    referral_id: int,
    kinds: Sequence[ClockKind],
    *,
    subject_id: int | None = None,
) -> list[Clock]:
    """A case's open or paused clocks of these kinds, in the order they were started."""
    stmt = select(Clock).where(
        Clock.referral_id == referral_id,
        Clock.kind.in_(list(kinds)),
        Clock.status.in_(list(OPEN_CLOCK_STATUSES)),
    )
    if subject_id is not None:
        stmt = stmt.where(Clock.subject_id == subject_id)
    return list(session.scalars(stmt.order_by(Clock.id)))


def open_offer_clocks(session: Session, offer_id: int) -> list[Clock]:
    """The open clock waiting on an offer's answer (at most one)."""
    stmt = select(Clock).where(
        Clock.offer_id == offer_id,
        Clock.kind == ClockKind.offer_response,
        Clock.status == ClockStatus.open,
    )
    return list(session.scalars(stmt))


_CLOSED_AT = {
    ClockStatus.met: Clock.met_at,
    ClockStatus.cancelled: Clock.cancelled_at,
    ClockStatus.breached: Clock.breached_at,
}


def close_open(
    session: Session,
    referral_id: int,
    kinds: Sequence[ClockKind],
    *,
    status: ClockStatus,
    at: datetime,
) -> None:
    """Close a case's open or paused clocks of these kinds: one UPDATE."""
    session.execute(
        update(Clock)
        .where(
            Clock.referral_id == referral_id,
            Clock.kind.in_(list(kinds)),
            Clock.status.in_(list(OPEN_CLOCK_STATUSES)),
        )
        .values({Clock.status: status, _CLOSED_AT[status]: at})
    )


def assign(session: Session, clock_id: int, *, user_id: int, at: datetime) -> bool:
    """Assign an open, unassigned clock; False when it is not (a concurrent claimer waits
    on the row lock and then finds it taken)."""
    result = session.connection().execute(
        update(Clock)
        .where(
            Clock.id == clock_id,
            Clock.status == ClockStatus.open,
            Clock.assigned_user_id.is_(None),
        )
        .values(assigned_user_id=user_id, assigned_at=at)
    )
    return result.rowcount == 1


def unassign(session: Session, clock_id: int, *, assignee: int) -> bool:
    """Unassign the clock if ``assignee`` still holds it."""
    result = session.connection().execute(
        update(Clock)
        .where(Clock.id == clock_id, Clock.assigned_user_id == assignee)
        .values(assigned_user_id=None, assigned_at=None)
    )
    return result.rowcount == 1


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
