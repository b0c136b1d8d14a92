"""KPI queries: plain columns over a bounded window (the last few weeks), grouped in
rules.py. Nothing commits here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.referral.models import Referral
from careloop.report.models import ReportSnapshot
from careloop.sla.models import Clock, ClockKind, ClockStatus


def received_and_acknowledged(
    session: Session, since: datetime
) -> list[tuple[datetime, datetime | None]]:
    stmt = select(Referral.received_at, Referral.acknowledged_at).where(
        Referral.received_at >= since
    )
    return [(r[0], r[1]) for r in session.execute(stmt)]


def received_count(session: Session, start: datetime, end: datetime) -> int:
    stmt = select(func.count(Referral.id)).where(
        Referral.received_at >= start, Referral.received_at < end
    )
    return int(session.scalar(stmt) or 0)


def overdue_count(session: Session, now: datetime) -> int:
    stmt = select(func.count(Clock.id)).where(Clock.status == ClockStatus.open, Clock.due_at <= now)
    return int(session.scalar(stmt) or 0)


def ended_service_starts(
    session: Session, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(due_at, met_at) of service-start deadlines due in the window that ended."""
    stmt = select(Clock.due_at, Clock.met_at).where(
        Clock.kind == ClockKind.service_start,
        Clock.status.in_([ClockStatus.met, ClockStatus.breached]),
        Clock.due_at >= since,
        Clock.due_at < until,
    )
    return [(r[0], r[1]) for r in session.execute(stmt)]


def snapshot(session: Session, name: str) -> ReportSnapshot | None:
    return session.scalars(select(ReportSnapshot).where(ReportSnapshot.name == name)).first()


def save_snapshot(
    session: Session, name: str, *, computed_at: datetime, data: dict[str, Any]
) -> None:
    row = snapshot(session, name)
    if row is None:
        session.add(ReportSnapshot(name=name, computed_at=computed_at, data=data))
    else:
        row.computed_at, row.data = computed_at, data
    session.flush()
