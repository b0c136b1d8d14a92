"""Clearinghouse use cases: send a case's 270 or 278, hand stored files to the exchange,
and read a payer's 271, 278 or 999 back into the case (a TA1: ``ta1.py``).

Each inbound file is read in one transaction: the answer is applied through the
eligibility or prior-authorisation domain's public surface and the file is recorded
with its interchange control number, so the same file read again changes nothing. A
file that cannot be read is recorded as rejected, and a 999 naming the segment goes
back to the sender when the group and transaction set could be identified.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from careloop.clearinghouse import (
    ack,
    claim_files,
    claim_status,
    repository,
    reviews,
    rules,
    ta1,
    x270,
    x278,
)
from careloop.clearinghouse.envelope import (
    Interchange,
    Party,
    X12FormatError,
    X12TooLargeError,
    canonical,
    clean,
    read_interchange,
    unwrapped,
)
from careloop.clearinghouse.exchange import Exchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.records import (
    Received,
    Sent,
    case_of,
    ignore,
    new_outbound,
    record_inbound,
    refused,
    request_answered,
    us,
)
from careloop.clearinghouse.rules import ClearinghouseConfig, Direction, ExchangeStatus
from careloop.codes import ServiceLine
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import DomainError, RuleViolationError
from careloop.eligibility import service as eligibility_service
from careloop.eligibility.rules import PayerAnswer
from careloop.identity.permissions import require
from careloop.payer.models import Payer
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import AuthorizationStatus, Priority
from careloop.prior_auth.schemas import (
    AuthorizationRead,
    AuthorizationRequestIn,
)
from careloop.referral import moves
from careloop.referral.enums import ReferralAction
from careloop.referral.models import Referral, ReferralItem

#: The identity that records payers' answers (timeline 'who', audit actor).
CLEARINGHOUSE_ACTOR = Actor(
    user_id=None, role=Role.service, organization_id=None, display_name="clearinghouse"
)


class NothingToAskError(RuleViolationError):
    code = "x12_nothing_to_ask"
    title = "The case lacks what the payer must be asked about"


# ---- sending ------------------------------------------------------------------------


def send_eligibility_inquiry(
    session: Session, actor: Actor, case_number: str, *, clock: Clock, config: ClearinghouseConfig
) -> Sent:
    """Store a 270 asking the member's payer about the requested start (sent by the next
    delivery to the clearinghouse)."""
    require(actor, "x12:exchange")
    referral = moves.visible_for_update(session, actor, case_number, "x12.send_270", clock=clock)
    moves.check(referral, ReferralAction.verify_eligibility, outcome="active")
    payer = _payer_of(session, referral)
    now = clock.now()
    row = new_outbound(session, "270", _x12_id(payer, config), referral, now)
    service_date = referral.requested_start or moves.local_today(referral, now)
    lines = {moves.service_line_of(referral, i) for i in moves.items_of(session, referral)}
    types = ("30", *sorted({rules.ELIGIBILITY_SERVICE_TYPE[ServiceLine(x)] for x in lines}))
    inquiry = x270.Inquiry(
        trace=row.trace or "",
        reference=f"270-{row.id}",
        created=now,
        payer_name=payer.name,
        payer_id=row.partner,
        requester_name=config.requester_name,
        requester_npi=config.requester_npi,
        member_last=_name(referral.member_last_name),
        member_first=_name(referral.member_first_name),
        member_id=referral.member_id or "",
        birth_date=referral.member_birth_date,
        sex=_sex(referral.member_sex),
        service_date=service_date,
        service_types=types,
    )
    text = x270.inquiry_text(
        inquiry,
        sender=us(config),
        receiver=Party(config.qualifier, row.partner),
        control_number=row.id,
        created=now,
    )
    return _stored(session, actor, referral, row, text, payer.name, clock=clock)


def send_review_request(
    session: Session, actor: Actor, case_number: str, *, clock: Clock, config: ClearinghouseConfig
) -> Sent:
    """Store a 278 asking the payer to authorise the case's items: the open request of
    the case when there is one, otherwise a new one (prior_auth starts its clock)."""
    require(actor, "x12:exchange")
    request = _open_request(session, actor, case_number, clock=clock)
    referral = moves.visible_for_update(session, actor, case_number, "x12.send_278", clock=clock)
    payer = _payer_of(session, referral)
    now = clock.now()
    row = new_outbound(session, "278", _x12_id(payer, config), referral, now)
    row.authorization_id = request.id
    start = referral.requested_start or moves.local_today(referral, now)
    end = start + timedelta(days=config.review_days - 1)
    items = {i.line: i for i in moves.items_of(session, referral)}
    services = tuple(
        x278.ServiceRequest(
            line=item.line,
            code=item.code,
            units=item.units_requested,
            service_type=_service_type(referral, items[item.line]),
            start=start,
            end=end,
        )
        for item in request.items
    )
    review = x278.ReviewRequest(
        trace=row.trace or "",
        reference=f"278-{row.id}",
        created=now,
        parties=_parties(referral, payer.name, row.partner, config),
        service_type=services[0].service_type if services else "42",
        diagnoses=tuple(referral.diagnoses),
        services=services,
        expedited=request.priority is Priority.expedited,
    )
    text = x278.write(
        x278.request_segments(review),
        sender=us(config),
        receiver=Party(config.qualifier, row.partner),
        control_number=row.id,
        created=now,
    )
    return _stored(session, actor, referral, row, text, payer.name, clock=clock)


def _open_request(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> AuthorizationRead:
    existing = prior_auth_service.list_authorizations(session, actor, case_number, clock=clock)
    waiting = [a for a in existing.items if a.status is AuthorizationStatus.requested]
    if waiting:
        return waiting[-1]
    return prior_auth_service.request_authorization(
        session, actor, case_number, AuthorizationRequestIn(), clock=clock
    )


def _service_type(referral: Referral, item: ReferralItem) -> str:
    line = ServiceLine(moves.service_line_of(referral, item))
    if line is ServiceLine.dme and item.rental:
        return rules.SERVICE_TYPE_DME_RENTAL
    return rules.SERVICE_TYPE[line]


def _parties(
    referral: Referral, payer_name: str, payer_id: str, config: ClearinghouseConfig
) -> x278.Parties:
    return x278.Parties(
        payer_name=payer_name,
        payer_id=payer_id,
        requester_name=config.requester_name,
        requester_npi=config.requester_npi,
        member_last=_name(referral.member_last_name),
        member_first=_name(referral.member_first_name),
        member_id=referral.member_id or "",
        birth_date=referral.member_birth_date,
        sex=_sex(referral.member_sex),
    )


def _name(value: str) -> str:
    """A name as X12's character set can carry it; a name written in another script
    altogether goes as UNKNOWN (the payer matches on the member ID and birth date)."""
    return clean(value, limit=60) or "UNKNOWN"


def _sex(value: str | None) -> str | None:
    return {"female": "F", "male": "M"}.get((value or "").lower(), "U" if value else None)


def _payer_of(session: Session, referral: Referral) -> Payer:
    payer = session.get(Payer, referral.payer_id) if referral.payer_id is not None else None
    if payer is None or not referral.member_id:
        raise NothingToAskError(
            "The case names no known payer and member ID: the payer cannot be asked.",
            field="coverage.member_id" if payer is not None else "coverage.payer_id",
        )
    return payer


def _x12_id(payer: Payer, config: ClearinghouseConfig) -> str:
    return rules.payer_x12_id(payer.code, config.payer_ids)


def _stored(
    session: Session,
    actor: Actor,
    referral: Referral,
    row: X12Exchange,
    text: str,
    payer_name: str,
    *,
    clock: Clock,
) -> Sent:
    row.payload = text
    moves.record_event(
        session,
        actor,
        referral,
        "x12.eligibility_inquiry_sent" if row.transaction == "270" else "x12.review_request_sent",
        clock=clock,
        transaction=row.transaction,
        control_number=row.control_number,
        payer=row.partner,
        payer_name=payer_name,
        internal=True,
    )
    session.flush()
    return Sent(
        row.id,
        row.transaction,
        referral.case_number,
        row.file_name,
        row.control_number,
        row.trace or "",
    )


# ---- delivering ---------------------------------------------------------------------


def deliver_pending(session: Session, exchange: Exchange, *, clock: Clock) -> list[tuple[str, str]]:
    """Hand every stored outbound file to the exchange; returns the answers a real-time
    exchange gave at once (file name, text), to be read like inbound files."""
    answers: list[tuple[str, str]] = []
    for row in repository.pending(session):
        answer = exchange.send(row.file_name, row.payload)
        row.status = ExchangeStatus.sent
        row.sent_at = clock.now()
        if row.claim_id is not None:
            claim_files.handed_over(session, CLEARINGHOUSE_ACTOR, row.claim_id, clock=clock)
        if answer:
            answers.append((f"answer-to-{row.file_name}", answer))
    session.flush()
    return answers


# ---- receiving ----------------------------------------------------------------------


def receive_file(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    """Read one inbound file and apply it. An unreadable file raises
    :class:`X12FormatError` and writes nothing (see :func:`reject_file`)."""
    require(actor, "x12:exchange")
    raw = text
    interchange = read_interchange(text)
    # Read, and kept, with the usual separators, whatever the sender's ISA declared.
    text = canonical(text, interchange.delimiters)
    partner, control = interchange.sender_id, interchange.control_number
    seen = repository.find(session, Direction.inbound, partner, control)
    if seen is not None:
        code = interchange.transactions[0].code if interchange.transactions else "TA1"
        if seen.payload not in (raw, text):
            # X12.6: a sender numbers each interchange anew; a reused ISA13 is a TA1 025.
            raise X12FormatError(
                f"ISA13 {control} already numbered another interchange from {partner} "
                f"({seen.file_name}); a new interchange takes a new control number",
                segment="ISA",
                position=1,
                element=13,
                interchange_note="025",
            )
        return Received(
            name, seen.status, code, None, "already read: nothing changed", duplicate=True
        )
    if interchange.acknowledgments and not interchange.transactions:
        return ta1.apply_ta1(session, actor, name, text, interchange, clock=clock)
    return _receive_transaction(session, actor, name, text, interchange, clock=clock, config=config)


def _receive_transaction(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    """An interchange of one functional group with one transaction set, by its code."""
    if len(interchange.transactions) != 1:
        last = interchange.transactions[-1].segments[0] if interchange.transactions else None
        raise X12FormatError(
            "a drop file carries one transaction set; this one has "
            f"{len(interchange.transactions)}",
            segment="ST",
            position=last.position if last else 3,
        )
    if interchange.acknowledgments:
        # TA1s ahead of the group (X12.6 allows them there): applied with the group, in
        # the same unit of work, so a group refused takes them back too.
        _, said = ta1.acknowledge(session, actor, interchange, clock=clock)
        received = _by_code(session, actor, name, text, interchange, clock=clock, config=config)
        return replace(received, detail=f"{received.detail}; TA1: {said}")
    return _by_code(session, actor, name, text, interchange, clock=clock, config=config)


def _by_code(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    """The group's one transaction set, read by its code."""
    code = interchange.transactions[0].code
    if code == "271":
        answer = x270.read_answer(text, interchange)
        return _apply_271(
            session, actor, name, text, interchange, answer, clock=clock, config=config
        )
    if code == "278":
        response = x278.read_response(interchange.transactions[0])
        return reviews.apply_278(
            session, actor, name, text, interchange, response, clock=clock, config=config
        )
    if code == "277":
        return claim_status.apply_277(session, actor, name, text, interchange, clock=clock)
    if code == "999":
        return _apply_999(session, actor, name, text, interchange, clock=clock)
    if code == "835":
        return claim_files.apply_835(session, actor, name, text, interchange, clock=clock)
    first = interchange.transactions[0].segments[0]
    raise X12FormatError(
        f"CareLoop reads 271, 277, 278, 835 and 999 transaction sets, not {code}",
        segment="ST",
        position=first.position,
        in_transaction=1,
        control_number=interchange.transactions[0].control_number,
        element=1,
        set_code="1",
    )


