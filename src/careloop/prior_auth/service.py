"""Prior authorisation use cases (issue 4): request, decide, pend and answer, appeal,
track units. Each moves the case through the referral's status machine, writes its
timeline event and audit record, and keeps the decision and appeal clocks in step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR, Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, NotFoundError, RuleViolationError
from careloop.db import outbox
from careloop.eligibility import service as eligibility
from careloop.identity.permissions import require
from careloop.payer import service as payer_service
from careloop.payer.rules import AuthorizationRules
from careloop.prior_auth import repository, rules
from careloop.prior_auth.models import AuthorizationItem, AuthorizationRequest
from careloop.prior_auth.rules import AuthorizationStatus, Outcome
from careloop.prior_auth.schemas import (
    AuthorizationItemRead,
    AuthorizationList,
    AuthorizationRead,
    AuthorizationRequestIn,
    DecisionIn,
    DenialRead,
    InformationIn,
)
from careloop.referral import moves
from careloop.referral.enums import ReferralAction
from careloop.referral.models import Referral, ReferralItem
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus


class AuthorizationNotFoundError(NotFoundError):
    code = "authorization_not_found"
    title = "No such authorisation request"


class AuthorizationStateError(ConflictError):
    code = "authorization_state"
    title = "Not allowed in the request's current state"


_DECISION_EVENT = {
    Outcome.approved: "authorization.approved",
    Outcome.partially_approved: "authorization.partially_approved",
    Outcome.pended: "authorization.pended",
    Outcome.denied: "authorization.denied",
}


def request_authorization(
    session: Session, actor: Actor, case_number: str, body: AuthorizationRequestIn, *, clock: Clock
) -> AuthorizationRead:
    """Send the items the plan names for review, with the payer's decision clock."""
    require(actor, "authorization:request")
    referral = moves.visible_for_update(
        session, actor, case_number, "authorization.request", clock=clock
    )
    moves.check(referral, ReferralAction.request_authorization)
    now = clock.now()
    items = {i.line: i for i in moves.items_of(session, referral)}
    units = _requested_units(session, referral, items, body)
    payer_rules = _payer_rules(session, referral)
    priority = body.priority or rules.priority_of(referral.urgency, referral.discharge_at)
    request = AuthorizationRequest(
        referral_id=referral.id,
        status=AuthorizationStatus.requested,
        priority=priority,
        clinical_notes=body.clinical_notes,
        requested_at=now,
        requested_by=actor.label,
        decision_due_at=now + rules.decision_window(priority, payer_rules),
    )
    session.add(request)
    session.flush()
    session.add_all(
        AuthorizationItem(
            request_id=request.id, line=line, code=items[line].code, units_requested=n, units_used=0
        )
        for line, n in units.items()
    )
    clocks.start(
        session,
        kind=ClockKind.authorization_decision,
        referral_id=referral.id,
        subject_id=request.id,
        due_at=request.decision_due_at,
        rule_source=rules.decision_source(priority, payer_rules),
        time_zone=referral.time_zone,
        now=now,
    )
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.request_authorization,
        event_type="authorization.requested",
        clock=clock,
        authorization_id=request.id,
        priority=priority.value,
        decision_due_at=request.decision_due_at.isoformat(),
        lines=sorted(units),
    )
    session.flush()
    return _read(session, referral, request, payer_rules, clock=clock)


def _requested_units(
    session: Session,
    referral: Referral,
    items: dict[int, ReferralItem],
    body: AuthorizationRequestIn,
) -> dict[int, int]:
    if body.items:
        out: dict[int, int] = {}
        for index, item in enumerate(body.items):
            if item.line not in items:
                raise RuleViolationError(
                    f"The referral has no item on line {item.line}.",
                    field=f"items.{index}.line",
                )
            out[item.line] = item.units
        return out
    check = eligibility.latest_check(session, referral.id)
    needing = {i["line"] for i in check.items if i["authorization_required"]} if check else set()
    return {line: items[line].quantity for line in sorted(needing or items)}


