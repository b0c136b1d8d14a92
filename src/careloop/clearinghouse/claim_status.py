"""Claim status with payers through the clearinghouse (005010X212): a 276 asking about a
claim, stored and handed over like the 270 and 278; the payer's 277 read back into the
claim through the claim domain's public surface (``claim.status``).

A 277 is read whole before anything changes: a damaged file raises
:class:`~careloop.clearinghouse.envelope.X12FormatError` (rejected, with a 999 when it can
be addressed); one that answers no inquiry CareLoop sent, or names a status category no
payer uses, is kept with the reason and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.claim import status as claim_status
from careloop.clearinghouse import repository, rules, x276
from careloop.clearinghouse.envelope import Interchange, Party
from careloop.clearinghouse.records import (
    Received,
    Sent,
    case_of,
    ignore,
    new_outbound,
    record_inbound,
    us,
)
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.identity.permissions import require
from careloop.referral import moves


def send_status_inquiry(
    session: Session,
    actor: Actor,
    claim_number: str,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Sent:
    """Store a 276 asking the claim's payer for its status (sent by the next delivery
    to the clearinghouse); the claim records that it was asked."""
    require(actor, "x12:exchange")
    query = claim_status.status_query(session, actor, claim_number, clock=clock)
    referral = moves.visible_by_id(session, actor, query.referral_id, for_update=True)
    assert referral is not None  # status_query found the claim on a case the actor sees
    now = clock.now()
    partner = rules.payer_x12_id(query.payer_code, config.payer_ids)
    row = new_outbound(session, "276", partner, referral, now)
    inquiry = x276.StatusInquiry(
        trace=row.trace or "",
        reference=f"276-{row.id}",
        created=now,
        payer_name=query.payer_name,
        payer_id=partner,
        receiver_name=config.requester_name,
        receiver_tax_id=claim_status.coordinator_tax_id(session),
        provider_name=query.provider_name,
        provider_npi=query.provider_npi,
        member_last=query.member_last,
        member_first=query.member_first,
        member_id=query.member_id,
        claim_number=query.claim_number,
        charge=query.charge,
        service_from=query.service_from,
        service_to=query.service_to,
    )
    row.payload = x276.inquiry_text(
        inquiry,
        sender=us(config),
        receiver=Party(config.qualifier, partner),
        control_number=row.id,
        created=now,
    )
    claim_status.mark_asked(session, actor, query.claim_number, clock=clock)
    session.flush()
    return Sent(
        row.id, "276", referral.case_number, row.file_name, row.control_number, row.trace or ""
    )


def apply_277(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    clock: Clock,
) -> Received:
    """Record a payer's 277 on the claim its 276 asked about."""
    answer = x276.read_answer(text, interchange)
    request = repository.request_by_trace(session, answer.trace, "276", interchange.sender_id)
    now = clock.now()

    def kept(detail: str, case_number: str | None) -> Received:
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="277",
            case_number=case_number,
            detail=detail,
        )

    referral = case_of(session, actor, request)
    if request is None or referral is None:
        return kept(
            f"the 277 answers no inquiry CareLoop sent to {interchange.sender_id} "
            f"(trace {answer.trace[:60]!r})",
            None,
        )
    try:
        with session.begin_nested():
            read = claim_status.record_payer_status(
                session,
                actor,
                answer.claim_number,
                category=answer.category,
                code=answer.code,
                effective=answer.effective,
                source=f"277 from {interchange.sender_id}, "
                f"interchange {interchange.control_number}",
                referral_id=referral.id,
                clock=clock,
            )
    except DomainError as exc:
        return kept(exc.detail, referral.case_number)
    record_inbound(
        session, name, text, interchange, status=ExchangeStatus.applied, request=request, now=now
    )
    return Received(
        name,
        ExchangeStatus.applied,
        "277",
        referral.case_number,
        f"claim {read.claim_number}: {read.payer_status_words}",
    )


def simulated_answer(
    text: str, interchange: Interchange, *, now: datetime, config: ClearinghouseConfig
) -> str:
    """The sandbox payer's 277 to a 276 (:func:`rules.simulate_claim_status`)."""
    inquiry = x276.read_inquiry(text, interchange)
    code = rules.payer_code_of(interchange.receiver_id, config.payer_ids)
    decided = rules.simulate_claim_status(
        config.simulator_rules(code), service_to=inquiry.service_to, today=now.date()
    )
    answer = x276.StatusAnswer(
        trace=inquiry.trace,
        claim_number=inquiry.claim_number,
        category=decided.category,
        code=decided.code,
        effective=now.date(),
        charge=inquiry.charge,
        paid=inquiry.charge if decided.paid else None,
    )
    return x276.answer_text(
        answer,
        inquiry,
        sender=Party(config.qualifier, interchange.receiver_id),
        receiver=Party(config.qualifier, interchange.sender_id),
        control_number=int(interchange.control_number),
        created=now,
    )