def _apply_271(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    answer: x270.Answer,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    request = request_answered(
        session,
        trace=answer.trace,
        reference=answer.reference,
        transaction="270",
        partner=interchange.sender_id,
    )
    referral = case_of(session, actor, request)
    now = clock.now()
    if request is None or referral is None:
        detail = (
            f"the 271 answers no inquiry CareLoop sent to {interchange.sender_id} "
            f"(trace {answer.trace[:60]!r})"
        )
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="271",
            case_number=None,
            detail=detail,
        )
    if request.status is ExchangeStatus.answered:
        detail = "the inquiry was answered already; this later answer is kept, not applied"
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="271",
            case_number=referral.case_number,
            detail=detail,
        )
    if rules.unanswered(
        {code for _, code in answer.refusals}, set(answer.reject_codes), len(answer.benefits)
    ):
        levels = [*answer.refusals, *(("22", code) for code in answer.reject_codes)]
        return refused(
            session,
            actor,
            name,
            text,
            interchange,
            request=request,
            referral=referral,
            event="x12.eligibility_inquiry_refused",
            reason=rules.refusal(tuple(levels)),
            clock=clock,
        )
    facts = payer_answer(answer, partner=interchange.sender_id, control=interchange.control_number)
    try:
        with session.begin_nested():
            read = eligibility_service.record_payer_answer(
                session, actor, referral.case_number, facts, clock=clock
            )
    except DomainError as exc:
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="271",
            case_number=referral.case_number,
            detail=exc.detail,
        )
    record_inbound(
        session, name, text, interchange, status=ExchangeStatus.applied, request=request, now=now
    )
    detail = f"eligibility {read.status.value.replace('_', ' ')}"
    if config.auto_review and read.authorization_required:
        sent = send_review_request(session, actor, referral.case_number, clock=clock, config=config)
        detail += f"; prior authorisation asked ({sent.file_name})"
    return Received(name, ExchangeStatus.applied, "271", referral.case_number, detail)


