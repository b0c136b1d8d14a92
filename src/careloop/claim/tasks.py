"""What the worker does when a claim's timely-filing clock is due: at 75 % of the window
it asks for a person (a work item); some days before the window closes it escalates
the case. A claim the payer has answered is done (the clock is met)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.claim import delivery
from careloop.claim.models import Claim
from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.referral import moves
from careloop.sla import service as clocks
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus

ANSWERED = frozenset({"paid", "partly_paid", "denied"})


def on_filing_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    claim = session.get(Claim, row.subject_id) if row.subject_id else None
    if claim is None or claim.status in ANSWERED:
        return ClockStatus.met
    now = clock.now()
    if now < claim.filing_escalates_at:
        events.publish(
            "work.needed",
            session=session,
            clock=clock,
            referral_id=claim.referral_id,
            kind="timely_filing",
            team="case_management",
            due_at=claim.filing_escalates_at,
            subject=f"claim:{claim.id}:filing",
            title=(
                f"Claim {claim.claim_number} has used three quarters of its filing window: "
                "send it or correct it before the window closes"
            ),
        )
        clocks.start(
            session,
            kind=ClockKind.timely_filing,
            referral_id=claim.referral_id,
            subject_id=claim.id,
            due_at=claim.filing_escalates_at,
            rule_source=row.rule_source,
            time_zone=row.time_zone,
            now=now,
        )
        return ClockStatus.met
    referral = moves.locked(session, claim.referral_id)
    moves.escalate(
        session, SYSTEM_ACTOR, referral, "claim filing window about to close", clock=clock
    )
    return ClockStatus.breached


def on_claim_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """A delivery or visit was done: prepare its claim (or say what stops it)."""
    if row.subject_id is not None:
        delivery.bill_appointment(session, row.subject_id, clock=clock)
    return ClockStatus.met