def record_decision(
    session: Session,
    actor: Actor,
    authorization_id: int,
    body: DecisionIn,
    *,
    clock: Clock,
    on_appeal: bool = False,
) -> AuthorizationRead:
    """The reviewer's decision; a denied request is decided again only after an appeal,
    and an appealed one through its appeal (``on_appeal``: the appeal domain's call)."""
    require(actor, "authorization:decide")
    return _decide(session, actor, authorization_id, body, clock=clock, on_appeal=on_appeal)


def record_payer_decision(
    session: Session, actor: Actor, authorization_id: int, body: DecisionIn, *, clock: Clock
) -> AuthorizationRead:
    """The payer's own decision (an X12 278 response), recorded as a reviewer's would be:
    approved with its number, units and dates; pended with what is missing; denied with
    its reason."""
    require(actor, "authorization:payer_answer")
    return _decide(session, actor, authorization_id, body, clock=clock)


def _decide(
    session: Session,
    actor: Actor,
    authorization_id: int,
    body: DecisionIn,
    *,
    clock: Clock,
    on_appeal: bool = False,
) -> AuthorizationRead:
    request, referral = _visible(session, actor, authorization_id, clock=clock)
    if request.status not in rules.DECIDABLE or (
        request.status is AuthorizationStatus.appealed and not on_appeal
    ):
        raise _state_error(request, "record a decision")
    moves.check(referral, ReferralAction.record_authorization_decision, outcome=body.outcome.value)
    items = _items(session, request.id)
    requested = {i.line: i.units_requested for i in items}
    decision = rules.Decision(
        outcome=body.outcome,
        authorization_number=body.authorization_number,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        items=[(i.line, i.units_approved) for i in body.items],
        missing_information=body.missing_information,
        denial_reason=body.denial_reason,
        peer_to_peer_contact=body.peer_to_peer_contact,
    )
    problems = rules.decision_problems(decision, requested)
    if problems:
        raise RuleViolationError("The decision is incomplete.", errors=problems)
    now = clock.now()
    payer_rules = _payer_rules(session, referral)
    data: dict[str, Any] = {"authorization_id": request.id, "decision": body.outcome.value}
    if body.outcome is Outcome.pended:
        request.status = AuthorizationStatus.pended
        request.missing_information = body.missing_information
        for row in clocks.open_of(
            session, referral.id, [ClockKind.authorization_decision], subject_id=request.id
        ):
            clocks.pause(session, row, now=now)
        _notify(session, referral, request, "authorization.pended", now=now, audience="referrer")
    else:
        request.decided_at, request.decided_by = now, actor.label
        clocks.close(
            session,
            referral.id,
            [ClockKind.authorization_decision],
            status=ClockStatus.met,
            at=now,
            subject_id=request.id,
        )
        if body.outcome is Outcome.denied:
            _deny(session, referral, request, body, payer_rules, now=now)
            # The coded reason rides on the timeline: the denial audit reads it there.
            data["reason"] = body.denial_reason.value if body.denial_reason else None
            data["appeal_due_at"] = (
                request.appeal_due_at.isoformat() if request.appeal_due_at else None
            )
        else:
            _approve(session, referral, request, decision, items, payer_rules, now=now)
            data["authorization_number"] = request.authorization_number
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.record_authorization_decision,
        event_type=_DECISION_EVENT[body.outcome],
        clock=clock,
        outcome=body.outcome.value,
        **data,
    )
    session.flush()
    return _read(session, referral, request, payer_rules, items=items, clock=clock)


