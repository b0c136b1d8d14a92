"""Starting, pausing, resuming and closing clocks (DESIGN.md §3), for the domains whose
promises are not made at intake: prior authorisation, scheduling, resupply."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.sla.models import OPEN_CLOCK_STATUSES, Clock, ClockKind, ClockStatus
from careloop.sla.rules import CalendarKind, DeadlineRule, extend_for_pause


def start(
    session: Session,
    *,
    kind: ClockKind,
    referral_id: int | None,
    due_at: datetime,
    rule_source: str,
    time_zone: str,
    now: datetime,
    calendar: CalendarKind = CalendarKind.clock,
    subject_id: int | None = None,
) -> Clock:
    """Open a clock; ``subject_id`` is the authorisation request or appointment it is about."""
    row = Clock(
        referral_id=referral_id,
        kind=kind,
        status=ClockStatus.open,
        calendar=calendar.value,
        time_zone=time_zone,
        rule_source=rule_source[:300],
        started_at=now,
        due_at=due_at,
        subject_id=subject_id,
    )
    session.add(row)
    return row


def open_of(
    session: Session, referral_id: int, kinds: Sequence[ClockKind], *, subject_id: int | None
) -> list[Clock]:
    stmt = select(Clock).where(
        Clock.referral_id == referral_id,
        Clock.kind.in_(list(kinds)),
        Clock.status.in_(list(OPEN_CLOCK_STATUSES)),
    )
    if subject_id is not None:
        stmt = stmt.where(Clock.subject_id == subject_id)
    return list(session.scalars(stmt.order_by(Clock.id)))


def close(
    session: Session,
    referral_id: int,
    kinds: Sequence[ClockKind],
    *,
    status: ClockStatus,
    at: datetime,
    subject_id: int | None = None,
) -> None:
    for row in open_of(session, referral_id, kinds, subject_id=subject_id):
        row.status = status
        if status is ClockStatus.met:
            row.met_at = at
        elif status is ClockStatus.breached:
            row.breached_at = at
        else:
            row.cancelled_at = at


def pause(session: Session, row: Clock, *, now: datetime) -> None:
    if row.status is ClockStatus.open:
        row.status, row.paused_at = ClockStatus.paused, now


def resume(session: Session, row: Clock, *, now: datetime) -> None:
    """Resume a paused clock, its due time pushed later by the time the pause took."""
    if row.status is not ClockStatus.paused or row.paused_at is None:
        return
    rule = DeadlineRule(
        name="pause", duration=timedelta(0), calendar=CalendarKind(row.calendar), source="pause"
    )
    row.due_at = extend_for_pause(rule, row.due_at, row.paused_at, now, time_zone=row.time_zone)
    row.status, row.paused_at = ClockStatus.open, None
