"""What the worker does when a claim's timely-filing clock is due: at 75 % of the window
it asks for a person (a work item); some days before the window closes it escalates
the case; when the window closes with the claim still not filed, the miss is on the
timeline (``claim.filing_window_missed``, what the KPI pack counts). A claim the payer
holds (its 999 accepted it) or has answered was filed: the clock is met."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.claim import delivery, rules
from careloop.claim.models import Claim
from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.referral import moves
from careloop.sla import service as clocks
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus


def on_filing_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    claim = session.get(Claim, row.subject_id) if row.subject_id else None
    if claim is None or claim.status in rules.FILED:
        return ClockStatus.met
    now = clock.now()
    if now >= claim.filing_closes_at:
        referral = moves.locked(session, claim.referral_id)
        moves.event(
            session,
            SYSTEM_ACTOR,
            referral,
            "claim.filing_window_missed",
            now=now,
            claim_number=claim.claim_number,
            closed_at=claim.filing_closes_at.isoformat(),
        )
        return ClockStatus.breached
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
        _again(session, claim, row, claim.filing_escalates_at, now)
        return ClockStatus.met
    referral = moves.locked(session, claim.referral_id)
    moves.escalate(
        session, SYSTEM_ACTOR, referral, "claim filing window about to close", clock=clock
    )
    _again(session, claim, row, claim.filing_closes_at, now)
    return ClockStatus.met


def _again(session: Session, claim: Claim, row: ClockRow, due_at: datetime, now: datetime) -> None:
    """The claim's filing clock, due again at the window's next step."""
    clocks.start(
        session,
        kind=ClockKind.timely_filing,
        referral_id=claim.referral_id,
        subject_id=claim.id,
        due_at=due_at,
        rule_source=row.rule_source,
        time_zone=row.time_zone,
        now=now,
    )


def on_claim_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """A delivery or visit was done: prepare its claim (or say what stops it)."""
    if row.subject_id is not None:
        delivery.bill_appointment(session, row.subject_id, clock=clock)
    return ClockStatus.met
