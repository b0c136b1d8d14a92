"""A partner's TA1 interchange acknowledgments, read back onto the interchanges they name.

A clearinghouse or payer answers an interchange's envelope with a TA1 (X12.6): TA101 the
interchange control number (ISA13) of the file it acknowledges, TA104 its verdict (A
accepted, E accepted with errors, R rejected) and TA105 the note code. A rejected
interchange is marked rejected with the note in plain words (and the claim it carried
told so); an accepted one waits for its answer as before. The TA1 file itself is
recorded, applied when it names a file CareLoop sent, otherwise kept with the reason.
An acknowledgment is never acknowledged: no 999 or TA1 goes back for it.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.clearinghouse import claim_files, repository, rules
from careloop.clearinghouse.envelope import Interchange, Segment, X12FormatError
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.records import Received
from careloop.clearinghouse.rules import Direction, ExchangeStatus
from careloop.core.actor import Actor
from careloop.core.clock import Clock


def apply_ta1(
    session: Session, actor: Actor, name: str, text: str, interchange: Interchange, *, clock: Clock
) -> Received:
    """Record each TA1 of an interchange of acknowledgments alone on the outbound
    interchange it names (a file read before is found by ``service.receive_file``). A TA1
    that cannot be read raises :class:`X12FormatError` (the file is rejected, nothing
    applied)."""
    partner, now = interchange.sender_id, clock.now()
    answered, detail = acknowledge(session, actor, interchange, clock=clock)
    status = ExchangeStatus.applied if answered is not None else ExchangeStatus.ignored
    session.add(
        X12Exchange(
            direction=Direction.inbound,
            transaction="TA1",
            status=status,
            partner=partner[:80],
            control_number=interchange.control_number,
            trace=answered.trace if answered else None,
            referral_id=answered.referral_id if answered else None,
            answers_id=answered.id if answered else None,
            file_name=name[:200],
            payload=text,
            error=None if answered else detail,
            created_at=now,
            processed_at=now,
        )
    )
    session.flush()
    return Received(name, status, "TA1", None, detail)


def acknowledge(
    session: Session, actor: Actor, interchange: Interchange, *, clock: Clock
) -> tuple[X12Exchange | None, str]:
    """Apply the interchange's TA1 segments to the outbound interchanges they name (a
    rejection marks it rejected, and the claim it carried); the first interchange named
    and what was said of each, in plain words. The caller records the file."""
    partner, now = interchange.sender_id, clock.now()
    acknowledgments = [_read(s) for s in interchange.acknowledgments]
    answered: X12Exchange | None = None
    details = []
    for control, code, note in acknowledgments:
        said = rules.ta1_outcome(code, note)
        request = repository.find(session, Direction.outbound, partner, control)
        if request is None:
            details.append(f"{said}, but it names no interchange CareLoop sent ({control})")
            continue
        answered = answered or request
        details.append(f"{said}: {request.file_name}")
        if code == "R":
            request.status = ExchangeStatus.rejected
            request.error = said
            request.processed_at = now
            if request.claim_id is not None:
                claim_files.acknowledged(
                    session,
                    actor,
                    request.claim_id,
                    accepted=False,
                    detail=said,
                    clock=clock,
                )
    return answered, "; ".join(details)


def _read(ta1: Segment) -> tuple[str, str, str]:
    """TA101 (nine digits), TA104 (A, E or R) and TA105 (a known note code)."""
    control, code, note = ta1.get(1), ta1.get(4), ta1.get(5)
    for element, valid, wanted in (
        (1, len(control) == 9 and control.isdigit(), "the nine-digit interchange control number"),
        (4, code in rules.TA1_CODES, "A, E or R"),
        (5, note in rules.TA1_NOTES, "a note code from 000 to 031"),
    ):
        if not valid:
            raise X12FormatError(
                f"TA1{element:02d} must be {wanted}",
                segment="TA1",
                position=ta1.position,
                element=element,
            )
    return control, code, note
