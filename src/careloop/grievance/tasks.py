"""What the worker does when a grievance window is due."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.grievance import service
from careloop.referral import moves
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus


def on_window_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The complaint was not acknowledged (or resolved) in time: on the timeline, and up
    to a supervisor."""
    if row.referral_id is None or not service.on_window_due(session, row.subject_id, row.kind):
        return ClockStatus.met
    referral = moves.locked(session, row.referral_id)
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "sla.breached",
        now=clock.now(),
        clock=row.kind.value,
        clock_id=row.id,
        due_at=row.due_at.isoformat(),
    )
    moves.escalate(session, SYSTEM_ACTOR, referral, "grievance window missed", clock=clock)
    return ClockStatus.breached
