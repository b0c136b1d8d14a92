"""What the worker does when an escalation's window passes, and on a breached deadline."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.escalation import service
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus

#: Breached deadlines of a case that open an escalation, and what they are in plain words.
ESCALATING_BREACHES = {
    ClockKind.acknowledgement: "The case was not acknowledged in time.",
    ClockKind.service_start: "The service did not start by its deadline.",
    ClockKind.discharge: "A hospital discharge is near and no provider has accepted.",
}


def on_commit_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    return service.on_commit_due(session, row.subject_id, now=clock.now())


def on_eta_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    return service.on_eta_due(session, row.subject_id, now=clock.now())


def on_breaches(
    session: Session, fired: Iterable[tuple[ClockRow, ClockStatus]], clock: Clock
) -> None:
    """Open an escalation (owned by a supervisor) for each case whose deadline breached."""
    for row, status in fired:
        what = ESCALATING_BREACHES.get(row.kind)
        if status is ClockStatus.breached and what and row.referral_id is not None:
            service.escalate_for_breach(session, row.referral_id, what, clock=clock)
