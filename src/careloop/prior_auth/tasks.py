"""What the worker does when a prior-authorisation clock is due."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.db import outbox
from careloop.prior_auth import rules
from careloop.prior_auth.models import AuthorizationRequest
from careloop.referral import moves
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus


def _subject(session: Session, row: ClockRow) -> AuthorizationRequest | None:
    return session.get(AuthorizationRequest, row.subject_id) if row.subject_id else None


def on_decision_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The payer's decision is overdue: escalate so someone chases the reviewer."""
    request = _subject(session, row)
    if request is None or request.status not in rules.DECIDABLE or row.referral_id is None:
        return ClockStatus.met
    referral = moves.locked(session, row.referral_id)
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "sla.breached",
        now=clock.now(),
        clock="authorization_decision",
        clock_id=row.id,
        due_at=row.due_at.isoformat(),
    )
    moves.escalate(
        session, SYSTEM_ACTOR, referral, "prior-authorisation decision overdue", clock=clock
    )
    return ClockStatus.breached


def on_appeal_deadline(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """The appeal window closed without an appeal: on the timeline, for the record."""
    request = _subject(session, row)
    if request is None or request.status is not rules.AuthorizationStatus.denied:
        return ClockStatus.met
    if row.referral_id is not None:
        referral = moves.locked(session, row.referral_id)
        moves.event(
            session,
            SYSTEM_ACTOR,
            referral,
            "authorization.appeal_window_closed",
            now=clock.now(),
            authorization_id=request.id,
        )
    return ClockStatus.breached


def on_expiry_warning(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """An authorisation ends soon: tell the case manager to renew it."""
    request = _subject(session, row)
    if request is None or request.status not in rules.FINAL or row.referral_id is None:
        return ClockStatus.met
    referral = moves.locked(session, row.referral_id)
    now = clock.now()
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "authorization.expiring",
        now=now,
        authorization_id=request.id,
        valid_to=str(request.valid_to),
    )
    outbox.enqueue(
        session,
        dedupe_key=f"authorization.expiring:{row.id}",
        audience="staff",
        recipient="case_manager",
        template="authorization.expiring",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"authorization_id": request.id, "valid_to": str(request.valid_to)},
    )
    return ClockStatus.met