def payer_answer(answer: x270.Answer, *, partner: str, control: str) -> PayerAnswer:
    """A 271's facts, as the eligibility domain takes them."""
    status = rules.eligibility_status({b.status for b in answer.benefits}, set(answer.reject_codes))
    plan = next((b.plan for b in answer.benefits if b.plan and b.status in rules.EB_ACTIVE), None)
    plan = plan or next((b.plan for b in answer.benefits if b.plan), None)
    authorization = {
        b.procedure: b.authorization == "Y"
        for b in answer.benefits
        if b.procedure and b.authorization in {"Y", "N"}
    }
    reasons = [rules.AAA_TEXT[c] for c in answer.reject_codes if c in rules.AAA_TEXT]
    return PayerAnswer(
        status=status,
        plan_code=plan,
        plan_begin=answer.plan_begin,
        plan_end=answer.plan_end,
        authorization=authorization,
        reason="; ".join(reasons) or None,
        source=f"271 from {partner}, interchange {control}",
    )


def _apply_999(
    session: Session, actor: Actor, name: str, text: str, interchange: Interchange, *, clock: Clock
) -> Received:
    """A payer's 999: an accepted group changes nothing but a claim's standing (accepted,
    the 835 follows); a rejected one marks the file it names rejected, with the segment
    the payer pointed at, and the claim it carried. A 999 without its AK1 and a known
    AK9 code is malformed: rejected whole, nothing changes."""
    segments = interchange.transactions[0].body
    ak1 = next((s for s in segments if s.tag == "AK1"), None)
    ak9 = next((s for s in segments if s.tag == "AK9"), None)
    ik3 = next((s for s in segments if s.tag == "IK3"), None)
    for tag, found, valid, wanted in (
        ("AK1", ak1, ak1 is not None and ak1.get(2).isdigit(), "the group control number"),
        ("AK9", ak9, ak9 is not None and ak9.get(1) in rules.AK9_CODES, "A, E, P, R, M, W or X"),
    ):
        if not valid:
            at = found or interchange.transactions[0].segments[-1]
            raise X12FormatError(
                f"a 999 needs {tag} with {wanted}",
                segment=tag,
                position=at.position,
                in_transaction=at.position - 2,
                control_number=interchange.transactions[0].control_number,
                element=2 if tag == "AK1" else 1,
                syntax_code="3" if found is None else "8",
            )
    assert ak1 is not None and ak9 is not None
    now = clock.now()
    control = f"{int(ak1.get(2)):09d}"
    request = repository.find(session, Direction.outbound, interchange.sender_id, control)
    accepted = ak9.get(1) in {"A", "E"}
    where = f" at segment {ik3.get(1)} position {ik3.get(2)}" if ik3 is not None else ""
    if request is not None and not accepted:
        request.status = ExchangeStatus.rejected
        request.error = f"the payer rejected the file{where}"
        request.processed_at = now
    claim = None
    if request is not None and request.claim_id is not None:
        claim = claim_files.acknowledged(
            session,
            actor,
            request.claim_id,
            accepted=accepted,
            detail="accepted" if accepted else f"999 rejection{where}",
            clock=clock,
        )
    record_inbound(
        session, name, text, interchange, status=ExchangeStatus.applied, request=None, now=now
    )
    said = (
        "acknowledged" if accepted else f"rejected: {request.error if request else 'unknown file'}"
    )
    return Received(
        name,
        ExchangeStatus.applied,
        "999",
        None,
        f"claim {claim}: {said}" if claim else said,
    )


