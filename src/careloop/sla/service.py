"""Starting, pausing, resuming and closing clocks (DESIGN.md §3).

The ``sla`` domain is the only writer of the clocks table: intake starts a case's clocks
with :func:`start_many`, matching the offer clocks, the network the credential clocks,
prior authorisation and scheduling theirs with :func:`start`; the work queue assigns them
(:func:`assign`, :func:`unassign`) and the worker fires them (:func:`claim_due_batch`,
:func:`mark_fired`, :func:`retry_later`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.sla import repository
from careloop.sla.models import Clock, ClockKind, ClockStatus
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
    offer_id: int | None = None,
    provider_id: int | None = None,
    credential_id: int | None = None,
) -> Clock:
    """Open a clock; ``subject_id`` is the authorisation request or appointment it is about,
    ``offer_id``, ``provider_id`` and ``credential_id`` the offer or credential."""
    row = Clock(
        referral_id=referral_id,
        offer_id=offer_id,
        provider_id=provider_id,
        credential_id=credential_id,
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


def start_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Open many clocks from their column values in one INSERT, no objects made and
    nothing read back (the intake path)."""
    repository.insert_many(session, rows)


def open_of(
    session: Session, referral_id: int, kinds: Sequence[ClockKind], *, subject_id: int | None
) -> list[Clock]:
    """A case's open or paused clocks of these kinds (about ``subject_id`` if given)."""
    return repository.open_of(session, referral_id, kinds, subject_id=subject_id)


def close(
    session: Session,
    referral_id: int,
    kinds: Sequence[ClockKind],
    *,
    status: ClockStatus,
    at: datetime,
    subject_id: int | None = None,
) -> None:
    """Close a case's open clocks of these kinds, loaded (about ``subject_id`` if given)."""
    for row in open_of(session, referral_id, kinds, subject_id=subject_id):
        row.status = status
        if status is ClockStatus.met:
            row.met_at = at
        elif status is ClockStatus.breached:
            row.breached_at = at
        else:
            row.cancelled_at = at


def close_all(
    session: Session,
    referral_id: int,
    kinds: Sequence[ClockKind],
    *,
    status: ClockStatus,
    at: datetime,
) -> None:
    """Close a case's open or paused clocks of these kinds in one UPDATE."""
    repository.close_open(session, referral_id, kinds, status=status, at=at)


def close_offer_clock(session: Session, offer_id: int, status: ClockStatus, at: datetime) -> None:
    """The offer was answered (met) or lapsed (breached): its open clock closes and fires."""
    for row in repository.open_offer_clocks(session, offer_id):
        row.status = status
        if status is ClockStatus.met:
            row.met_at = at
        else:
            row.breached_at = at
        row.fired_at = at


def pause(session: Session, row: Clock, *, now: datetime) -> None:
    if row.status is ClockStatus.open:
        row.status, row.paused_at = ClockStatus.paused, now


def resume(
    session: Session, row: Clock, *, now: datetime, not_after: datetime | None = None
) -> None:
    """Resume a paused clock, its due time pushed later by the time the pause took (never
    past ``not_after`` when given)."""
    if row.status is not ClockStatus.paused or row.paused_at is None:
        return
    rule = DeadlineRule(
        name="pause", duration=timedelta(0), calendar=CalendarKind(row.calendar), source="pause"
    )
    due_at = extend_for_pause(rule, row.due_at, row.paused_at, now, time_zone=row.time_zone)
    if not_after is not None:
        due_at = min(due_at, not_after)
    row.due_at = due_at
    row.status, row.paused_at = ClockStatus.open, None


def reschedule(row: Clock, *, due_at: datetime) -> None:
    """A clock's deadline recomputed (the order changed)."""
    row.due_at = due_at


def retry_later(row: Clock, *, due_at: datetime) -> None:
    """A clock whose due action failed is tried again at ``due_at``."""
    row.due_at = due_at


def assign(session: Session, clock_id: int, *, user_id: int, at: datetime) -> bool:
    """Give an open, unassigned clock to a user; False when it is not open or taken."""
    return repository.assign(session, clock_id, user_id=user_id, at=at)


def unassign(session: Session, clock_id: int, *, assignee: int) -> bool:
    """Take a clock back from ``assignee``; False if they no longer hold it."""
    return repository.unassign(session, clock_id, assignee=assignee)


def claim_due_batch(session: Session, now: datetime, limit: int = 100) -> list[Clock]:
    """Lock up to ``limit`` due open clocks for this transaction (see the repository)."""
    return repository.claim_due_batch(session, now, limit)


def mark_fired(
    session: Session, outcomes: Sequence[tuple[Clock, ClockStatus]], now: datetime
) -> None:
    """Record that claimed clocks fired, with their outcome."""
    repository.mark_fired(session, outcomes, now)