def _approve(
    session: Session,
    referral: Referral,
    request: AuthorizationRequest,
    decision: rules.Decision,
    items: list[AuthorizationItem],
    payer_rules: AuthorizationRules,
    *,
    now: datetime,
) -> None:
    requested = {i.line: i.units_requested for i in items}
    approved = rules.units_approved(decision, requested)
    request.status = (
        AuthorizationStatus.approved
        if decision.outcome is Outcome.approved
        else AuthorizationStatus.partially_approved
    )
    request.authorization_number = decision.authorization_number
    request.valid_from, request.valid_to = decision.valid_from, decision.valid_to
    for item in items:
        item.units_approved = approved[item.line]
    if decision.valid_to is not None:
        warn_at = rules.expiry_warning_at(decision.valid_to, payer_rules, referral.time_zone)
        clocks.start(
            session,
            kind=ClockKind.authorization_expiry,
            referral_id=referral.id,
            subject_id=request.id,
            due_at=max(warn_at, now),
            rule_source=rules.expiry_source(payer_rules),
            time_zone=referral.time_zone,
            now=now,
        )


def _deny(
    session: Session,
    referral: Referral,
    request: AuthorizationRequest,
    body: DecisionIn,
    payer_rules: AuthorizationRules,
    *,
    now: datetime,
) -> None:
    """Record the denial; the appeal domain hears of it and opens the appeal window (a
    clock of the payer's appeal rules), whose end is kept on the request for its readers."""
    request.status = AuthorizationStatus.denied
    request.denial_reason = body.denial_reason
    request.denial_note = body.note
    request.peer_to_peer_contact = body.peer_to_peer_contact
    events.publish(
        "authorization.denied",
        session=session,
        referral=referral,
        authorization_id=request.id,
        now=now,
    )
    window = clocks.open_of(
        session, referral.id, [ClockKind.appeal_deadline], subject_id=request.id
    )
    request.appeal_due_at = window[0].due_at if window else None
    _notify(session, referral, request, "authorization.denied", now=now, audience="referrer")
    _notify(session, referral, request, "authorization.denied", now=now, audience="member")


def supply_information(
    session: Session, actor: Actor, authorization_id: int, body: InformationIn, *, clock: Clock
) -> AuthorizationRead:
    """The missing information went to the reviewer: the decision clock resumes, pushed
    later by the time the request waited on us."""
    require(actor, "authorization:request")
    request, referral = _visible(session, actor, authorization_id, clock=clock)
    if request.status is not AuthorizationStatus.pended:
        raise _state_error(request, "send information")
    now = clock.now()
    request.status = AuthorizationStatus.requested
    for row in clocks.open_of(
        session, referral.id, [ClockKind.authorization_decision], subject_id=request.id
    ):
        clocks.resume(session, row, now=now)
        request.decision_due_at = row.due_at
    moves.event(
        session,
        actor,
        referral,
        "authorization.information_sent",
        now=now,
        authorization_id=request.id,
        decision_due_at=request.decision_due_at.isoformat(),
    )
    moves.audit_read(session, actor, referral, "authorization.information_sent", clock)
    session.flush()
    return _read(session, referral, request, _payer_rules(session, referral), clock=clock)


def denied_request(
    session: Session, actor: Actor, case_number: str, authorization_id: int | None, *, clock: Clock
) -> tuple[AuthorizationRequest, Referral]:
    """The case's denied request (``authorization_id``, or the latest request), locked
    with its case, for the appeal domain; a request that is not denied is a conflict."""
    referral = moves.visible_for_update(session, actor, case_number, "appeal.open", clock=clock)
    if authorization_id is None:
        requests = repository.requests_of(session, referral.id)
        request = requests[-1] if requests else None
    else:
        request = session.get(AuthorizationRequest, authorization_id)
        if request is not None and request.referral_id != referral.id:
            request = None
    if request is None:
        if authorization_id is not None:
            raise AuthorizationNotFoundError(
                f"The case has no authorisation request {authorization_id}."
            )
        raise AuthorizationStateError(
            "Cannot appeal: the case has no authorisation request, so nothing was denied.",
            extra={"status": None, "allowed_actions": []},
        )
    session.refresh(request, with_for_update=True)
    if request.status is not AuthorizationStatus.denied:
        raise _state_error(request, "appeal")
    return request, referral