def reject_file(
    session: Session,
    name: str,
    text: str,
    error: X12FormatError,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    """Record an unreadable inbound file and store its acknowledgment for the sender: a
    TA1 when the interchange's envelope is at fault (its header intact), otherwise,
    when its group and transaction set were identified, a 999 naming the fault."""
    now = clock.now()
    head = _head(text)
    partner = head.sender or "unknown"
    digest = hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - a file's identity
    control = head.control or "sha1:" + digest[:15]
    if error.interchange_note == "025":  # the reused ISA13 is the earlier file's key
        control = "dup:" + digest[:16]
    seen = repository.find(session, Direction.inbound, partner, control)
    if seen is not None:
        return Received(name, seen.status, head.code or "", None, seen.error or "", duplicate=True)
    row = X12Exchange(
        direction=Direction.inbound,
        transaction=(head.code or "?")[:3],
        status=ExchangeStatus.rejected,
        partner=partner[:80],
        control_number=control[:20],
        file_name=name[:200],
        payload=text,
        error=error.detail,
        created_at=now,
        processed_at=now,
    )
    session.add(row)
    session.flush()
    acknowledgment = None
    if head.acknowledgment or error.segment == "TA1" or isinstance(error, X12TooLargeError):
        pass  # an acknowledgment (TA1) is never acknowledged; a file too large has no code
    elif error.interchange_note and head.sender and head.control:
        reply = _reply(session, row, "TA1", head.sender, now)
        reply.payload = ack.interchange_rejection(
            error,
            interchange_control=head.control,
            interchange_date=head.date,
            interchange_time=head.time,
            sender=us(config),
            receiver=Party(config.qualifier, head.sender),
            control_number=reply.id,
            created=now,
        )
        acknowledgment = reply.file_name
    elif head.group and head.code and head.version and head.sender:
        reply = _reply(session, row, "999", head.sender, now)
        reply.payload = ack.rejection(
            error,
            functional_code=head.functional,
            group_control_number=head.group,
            transaction_code=head.code,
            version=head.version,
            sender=us(config),
            receiver=Party(config.qualifier, head.sender),
            control_number=reply.id,
            created=now,
        )
        acknowledgment = reply.file_name
    session.flush()
    return Received(
        name,
        ExchangeStatus.rejected,
        head.code or "",
        None,
        error.detail,
        acknowledgment=acknowledgment,
    )


def _reply(
    session: Session, rejected: X12Exchange, transaction: str, partner: str, now: datetime
) -> X12Exchange:
    """The outbound acknowledgment of a rejected file, numbered by its row (the payload
    is the caller's to write)."""
    reply = X12Exchange(
        direction=Direction.outbound,
        transaction=transaction,
        status=ExchangeStatus.pending,
        partner=partner[:80],
        control_number=uuid.uuid4().hex[:20],
        answers_id=rejected.id,
        file_name="",
        payload="",
        created_at=now,
    )
    session.add(reply)
    session.flush()
    reply.control_number = f"{reply.id:09d}"
    reply.file_name = f"{transaction}-{partner}-{reply.control_number}.x12"
    return reply


@dataclass(frozen=True, slots=True)
class _Head:
    sender: str | None = None
    control: str | None = None
    date: str = ""
    time: str = ""
    functional: str = ""
    group: str | None = None
    code: str | None = None
    version: str | None = None
    #: The file is an interchange acknowledgment (TA1 after ISA).
    acknowledgment: bool = False


def _head(text: str) -> _Head:
    """What can be told of a file that failed to read: ISA06/09/10/13, GS01/06/08 and
    ST01, when those segments are intact (a TA1 or a 999 is addressed with them). TA1
    segments may stand between ISA and GS; a file of TA1s alone is an acknowledgment."""
    body = unwrapped(text).lstrip()
    if not body.startswith("ISA") or len(body) < 106:
        return _Head()
    element, terminator = body[3], body[105]
    fields: dict[str, list[str]] = {}
    for raw in body.split(terminator, 60)[:60]:
        parts = raw.strip().split(element)
        fields.setdefault(parts[0], parts)
        if parts[0] == "ST":
            break
    isa, gs, st = fields.get("ISA", []), fields.get("GS", []), fields.get("ST", [])
    return _Head(
        sender=isa[6].strip() if len(isa) > 13 else None,
        control=isa[13].strip() if len(isa) > 13 else None,
        date=isa[9] if len(isa) > 13 else "",
        time=isa[10] if len(isa) > 13 else "",
        functional=gs[1] if len(gs) > 8 else "",
        group=gs[6] if len(gs) > 8 else None,
        code=st[1] if len(st) > 2 else None,
        version=gs[8] if len(gs) > 8 else None,
        acknowledgment="TA1" in fields and "GS" not in fields,
    )


def exchanges_of_case(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> list[X12Exchange]:
    """The files exchanged about a case (audited read)."""
    require(actor, "x12:exchange")
    referral = moves.visible(session, actor, case_number, "x12.read", clock=clock)
    return repository.of_referral(session, referral.id)
