"""What the worker does when a case's clock is due (DESIGN.md §3). Each handler runs in
the worker's transaction with the clock it fires; the clock is marked by the caller."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR
from careloop.db import outbox
from careloop.referral import repository
from careloop.referral.enums import OPEN_STATUSES, ReferralStatus
from careloop.referral.models import Referral
from careloop.sla.models import Clock, ClockStatus

#: Statuses in which a provider has taken the case: a discharge is no longer at risk.
_PLACED = frozenset({ReferralStatus.accepted})


def _event(session: Session, referral: Referral, type_: str, now: datetime, **data: object) -> None:
    repository.insert_events(
        session,
        [
            {
                "referral_id": referral.id,
                "at": now,
                "type": type_,
                "actor_user_id": None,
                "actor_label": SYSTEM_ACTOR.label,
                "channel": None,
                "provider_id": None,
                "data": dict(data),
            }
        ],
    )


def _escalate(
    session: Session, referral: Referral, clock: Clock, reason: str, now: datetime
) -> None:
    referral.escalated = True
    referral.escalation_reason = reason
    referral.updated_at = now
    _event(session, referral, "referral.escalated", now, reason=reason, clock_id=clock.id)
    outbox.enqueue(
        session,
        dedupe_key=f"escalation:{clock.id}",
        audience="staff",
        recipient="supervisors",
        template="referral.escalated",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"reason": reason},
    )


def _case(session: Session, clock: Clock) -> Referral | None:
    if clock.referral_id is None:
        return None
    return repository.lock_by_id(session, clock.referral_id)


def _breach(
    session: Session, referral: Referral, clock: Clock, *, name: str, reason: str, now: datetime
) -> ClockStatus:
    """Record a breached deadline on the timeline and escalate the case."""
    _event(
        session,
        referral,
        "sla.breached",
        now,
        clock=name,
        clock_id=clock.id,
        due_at=clock.due_at.isoformat(),
    )
    _escalate(session, referral, clock, reason, now)
    return ClockStatus.breached


def on_acknowledgement_due(session: Session, clock: Clock, now: datetime) -> ClockStatus:
    """The first business day passed without an acknowledgement: escalate."""
    referral = _case(session, clock)
    if referral is None or referral.acknowledged_at is not None:
        return ClockStatus.met
    return _breach(
        session, referral, clock, name="acknowledgement", reason="acknowledgement overdue", now=now
    )


def on_service_warning(session: Session, clock: Clock, now: datetime) -> ClockStatus:
    """Most of the service window has passed: tell the case manager before it breaches."""
    referral = _case(session, clock)
    if referral is None or referral.status not in OPEN_STATUSES:
        return ClockStatus.met
    _event(
        session,
        referral,
        "sla.warning",
        now,
        clock="service_start",
        clock_id=clock.id,
        due_at=referral.service_due_at.isoformat(),
    )
    outbox.enqueue(
        session,
        dedupe_key=f"warning:{clock.id}",
        audience="staff",
        recipient="case_manager",
        template="sla.warning",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"due_at": referral.service_due_at.isoformat()},
    )
    return ClockStatus.met


def on_service_due(session: Session, clock: Clock, now: datetime) -> ClockStatus:
    """The service start deadline passed with the case still open: breach, escalate."""
    referral = _case(session, clock)
    if referral is None or referral.status not in OPEN_STATUSES:
        return ClockStatus.met
    return _breach(
        session, referral, clock, name="service_start", reason="service start overdue", now=now
    )


def on_discharge_watch(session: Session, clock: Clock, now: datetime) -> ClockStatus:
    """The discharge is less than a day away and no provider has taken the case."""
    referral = _case(session, clock)
    if referral is None or referral.status not in OPEN_STATUSES or referral.status in _PLACED:
        return ClockStatus.met
    _escalate(session, referral, clock, "discharge at risk: no provider has accepted", now)
    outbox.enqueue(
        session,
        dedupe_key=f"discharge:{clock.id}",
        audience="referrer",
        recipient=str(referral.referrer_organization_id or ""),
        template="discharge.at_risk",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
    )
    return ClockStatus.breached
