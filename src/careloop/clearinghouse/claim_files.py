"""Claims with payers through the clearinghouse: a prepared claim's 837P goes out like
the 270, 276 and 278 (stored as an exchanged file, then handed over; the claim is sent
only once it was handed over), the payer's 999 on it and its 835 remittance come back
into the claim domain through its public surface (``claim.submission``,
``claim.service.import_835``).

A claim is sent once: the claim row is locked while it is taken and the exchanged file
carries the claim under a unique constraint. An 835 pyx12 finds errors in is rejected
whole (a 999 naming the segment goes back) and posts nothing.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.claim import service as claim_service
from careloop.claim import submission
from careloop.claim.x835 import RemittanceRefusedError
from careloop.clearinghouse import rules
from careloop.clearinghouse.envelope import Interchange, X12FormatError
from careloop.clearinghouse.records import Received, Sent, ignore, new_outbound, record_inbound
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import DomainError, RuleViolationError
from careloop.identity.permissions import require
from careloop.referral import moves

#: ISA13 of the sandbox payer's 835 for the 837 numbered N: N in a range of its own, so
#: it never meets the 999 that answered the same file (both come from the payer).
REMITTANCE_CONTROL_BASE = 835_000_000


class NoPayerToBillError(RuleViolationError):
    code = "claim_no_payer"
    title = "The claim names no payer to send it to"


def send_claim(
    session: Session,
    actor: Actor,
    claim_number: str,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Sent:
    """Store a prepared claim's 837P (checked by pyx12 again, in the clearinghouse's
    envelope) to go with the next delivery to the clearinghouse. Raises
    ``ClaimAlreadySentError`` for a claim taken already and ``ClaimRefusedError``
    (with pyx12's errors) for one whose 837P no longer passes; nothing is stored then."""
    require(actor, "x12:exchange")
    taken = submission.take(session, actor, claim_number, clock=clock)
    if not taken.payer_code:
        raise NoPayerToBillError(
            f"Claim {taken.claim_number} names no payer: it cannot be sent.", field="payer"
        )
    referral = moves.visible_by_id(session, actor, taken.referral_id, for_update=True)
    assert referral is not None  # take() found the claim on a case the actor sees
    now = clock.now()
    partner = rules.payer_x12_id(taken.payer_code, config.payer_ids)
    row = new_outbound(session, "837", partner, referral, now)
    row.claim_id = taken.claim_id
    row.payload = submission.queue(
        session,
        taken,
        sender=(config.qualifier, config.sender_id),
        receiver=(config.qualifier, partner),
        control_number=row.id,
        created=now,
    )
    session.flush()
    return Sent(row.id, "837", referral.case_number, row.file_name, row.control_number, "")


def ready_to_send(session: Session, *, limit: int = 100) -> list[str]:
    """Claim numbers prepared and not yet sent, oldest first."""
    return submission.ready_to_send(session, limit=limit)


def refused(
    session: Session, claim_number: str, error: claim_service.ClaimRefusedError, *, clock: Clock
) -> None:
    """A claim that could not be sent: its work item (see ``claim.submission``)."""
    submission.refused(session, claim_number, error, clock=clock)


def handed_over(session: Session, actor: Actor, claim_id: int, *, clock: Clock) -> None:
    """The 837P file left: the claim is sent to the payer."""
    submission.mark_sent(session, actor, claim_id, clock=clock)


def acknowledged(
    session: Session, actor: Actor, claim_id: int, *, accepted: bool, detail: str, clock: Clock
) -> str:
    """The payer's 999 on a claim's 837P, recorded on the claim; returns its number."""
    return submission.record_acknowledgment(
        session, actor, claim_id, accepted=accepted, detail=detail, clock=clock
    )


def apply_835(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    clock: Clock,
) -> Received:
    """Post a payer's 835 through the claim domain. One pyx12 finds errors in raises
    :class:`X12FormatError` (rejected whole, a 999 goes back; nothing posted)."""
    try:
        with session.begin_nested():
            posted = claim_service.import_835(session, actor, text, clock=clock)
    except RemittanceRefusedError as exc:
        line = exc.extra.get("line")
        position = line if isinstance(line, int) and line > 0 else 1
        raise X12FormatError(
            exc.detail,
            segment=str(exc.extra.get("segment") or "ST"),
            position=position,
            in_transaction=max(position - 2, 1),
            control_number=interchange.transactions[0].control_number,
        ) from None
    except DomainError as exc:
        return ignore(
            session,
            name,
            text,
            interchange,
            request=None,
            now=clock.now(),
            transaction="835",
            case_number=None,
            detail=exc.detail,
        )
    record_inbound(
        session,
        name,
        text,
        interchange,
        status=ExchangeStatus.applied,
        request=None,
        now=clock.now(),
    )
    detail = f"{posted.claims_posted} claim(s) posted, {posted.denials} denied" + (
        f", {len(posted.unmatched)} not CareLoop's" if posted.unmatched else ""
    )
    return Received(name, ExchangeStatus.applied, "835", None, detail)
