"""What the worker does when an appeal clock is due."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.appeal import service
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.referral import moves
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus


def on_filing_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The next level was not filed in its window: the appeal closes with that reason."""
    if row.subject_id is None:
        return ClockStatus.met
    referral = service.lapse_filing(session, row.subject_id, now=clock.now())
    if referral is None:
        return ClockStatus.met
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "appeal.lapsed",
        now=clock.now(),
        appeal_id=row.subject_id,
    )
    return ClockStatus.breached


def on_decision_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The payer's decision on the appeal is overdue: escalate so someone chases it."""
    if row.subject_id is None or row.referral_id is None:
        return ClockStatus.met
    appeal = service.decision_overdue(session, row.subject_id)
    if appeal is None:
        return ClockStatus.met
    referral = moves.locked(session, row.referral_id)
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "sla.breached",
        now=clock.now(),
        clock="appeal_decision",
        clock_id=row.id,
        due_at=row.due_at.isoformat(),
    )
    moves.escalate(session, SYSTEM_ACTOR, referral, "appeal decision overdue", clock=clock)
    return ClockStatus.breached
