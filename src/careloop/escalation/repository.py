"""Escalation queries (no commit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.escalation.models import Escalation
from careloop.escalation.rules import Promise, Status


def of_case(session: Session, referral_id: int) -> list[Escalation]:
    stmt = (
        select(Escalation)
        .where(Escalation.referral_id == referral_id)
        .order_by(Escalation.opened_at.desc(), Escalation.id.desc())
    )
    return list(session.scalars(stmt))


def get_of_case(
    session: Session, referral_id: int, escalation_id: int, *, for_update: bool = False
) -> Escalation | None:
    stmt = select(Escalation).where(
        Escalation.id == escalation_id, Escalation.referral_id == referral_id
    )
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def lock(session: Session, escalation_id: int) -> Escalation | None:
    stmt = select(Escalation).where(Escalation.id == escalation_id).with_for_update()
    return session.scalars(stmt).first()


def open_load(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """How many unresolved escalations each supervisor holds."""
    if not user_ids:
        return {}
    stmt = (
        select(Escalation.supervisor_user_id, func.count())
        .where(
            Escalation.supervisor_user_id.in_(list(user_ids)),
            Escalation.status != Status.resolved,
        )
        .group_by(Escalation.supervisor_user_id)
    )
    return {uid: n for uid, n in session.execute(stmt) if uid is not None}


def open_count(session: Session, referral_id: int) -> int:
    stmt = select(func.count()).where(
        Escalation.referral_id == referral_id, Escalation.status != Status.resolved
    )
    return int(session.scalar(stmt) or 0)


def promises_between(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """Promises (committed ETAs) decided in [start, end): how many kept, how many missed."""
    stmt = (
        select(Escalation.promise, func.count())
        .where(
            Escalation.promise.is_not(None),
            Escalation.promise_decided_at >= start,
            Escalation.promise_decided_at < end,
        )
        .group_by(Escalation.promise)
    )
    counts = {p: n for p, n in session.execute(stmt) if p is not None}
    return counts.get(Promise.kept, 0), counts.get(Promise.missed, 0)
