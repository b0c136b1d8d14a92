"""Referral use cases: check, submit, read, list, acknowledge, clarify, cancel.

Each function is one step of a use case inside the caller's transaction: it adds and
flushes, writes the timeline event and the audit record, and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.audit.models import AuditOutcome
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.pagination import PageRequest
from careloop.db import sequences
from careloop.identity.permissions import require
from careloop.payer import service as payer_service
from careloop.referral import (
    caseload,
    clocks,
    drafts,
    duplicates,
    idempotency,
    moves,
    names,
    presenters,
    repository,
    rules,
)
from careloop.referral.enums import ReferralAction, ReferralStatus, Severity
from careloop.referral.errors import (
    ReferralNotFoundError,
)
from careloop.referral.idempotency import Submission
from careloop.referral.models import IdempotencyKey, Referral, ReferralItem
from careloop.referral.schemas import (
    AcknowledgeIn,
    CancelIn,
    CloseIn,
    FindingRead,
    ReferralCheckRead,
    ReferralClarify,
    ReferralCreate,
    ReferralFilter,
    ReferralPage,
    ReferralRead,
    TimelineEventRead,
    TimelineRead,
)
from careloop.sla import service as sla
from careloop.sla.models import ClockKind, ClockStatus

# ---- checking --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    draft: ReferralCreate
    payer: payer_service.ResolvedPayer | None
    findings: list[rules.Finding]
    deadlines: rules.Deadlines
    duplicate_key: str

    @property
    def status(self) -> ReferralStatus:
        return rules.initial_status(self.findings)


def _run_checks(
    session: Session,
    draft: ReferralCreate,
    *,
    now: datetime,
    received_at: datetime,
    exclude_id: int | None = None,
    lock: bool = True,
) -> CheckResult:
    """Every intake check. With ``lock`` (a write follows) the duplicate key is locked
    before the duplicate lookup, so twin submissions see each other."""
    coverage = draft.coverage
    payer_id = coverage.payer_id if coverage else None
    payer_name = coverage.payer_name if coverage else None
    payer = payer_service.resolve_payer(session, payer_id=payer_id, payer_name=payer_name)
    effective = payer.rules if payer else payer_service.default_rules()
    facts = rules.PayerFacts(
        named=bool(payer_id or payer_name),
        found=payer is not None,
        name=payer.name if payer else None,
        rules=effective,
    )
    findings = rules.check_referral(draft, payer=facts, now=now, received_at=received_at)
    member = draft.member
    key = rules.duplicate_key(member.first_name, member.last_name, member.birth_date)
    findings += duplicates.findings(
        session,
        draft,
        key,
        since=now - effective.intake.duplicate_window,
        now=now,
        exclude_id=exclude_id,
        lock=lock,
    )
    address = draft.member.address
    deadlines = rules.compute_deadlines(
        rules=effective,
        received_at=received_at,
        now=now,
        items=[(item.code.upper(), item.code_system) for item in draft.items],
        time_zone=rules.member_time_zone(draft.member.time_zone, address.zip if address else None),
        discharge_at=draft.discharge_at,
    )
    return CheckResult(draft, payer, findings, deadlines, key)


def check_referral(
    session: Session, actor: Actor, draft: ReferralCreate, *, clock: Clock
) -> ReferralCheckRead:
    """Run every intake check and compute the deadlines, storing nothing (validate_only).
    A possible duplicate is named only to a caller who may read every case."""
    require(actor, "referral:validate")
    now = clock.now()
    result = _run_checks(session, draft, now=now, received_at=now, lock=False)
    d = result.deadlines
    findings = [f.as_dict() for f in result.findings]
    if not repository.sees_every_case(actor):
        findings = rules.redact_findings(findings)
    return ReferralCheckRead(
        valid=not rules.has_errors(result.findings),
        status=result.status,
        findings=[FindingRead.model_validate(f) for f in findings],
        service_class=d.service_class.value,
        ack_due_at=d.ack_due_at,
        service_due_at=d.service_due_at,
        discharge_at=draft.discharge_at,
        escalated=d.escalated,
        escalation_reason=d.escalation_reason,
    )


# ---- submitting --------------------------------------------------------------------------


def submit_referral(
    session: Session,
    actor: Actor,
    draft: ReferralCreate,
    *,
    clock: Clock,
    idempotency_key: str | None = None,
    idempotency_ttl: timedelta = timedelta(hours=48),
) -> Submission:
    """Receive a referral: check it, store it as a case with its deadlines, its timeline
    and its audit record. Only a wrong shape is refused; every checklist gap is a finding.

    With an Idempotency-Key the same body returns the same case (Stripe's rule); the same
    key with another body is refused.
    """
    require(actor, "referral:create")
    now = clock.now()
    key_row: IdempotencyKey | None = None
    if idempotency_key and actor.user_id is not None:
        fingerprint = idempotency.request_fingerprint(draft)
        replay, key_row = idempotency.claim(
            session, actor.user_id, idempotency_key, fingerprint, now=now, ttl=idempotency_ttl
        )
        if replay is not None:
            return replay
    result = _run_checks(session, draft, now=now, received_at=now)
    referral, items, chosen = _store(session, actor, result, now=now)
    moves.status_changed(session, referral, clock=clock, new=True)
    referral_id, case_number = referral.id, referral.case_number
    body = submitted_body(actor, referral, items, result.payer, chosen)
    if key_row is not None:
        key_row.referral_id = referral_id
        key_row.status_code = 201
        key_row.response_body = body
    audit.record(
        session,
        actor,
        "referral.create",
        clock=clock,
        case_number=case_number,
        referral_id=referral_id,
        detail={"status": result.status.value, "findings": len(result.findings)},
    )
    return Submission(body=body, case_number=case_number, replayed=False)


def submitted_body(
    actor: Actor,
    referral: Referral,
    items: list[ReferralItem],
    payer: payer_service.ResolvedPayer | None,
    chosen: caseload.Chosen | None,
) -> str:
    """The JSON a submission is answered with (and an Idempotency-Key replays): the case
    as just written, its case manager, and possible duplicates named only to those who
    may read every case."""
    read = presenters.to_read(
        referral,
        items,
        payer_code=payer.code if payer else None,
        payer_name=payer.name if payer else None,
        assignee=chosen.read() if chosen else None,
        name_related_cases=repository.sees_every_case(actor),
    )
    return read.model_dump_json()


def _store(
    session: Session, actor: Actor, result: CheckResult, *, now: datetime
) -> tuple[Referral, list[ReferralItem], caseload.Chosen | None]:
    """Insert the case and all that comes with it; return it without reading it back."""
    draft = result.draft
    values = _referral_values(actor, result, now=now)
    # The case manager it goes to: one query, and the column in the same insert.
    chosen = caseload.choose_at_intake(
        session, result.deadlines.service_class, result.draft.member.language, result.payer
    )
    values["assignee_user_id"] = chosen.user_id if chosen else None
    params = {**values, **sequences.case_number_params(session, f"CL-{now.year}-")}
    referral_id, values["case_number"] = repository.insert_referral(session, params)
    item_rows = _item_rows(referral_id, draft)
    repository.insert_items(session, item_rows)
    policy = result.payer.rules.sla if result.payer else payer_service.default_rules().sla
    sla.start_many(
        session,
        clocks.clock_rows(
            referral_id,
            status=result.status,
            deadlines=result.deadlines,
            policy=policy,
            discharge_at=draft.discharge_at,
            now=now,
        ),
    )
    rows = _received_events(referral_id, actor, result, now=now)
    rows.append(caseload.assigned_event(referral_id, actor, chosen, now=now))
    moves.record_events(session, rows)
    return Referral(id=referral_id, **values), [ReferralItem(**r) for r in item_rows], chosen


def _referral_values(actor: Actor, result: CheckResult, *, now: datetime) -> dict[str, Any]:
    draft, d = result.draft, result.deadlines
    return {
        "status": result.status,
        "received_at": now,
        "updated_at": now,
        "version": 1,
        "referrer_organization_id": actor.organization_id if not actor.is_staff else None,
        "created_by_user_id": actor.user_id,
        "escalated": d.escalated,
        "escalation_reason": d.escalation_reason,
        **_draft_columns(draft, result),
    }


def _draft_columns(draft: ReferralCreate, result: CheckResult) -> dict[str, Any]:
    member, d = draft.member, result.deadlines
    address = member.address
    coverage = draft.coverage
    provider = draft.ordering_provider
    order = draft.signed_order
    return {
        "external_id": draft.external_id,
        "channel": draft.channel,
        "urgency": draft.urgency,
        "member_first_name": member.first_name,
        "member_last_name": member.last_name,
        "member_name_search": names.search_name(member.first_name, member.last_name),
        "member_birth_date": member.birth_date,
        "member_sex": member.sex,
        "member_phone": member.phone,
        "member_language": member.language,
        "member_time_zone": member.time_zone,
        "duplicate_key": result.duplicate_key,
        "address_line1": address.line1 if address else None,
        "address_line2": address.line2 if address else None,
        "address_city": address.city if address else None,
        "address_state": address.state.upper() if address and address.state else None,
        "address_zip": address.zip if address else None,
        "access_barriers": list(member.access_barriers),
        "hospital_mrn": member.hospital_mrn.value if member.hospital_mrn else None,
        "hospital_mrn_authority": member.hospital_mrn.assigning_authority
        if member.hospital_mrn
        else None,
        "payer_id": result.payer.id if result.payer else None,
        "payer_reference": (coverage.payer_id or coverage.payer_name) if coverage else None,
        "member_id": coverage.member_id if coverage else None,
        "group_number": coverage.group_number if coverage else None,
        "ordering_npi": provider.npi if provider else None,
        "ordering_name": provider.name if provider else None,
        "ordering_organization": provider.organization if provider else None,
        "ordering_phone": provider.phone if provider else None,
        "ordering_fax": provider.fax if provider else None,
        "diagnoses": [dx.code for dx in draft.diagnoses],
        "requested_start": draft.requested_start,
        "discharge_at": draft.discharge_at,
        "signed_on": order.signed_on if order else None,
        "signer_npi": order.signer_npi if order else None,
        "notes": draft.notes,
        "service_class": d.service_class.value,
        "time_zone": d.time_zone,
        "findings": [f.as_dict() for f in result.findings],
        "ack_due_at": d.ack_due_at,
        "service_due_at": d.service_due_at,
    }


def _item_rows(referral_id: int, draft: ReferralCreate) -> list[dict[str, Any]]:
    return [
        {
            "referral_id": referral_id,
            "line": line,
            "code": item.code.upper(),
            "code_system": item.code_system.value,
            "quantity": item.quantity,
            "frequency": item.frequency,
            "rental": item.rental,
            "description": item.description,
        }
        for line, item in enumerate(draft.items, start=1)
    ]


def _event(
    referral_id: int,
    actor: Actor,
    type_: str,
    now: datetime,
    data: dict[str, Any],
    channel: str | None = None,
) -> dict[str, Any]:
    row = moves.event_row(referral_id, actor, type_, now=now, channel=channel)
    row["data"] = data
    return row


def _received_events(
    referral_id: int, actor: Actor, result: CheckResult, *, now: datetime
) -> list[dict[str, Any]]:
    d = result.deadlines
    channel = result.draft.channel.value
    events = [
        _event(
            referral_id,
            actor,
            "referral.received",
            now,
            {
                "status": result.status.value,
                "service_class": d.service_class.value,
                "ack_due_at": d.ack_due_at.isoformat(),
                "service_due_at": d.service_due_at.isoformat(),
            },
            channel,
        ),
    ]
    errors = [f for f in result.findings if f.severity is Severity.error]
    if errors:
        events.append(
            _event(
                referral_id,
                actor,
                "referral.clarification_requested",
                now,
                {
                    "missing": [{"code": f.code, "field": f.field} for f in errors],
                },
                channel,
            )
        )
    duplicates = [f.related_case_number for f in result.findings if f.related_case_number]
    if duplicates:
        events.append(
            _event(
                referral_id,
                actor,
                "referral.possible_duplicate",
                now,
                {"related_case_numbers": duplicates},
                channel,
            )
        )
    if d.escalated:
        events.append(
            _event(
                referral_id,
                actor,
                "referral.escalated",
                now,
                {"reason": d.escalation_reason},
                channel,
            )
        )
    return events


# ---- reading -----------------------------------------------------------------------------


def _visible_or_404(
    session: Session,
    actor: Actor,
    case_number: str,
    action: str,
    *,
    clock: Clock,
    for_update: bool = False,
) -> Referral:
    getter = repository.get_for_update if for_update else repository.get_visible
    referral = getter(session, actor, case_number)
    if referral is None:
        hidden_id = repository.exists(session, case_number)
        audit.record_denied(
            session,
            actor,
            action,
            clock=clock,
            case_number=case_number[:40],
            referral_id=hidden_id,
            outcome=AuditOutcome.denied if hidden_id else AuditOutcome.not_found,
        )
        raise ReferralNotFoundError(f"There is no referral {case_number} that you can see.")
    return referral


def get_referral(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> ReferralRead:
    """One case as the actor may see it; another organisation's case is 'not found'."""
    require(actor, "referral:read")
    referral = _visible_or_404(session, actor, case_number, "referral.read", clock=clock)
    audit.record(
        session,
        actor,
        "referral.read",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    return _read_model(session, actor, referral)


def _read_model(session: Session, actor: Actor, referral: Referral) -> ReferralRead:
    """The case as this actor reads it: findings that name another case only for those
    who may read every case."""
    items = repository.items_of(session, referral.id)
    payer_code, payer_name = repository.payer_name(session, referral.payer_id)
    assignee = caseload.assignee_read(session, referral.assignee_user_id)
    return presenters.to_read(
        referral,
        items,
        payer_code=payer_code,
        payer_name=payer_name,
        name_related_cases=repository.sees_every_case(actor),
        assignee=assignee,
    )


def list_referrals(
    session: Session, actor: Actor, flt: ReferralFilter, page: PageRequest, *, clock: Clock
) -> ReferralPage:
    """A page of the referrals the actor may see; the read is audited with its cases."""
    require(actor, "referral:read")
    rows, total = repository.page(session, actor, flt, page)
    codes = repository.item_codes(session, [r.id for r in rows])
    payers = repository.payer_names(session, [r.payer_id for r in rows if r.payer_id])
    audit.record(
        session,
        actor,
        "referral.list",
        clock=clock,
        detail={"case_numbers": [r.case_number for r in rows], "total": total},
    )
    return ReferralPage(
        items=[
            presenters.summary(
                r,
                item_codes=codes.get(r.id, []),
                payer_name=payers.get(r.payer_id) if r.payer_id else None,
            )
            for r in rows
        ],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def get_timeline(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> TimelineRead:
    require(actor, "referral:read")
    referral = _visible_or_404(session, actor, case_number, "referral.timeline", clock=clock)
    events = repository.timeline(session, referral.id)
    if not actor.is_staff:
        # Internal notes and contacts are for the coordination staff only.
        events = [e for e in events if not (e.data or {}).get("internal")]
    audit.record(
        session,
        actor,
        "referral.timeline",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    name_related = repository.sees_every_case(actor)
    return TimelineRead(
        case_number=referral.case_number,
        events=[
            TimelineEventRead(
                at=e.at,
                type=e.type,
                actor=e.actor_label,
                channel=e.channel,
                data=presenters.event_data(e.type, e.data or {}, name_related_cases=name_related),
            )
            for e in events
        ],
    )


#: The deadlines that end when the case is closed or cancelled: all but the money's. A
#: delivery's claim is still prepared, and its filing window still runs until the payer
#: answers, after the case closes (the money comes later).
ENDS_WITH_CASE = [
    k for k in ClockKind if k not in (ClockKind.claim_preparation, ClockKind.timely_filing)
]


# ---- moving the case ---------------------------------------------------------------------


def acknowledge_referral(
    session: Session, actor: Actor, case_number: str, body: AcknowledgeIn, *, clock: Clock
) -> ReferralRead:
    """Give the referrer the case number and a named case manager with an extension
    (DOMAIN.md §2 step 2). Target: the first business day; the KPI counts 24 hours."""
    require(actor, "referral:acknowledge")
    now = clock.now()
    referral = _visible_or_404(
        session, actor, case_number, "referral.acknowledge", clock=clock, for_update=True
    )
    to = moves.next_status(referral, ReferralAction.acknowledge)
    name, extension = caseload.named_to_referrer(
        session, actor, referral, body.case_manager_name, body.case_manager_extension
    )
    referral.acknowledged_at = now
    referral.acknowledged_by_user_id = actor.user_id
    referral.case_manager_name = name
    referral.case_manager_extension = extension
    sla.close_all(session, referral.id, [ClockKind.acknowledgement], status=ClockStatus.met, at=now)
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.acknowledge,
        event_type="referral.acknowledged",
        audit_action="referral.acknowledge",
        clock=clock,
        to=to,
        case_manager=name,
        extension=extension,
        on_time=now <= referral.ack_due_at,
        within_24h=rules.acknowledged_within_kpi(referral.received_at, now),
    )
    session.flush()
    return _read_model(session, actor, referral)


def supply_information(
    session: Session, actor: Actor, case_number: str, body: ReferralClarify, *, clock: Clock
) -> ReferralRead:
    """Record missing or corrected information, re-run every check, and clear the
    findings that are fixed. The case moves on when no error is left."""
    require(actor, "referral:clarify")
    now = clock.now()
    referral = _visible_or_404(
        session, actor, case_number, "referral.clarify", clock=clock, for_update=True
    )
    moves.check(referral, ReferralAction.supply_information)
    items = repository.items_of(session, referral.id)
    draft = drafts.merged_draft(referral, items, body)
    result = _run_checks(
        session, draft, now=now, received_at=referral.received_at, exclude_id=referral.id
    )
    before = {(f["code"], f["field"]) for f in referral.findings}
    after = {(f.code, f.field) for f in result.findings}
    new_status = moves.next_status(
        referral,
        ReferralAction.supply_information,
        errors_remain=rules.has_errors(result.findings),
    )
    _apply(referral, result, now=now)
    if body.items is not None:
        repository.replace_items(session, referral.id, _item_rows(referral.id, draft))
    clocks.move_service_clocks(
        session,
        referral,
        recomputed=body.items is not None or body.discharge_at is not None,
        waiting=new_status is ReferralStatus.needs_clarification,
        now=now,
    )
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.supply_information,
        event_type="referral.information_supplied",
        audit_action="referral.clarify",
        clock=clock,
        to=new_status,
        cleared=sorted(f"{c}:{f}" for c, f in before - after),
        new=sorted(f"{c}:{f}" for c, f in after - before),
        remaining_errors=sum(1 for f in result.findings if f.severity is Severity.error),
        note=body.note,
    )
    session.flush()
    return _read_model(session, actor, referral)


def _apply(referral: Referral, result: CheckResult, *, now: datetime) -> None:
    for column, value in _draft_columns(result.draft, result).items():
        if column == "ack_due_at":
            continue
        setattr(referral, column, value)
    referral.escalated = referral.escalated or result.deadlines.escalated
    if result.deadlines.escalation_reason:
        referral.escalation_reason = result.deadlines.escalation_reason
    referral.updated_at = now


def cancel_referral(
    session: Session, actor: Actor, case_number: str, body: CancelIn, *, clock: Clock
) -> ReferralRead:
    """Cancel an open case with a reason (DOMAIN.md §2: possible at any point)."""
    require(actor, "referral:cancel")
    now = clock.now()
    referral = _visible_or_404(
        session, actor, case_number, "referral.cancel", clock=clock, for_update=True
    )
    to = moves.next_status(referral, ReferralAction.cancel)
    referral.cancelled_at = now
    referral.cancel_reason = body.reason
    sla.close_all(session, referral.id, ENDS_WITH_CASE, status=ClockStatus.cancelled, at=now)
    # Later domains close what they hold for the case (an open offer, for one).
    events.publish(
        "referral.cancelled", session=session, actor=actor, referral_id=referral.id, clock=clock
    )
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.cancel,
        event_type="referral.cancelled",
        audit_action="referral.cancel",
        clock=clock,
        to=to,
        reason=body.reason,
    )
    session.flush()
    return _read_model(session, actor, referral)


def close_referral(
    session: Session, actor: Actor, case_number: str, body: CloseIn, *, clock: Clock
) -> ReferralRead:
    """Close the case: delivered or started (follow-up done), or denied for good."""
    require(actor, "referral:close")
    now = clock.now()
    referral = _visible_or_404(
        session, actor, case_number, "referral.close", clock=clock, for_update=True
    )
    to = moves.next_status(referral, ReferralAction.close)
    sla.close_all(session, referral.id, ENDS_WITH_CASE, status=ClockStatus.cancelled, at=now)
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.close,
        event_type="referral.closed",
        audit_action="referral.close",
        clock=clock,
        to=to,
        note=body.note,
    )
    session.flush()
    return _read_model(session, actor, referral)
