"""Sending a prepared claim to its payer, and the payer's 999 on it.

The clearinghouse carries the file (it calls these functions; nothing here knows the
folder): it takes a claim that is ready (the claim row locked, so two passes cannot
both take it), stores the claim's 837P in its own envelope after pyx12 finds 0 errors
in it again, and marks the claim sent only once the file was handed over. A claim whose
stored 837P no longer passes is not sent: a work item says what pyx12 found. The
payer's 999 then says accepted (the 835 follows) or rejected (a person corrects the
claim and prepares it again; its filing window keeps running).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.claim import status, x837
from careloop.claim.models import Claim
from careloop.claim.rules import CLAIM_STATUS_WORDS, ClaimStatus
from careloop.claim.service import ClaimRefusedError
from careloop.claim.status import ClaimNotFoundError
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, FieldError
from careloop.identity.permissions import require
from careloop.payer.models import Payer
from careloop.referral import moves
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus


class ClaimAlreadySentError(ConflictError):
    code = "claim_already_sent"
    title = "The claim went to the payer already"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claim taken for sending: what the clearinghouse addresses the file with."""

    claim_id: int
    claim_number: str
    referral_id: int
    case_number: str
    payer_code: str | None


def ready_to_send(session: Session, *, limit: int = 100) -> list[str]:
    """Claim numbers whose 837P is prepared and not yet stored to go, oldest first."""
    return list(
        session.scalars(
            select(Claim.claim_number)
            .where(Claim.status == ClaimStatus.prepared)
            .order_by(Claim.created_at, Claim.id)
            .limit(limit)
        )
    )


def take(session: Session, actor: Actor, claim_number: str, *, clock: Clock) -> Outgoing:
    """Lock a ready claim for sending (a second taker waits, then finds it taken)."""
    require(actor, "claim:send")
    claim, referral = status.visible_claim(session, actor, claim_number, "claim.send", clock=clock)
    if claim.status != ClaimStatus.prepared:
        words = CLAIM_STATUS_WORDS.get(claim.status, claim.status)
        raise ClaimAlreadySentError(
            f"Claim {claim.claim_number} is not waiting to be sent (it is: {words})."
        )
    payer = session.get(Payer, claim.payer_id) if claim.payer_id else None
    return Outgoing(
        claim.id,
        claim.claim_number,
        referral.id,
        referral.case_number,
        payer.code if payer else None,
    )


def queue(
    session: Session,
    taken: Outgoing,
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control_number: int,
    created: datetime,
) -> str:
    """The claim's stored 837P in the clearinghouse's envelope, checked again by pyx12
    (0 errors, or :class:`ClaimRefusedError` listing them and nothing changes); the
    claim then waits for the file to be handed over."""
    claim = _claim(session, taken.claim_id)
    try:
        text = x837.reenvelope(
            claim.x12,
            sender=sender,
            receiver=receiver,
            control_number=control_number,
            created=created.replace(tzinfo=None),
        )
    except ValueError as exc:
        raise ClaimRefusedError(
            f"claim {claim.claim_number} was not sent: {exc}",
            errors=[FieldError("x12", str(exc))],
        ) from None
    problems = x837.validate(text)
    if problems:
        raise ClaimRefusedError(
            f"claim {claim.claim_number} was not sent: pyx12 found {len(problems)} error(s) "
            "in its 837P",
            errors=[FieldError(p.segment or "x12", str(p)) for p in problems],
        )
    claim.status = ClaimStatus.queued
    session.flush()
    return text


def refused(session: Session, claim_number: str, error: ClaimRefusedError, *, clock: Clock) -> None:
    """A claim that could not be sent: a work item says what to fix (once per claim)."""
    claim = session.scalars(select(Claim).where(Claim.claim_number == claim_number)).first()
    if claim is None:
        return
    found = "; ".join(e.message for e in error.errors[:3]) or error.detail
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=claim.referral_id,
        kind="claim_refused",
        team="case_management",
        # Stable, so a pass that finds it still unsent does not move the item.
        due_at=claim.created_at,
        subject=f"claim:{claim.id}:send",
        title=(
            f"Claim {claim.claim_number} was not sent: its 837P no longer passes the checks "
            f"({found}). Correct the case and prepare the claim again."
        )[:300],
    )


def mark_sent(session: Session, actor: Actor, claim_id: int, *, clock: Clock) -> None:
    """The claim's 837P was handed to the clearinghouse: now it is sent to the payer."""
    require(actor, "claim:send")
    claim = _claim(session, claim_id, lock=True)
    if claim.status != ClaimStatus.queued:
        return
    now = clock.now()
    claim.status, claim.sent_at = ClaimStatus.sent, now
    referral = moves.locked(session, claim.referral_id)
    moves.event(session, actor, referral, "claim.sent", now=now, claim_number=claim.claim_number)
    session.flush()


def record_acknowledgment(
    session: Session,
    actor: Actor,
    claim_id: int,
    *,
    accepted: bool,
    detail: str,
    clock: Clock,
) -> str:
    """The payer's 999 on the claim's 837P: accepted (the 835 follows), or rejected (a
    work item: correct the claim and prepare it again). A claim the payer answered
    already (an 835) keeps its status. Returns the claim's number."""
    require(actor, "claim:send")
    claim = _claim(session, claim_id, lock=True)
    if claim.status not in (ClaimStatus.queued, ClaimStatus.sent):
        return claim.claim_number
    now = clock.now()
    claim.status = ClaimStatus.accepted if accepted else ClaimStatus.rejected
    claim.acknowledged_at = now
    referral = moves.locked(session, claim.referral_id)
    moves.event(
        session,
        actor,
        referral,
        "claim.accepted" if accepted else "claim.rejected",
        now=now,
        claim_number=claim.claim_number,
        reason=detail[:200],
    )
    if accepted:
        # Filed: the payer holds the claim within its window, whatever it decides later.
        clocks.close(
            session,
            claim.referral_id,
            [ClockKind.timely_filing],
            status=ClockStatus.met,
            at=now,
            subject_id=claim.id,
        )
    else:
        events.publish(
            "work.needed",
            session=session,
            clock=clock,
            referral_id=claim.referral_id,
            kind="claim_status",
            team="case_management",
            due_at=now,
            subject=f"claim:{claim.id}:rejected",
            title=(
                f"Claim {claim.claim_number} was rejected by the payer ({detail}): "
                "correct the case and prepare the claim again"
            )[:300],
        )
    audit.record(
        session,
        actor,
        "claim.acknowledged",
        clock=clock,
        referral_id=claim.referral_id,
        detail={"claim_id": claim.id, "accepted": accepted},
    )
    session.flush()
    return claim.claim_number


def _claim(session: Session, claim_id: int, *, lock: bool = False) -> Claim:
    stmt = select(Claim).where(Claim.id == claim_id)
    claim = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if claim is None:
        raise ClaimNotFoundError(f"There is no claim {claim_id}.")
    return claim