def mark_appealed(
    session: Session,
    actor: Actor,
    referral: Referral,
    request: AuthorizationRequest,
    *,
    rationale: str,
    clock: Clock,
    **event: Any,
) -> None:
    """An appeal level was filed against the denied request: the request is under appeal
    and the case waits on the payer again (the appeal domain keeps the level's clocks)."""
    if request.status is not AuthorizationStatus.denied:
        raise _state_error(request, "appeal")
    moves.check(referral, ReferralAction.appeal)
    now = clock.now()
    request.status = AuthorizationStatus.appealed
    request.appealed_at = now
    request.appeal_rationale = rationale
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.appeal,
        event_type="authorization.appealed",
        clock=clock,
        authorization_id=request.id,
        **event,
    )


def record_appeal_decision(
    session: Session,
    actor: Actor,
    request: AuthorizationRequest,
    body: DecisionIn,
    *,
    clock: Clock,
) -> AuthorizationRead:
    """The payer's decision on an appealed request, as the appeal domain records it: an
    approval authorises the case; a denial upholds the first one (no new appeal window:
    the appeal goes on to its next level or closes)."""
    if request.status is not AuthorizationStatus.appealed:
        raise _state_error(request, "record an appeal decision")
    if body.outcome is Outcome.denied:
        referral = moves.visible_by_id(session, actor, request.referral_id, for_update=True)
        assert referral is not None
        moves.check(
            referral, ReferralAction.record_authorization_decision, outcome=body.outcome.value
        )
        now = clock.now()
        request.status = AuthorizationStatus.denied
        request.decided_at, request.decided_by = now, actor.label
        request.appeal_due_at = None
        moves.move(
            session,
            actor,
            referral,
            ReferralAction.record_authorization_decision,
            event_type="authorization.upheld",
            clock=clock,
            outcome=body.outcome.value,
            authorization_id=request.id,
        )
        session.flush()
        return _read(session, referral, request, _payer_rules(session, referral), clock=clock)
    return record_decision(session, actor, request.id, body, clock=clock, on_appeal=True)


def record_units_used(
    session: Session, referral: Referral, used: dict[int, int], *, clock: Clock
) -> list[str]:
    """Count units delivered against the case's approved authorisation; returns its flags
    (a low or exhausted count is put on the timeline)."""
    request = current_approval(session, referral.id)
    if request is None:
        return []
    items = _items(session, request.id)
    for item in items:
        item.units_used += used.get(item.line, 0)
    payer_rules = _payer_rules(session, referral)
    flags = rules.flags(
        status=request.status,
        valid_to=request.valid_to,
        today=moves.local_today(referral, clock.now()),
        units=[(i.units_approved or 0, i.units_used) for i in items],
        rules=payer_rules,
    )
    low = [f for f in flags if f.startswith("units_")]
    if low:
        moves.event(
            session,
            SYSTEM_ACTOR,
            referral,
            "authorization.units_low",
            now=clock.now(),
            authorization_id=request.id,
            flags=low,
        )
    return flags


def current_approval(session: Session, referral_id: int) -> AuthorizationRequest | None:
    return repository.latest_of_status(session, referral_id, rules.FINAL)


