"""The rows of the files exchanged: an outbound file stored before it is handed over, an
inbound one recorded with its outcome (applied, or kept without effect and the reason
said). Shared by the transaction sets' use cases (service.py, claim_status.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.clearinghouse import repository
from careloop.clearinghouse.envelope import Interchange, Party
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import ClearinghouseConfig, Direction, ExchangeStatus
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.payer.models import Payer
from careloop.referral import moves
from careloop.referral.models import Referral


@dataclass(frozen=True, slots=True)
class Sent:
    exchange_id: int
    transaction: str
    case_number: str
    file_name: str
    control_number: str
    trace: str


@dataclass(frozen=True, slots=True)
class Received:
    file_name: str
    status: ExchangeStatus
    transaction: str
    case_number: str | None
    detail: str
    duplicate: bool = False
    #: A 999 written back for an unreadable file.
    acknowledgment: str | None = None


def us(config: ClearinghouseConfig) -> Party:
    return Party(config.qualifier, config.sender_id)


def new_outbound(
    session: Session, transaction: str, partner: str, referral: Referral, now: datetime
) -> X12Exchange:
    # The row's id becomes the interchange control number; until the flush gives it,
    # a unique placeholder keeps the (direction, partner, control) key free.
    row = X12Exchange(
        direction=Direction.outbound,
        transaction=transaction,
        status=ExchangeStatus.pending,
        partner=partner,
        control_number=uuid.uuid4().hex[:20],
        referral_id=referral.id,
        file_name="",
        payload="",
        created_at=now,
    )
    session.add(row)
    session.flush()
    row.control_number = f"{row.id:09d}"
    row.trace = f"{referral.case_number}-{row.id}"
    row.file_name = f"{transaction}-{partner}-{row.control_number}.x12"
    return row


def ignore(
    session: Session,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    request: X12Exchange | None,
    now: datetime,
    transaction: str,
    case_number: str | None,
    detail: str,
) -> Received:
    """Keep an answer that changes nothing, with the reason, and say so."""
    record_inbound(
        session,
        name,
        text,
        interchange,
        status=ExchangeStatus.ignored,
        request=request,
        now=now,
        error=detail,
    )
    return Received(name, ExchangeStatus.ignored, transaction, case_number, detail)


def record_inbound(
    session: Session,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    status: ExchangeStatus,
    request: X12Exchange | None,
    now: datetime,
    error: str | None = None,
) -> X12Exchange:
    row = X12Exchange(
        direction=Direction.inbound,
        transaction=interchange.transactions[0].code,
        status=status,
        partner=interchange.sender_id,
        control_number=interchange.control_number,
        trace=request.trace if request else None,
        referral_id=request.referral_id if request else None,
        authorization_id=request.authorization_id if request else None,
        answers_id=request.id if request else None,
        file_name=name[:200],
        payload=text,
        error=error,
        created_at=now,
        processed_at=now,
    )
    session.add(row)
    if request is not None and status is ExchangeStatus.applied:
        request.status = ExchangeStatus.answered
        request.processed_at = now
    session.flush()
    return row


def case_of(session: Session, actor: Actor, request: X12Exchange | None) -> Referral | None:
    """The case an outbound request was about, if the actor may see it."""
    if request is None or request.referral_id is None:
        return None
    return moves.visible_by_id(session, actor, request.referral_id)


def request_answered(
    session: Session, *, trace: str, reference: str, transaction: str, partner: str
) -> X12Exchange | None:
    """The outbound request an answer from ``partner`` is about: by the trace it echoes
    (TRN*2), or, when the payer refused it above the loop that carries the trace, by
    the BHT03 it echoes (CareLoop's '<transaction>-<row>'). Locked."""
    if trace:
        return repository.request_by_trace(session, trace, transaction, partner)
    prefix, _, row = reference.partition("-")
    if prefix != transaction or not row.isdigit() or len(row) > 12:
        return None
    return repository.request_by_id(session, int(row), transaction, partner)


def refused(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    request: X12Exchange,
    referral: Referral,
    event: str,
    reason: str,
    clock: Clock,
) -> Received:
    """An answer whose AAA says the payer refused the request without answering it:
    nothing is decided; the request is marked rejected with the reason in plain words,
    and the case's timeline says so (``event``, with the payer and the reason)."""
    now = clock.now()
    said = {"270": "inquiry without answering it"}.get(
        request.transaction, "request without reviewing it"
    )
    record_inbound(
        session, name, text, interchange, status=ExchangeStatus.applied, request=request, now=now
    )
    payer = session.get(Payer, referral.payer_id) if referral.payer_id is not None else None
    request.status = ExchangeStatus.rejected
    request.error = f"the payer refused the {said}: {reason}"
    moves.record_event(
        session,
        actor,
        referral,
        event,
        clock=clock,
        payer=interchange.sender_id,
        payer_name=payer.name if payer is not None else None,
        reason=reason,
        internal=True,
    )
    session.flush()
    return Received(
        name,
        ExchangeStatus.applied,
        interchange.transactions[0].code,
        referral.case_number,
        request.error,
    )