def list_authorizations(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> AuthorizationList:
    require(actor, "authorization:request")
    referral = moves.visible(session, actor, case_number, "authorization.read", clock=clock)
    requests = repository.requests_of(session, referral.id)
    items = repository.items_by_request(session, [r.id for r in requests])
    payer_rules = _payer_rules(session, referral)
    return AuthorizationList(
        items=[
            _read(session, referral, r, payer_rules, items=items.get(r.id, []), clock=clock)
            for r in requests
        ]
    )


def get_authorization(
    session: Session, actor: Actor, authorization_id: int, *, clock: Clock
) -> AuthorizationRead:
    require(actor, "authorization:request")
    request, referral = _visible(session, actor, authorization_id, clock=clock, lock=False)
    moves.audit_read(session, actor, referral, "authorization.read", clock)
    return _read(session, referral, request, _payer_rules(session, referral), clock=clock)


# ---- helpers --------------------------------------------------------------------------


def _visible(
    session: Session, actor: Actor, authorization_id: int, *, clock: Clock, lock: bool = True
) -> tuple[AuthorizationRequest, Referral]:
    request = session.get(AuthorizationRequest, authorization_id)
    referral = (
        moves.visible_by_id(session, actor, request.referral_id, for_update=lock)
        if request is not None
        else None
    )
    if request is None or referral is None:
        raise AuthorizationNotFoundError(
            f"There is no authorisation request {authorization_id} that you can see."
        )
    if lock:
        session.refresh(request, with_for_update=True)
    return request, referral


def _state_error(request: AuthorizationRequest, what: str) -> AuthorizationStateError:
    allowed = _allowed(request)
    hint = {
        AuthorizationStatus.denied: " A denied request is decided again only after an appeal.",
        AuthorizationStatus.appealed: " Record the payer's decision on the appeal's level.",
    }.get(request.status, "")
    if what != "record a decision":
        hint = ""
    return AuthorizationStateError(
        f"Cannot {what}: the request is {request.status.value.replace('_', ' ')}.{hint} "
        f"Allowed now: {', '.join(allowed) or 'none'}.",
        extra={"status": request.status.value, "allowed_actions": allowed},
    )


def _allowed(request: AuthorizationRequest) -> list[str]:
    return {
        AuthorizationStatus.requested: ["decision"],
        AuthorizationStatus.pended: ["information"],
        AuthorizationStatus.denied: ["appeal"],
    }.get(request.status, [])


def _items(session: Session, request_id: int) -> list[AuthorizationItem]:
    return repository.items_by_request(session, [request_id]).get(request_id, [])


def _payer_rules(session: Session, referral: Referral) -> AuthorizationRules:
    return payer_service.rules_of(session, referral.payer_id).authorization


def _notify(
    session: Session,
    referral: Referral,
    request: AuthorizationRequest,
    template: str,
    *,
    now: datetime,
    audience: str,
) -> None:
    recipient = str(referral.referrer_organization_id or "") if audience == "referrer" else "member"
    outbox.enqueue(
        session,
        dedupe_key=f"{template}:{request.id}:{audience}:{now.isoformat()}",
        audience=audience,
        recipient=recipient,
        template=template,
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"authorization_id": request.id},
    )


def _read(
    session: Session,
    referral: Referral,
    request: AuthorizationRequest,
    payer_rules: AuthorizationRules,
    *,
    items: list[AuthorizationItem] | None = None,
    clock: Clock,
) -> AuthorizationRead:
    """The request as callers read it; ``items`` when the caller has them loaded."""
    if items is None:
        items = _items(session, request.id)
    return AuthorizationRead(
        id=request.id,
        case_number=referral.case_number,
        status=request.status,
        priority=request.priority,
        requested_at=request.requested_at,
        requested_by=request.requested_by,
        decision_due_at=request.decision_due_at,
        decided_at=request.decided_at,
        decided_by=request.decided_by,
        authorization_number=request.authorization_number,
        valid_from=request.valid_from,
        valid_to=request.valid_to,
        items=[
            AuthorizationItemRead(
                line=i.line,
                code=i.code,
                units_requested=i.units_requested,
                units_approved=i.units_approved,
                units_used=i.units_used,
                units_left=None
                if i.units_approved is None
                else max(i.units_approved - i.units_used, 0),
            )
            for i in items
        ],
        missing_information=request.missing_information,
        denial=DenialRead(
            reason=request.denial_reason,
            carc=rules.CARC[request.denial_reason],
            note=request.denial_note,
            appeal_due_at=request.appeal_due_at,
            peer_to_peer_contact=request.peer_to_peer_contact,
        )
        if request.denial_reason is not None
        else None,
        appealed_at=request.appealed_at,
        flags=rules.flags(
            status=request.status,
            valid_to=request.valid_to,
            today=moves.local_today(referral, clock.now()),
            units=[(i.units_approved or 0, i.units_used) for i in items],
            rules=payer_rules,
        ),
        case_status=referral.status,
        allowed_actions=_allowed(request),
    )
