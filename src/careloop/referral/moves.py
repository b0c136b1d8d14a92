"""Moves of the case made by the domains after intake (eligibility, prior authorisation,
offers, scheduling, fulfilment).

Those domains sit above the referral in the declared order; they never set a status
themselves. They call ``move``: the status machine validates the action (409 naming the
allowed moves otherwise) and the move is written with its timeline event and audit
record in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.audit.models import AuditOutcome
from careloop.codes import ServiceLine, lookup_hcpcs
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import IllegalTransitionError
from careloop.db import outbox
from careloop.payer import service as payer_service
from careloop.referral import clocks, refused_words, repository, rules
from careloop.referral.enums import CodeSystem, ReferralAction, ReferralStatus, Urgency
from careloop.referral.errors import ReferralNotFoundError
from careloop.referral.models import Referral, ReferralItem
from careloop.sla import DeadlineRule, ServiceClass, discharge_escalation, service_deadline
from careloop.sla import service as sla
from careloop.sla.models import ClockKind

LINE_OF_CLASS = {
    ServiceClass.standard_dme: ServiceLine.dme,
    ServiceClass.complex_dme: ServiceLine.dme,
    ServiceClass.home_health: ServiceLine.home_health,
    ServiceClass.infusion: ServiceLine.infusion,
}


def locked(session: Session, referral_id: int) -> Referral:
    """The case by id, locked for the move (reached through a row the caller may see)."""
    referral = repository.lock_by_id(session, referral_id)
    if referral is None:
        raise ReferralNotFoundError(f"no referral {referral_id}")
    return referral


def visible_for_update(
    session: Session, actor: Actor, case_number: str, action: str, *, clock: Clock
) -> Referral:
    """The case the actor may see, locked; otherwise 404 (and a denied-access audit)."""
    referral = repository.get_for_update(session, actor, case_number)
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


def visible(
    session: Session, actor: Actor, case_number: str, action: str, *, clock: Clock
) -> Referral:
    """The case the actor may see, read (audited); otherwise 404."""
    referral = repository.get_visible(session, actor, case_number)
    if referral is None:
        raise ReferralNotFoundError(f"There is no referral {case_number} that you can see.")
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    return referral


def check(referral: Referral, action: ReferralAction, *, outcome: str | None = None) -> None:
    """Refuse (409) an action the case's status does not allow, before anything is written."""
    next_status(referral, action, outcome=outcome)


def next_status(
    referral: Referral,
    action: ReferralAction,
    *,
    outcome: str | None = None,
    errors_remain: bool = False,
) -> ReferralStatus:
    return rules.next_status(
        referral.status,
        action,
        acknowledged=referral.acknowledged_at is not None,
        authorization_required=referral.authorization_required,
        outcome=outcome,
        errors_remain=errors_remain,
    )


def event_row(
    referral_id: int,
    actor: Actor,
    type_: str,
    *,
    now: datetime,
    channel: str | None = None,
    provider_id: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """One timeline event as :func:`record_events` writes it."""
    return {
        "referral_id": referral_id,
        "at": now,
        "type": type_,
        "actor_user_id": actor.user_id,
        "actor_label": actor.label,
        "channel": channel,
        "provider_id": provider_id,
        "data": data,
    }


def record_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write timeline events (rows of :func:`event_row`): the one place that does, for a
    single move or a whole batch of new cases."""
    if rows:
        repository.insert_events(session, [{"provider_id": None, **r} for r in rows])


def event(
    session: Session,
    actor: Actor,
    referral: Referral,
    type_: str,
    *,
    now: datetime,
    provider_id: int | None = None,
    **data: Any,
) -> None:
    record_events(
        session, [event_row(referral.id, actor, type_, now=now, provider_id=provider_id, **data)]
    )


def move(
    session: Session,
    actor: Actor,
    referral: Referral,
    action: ReferralAction,
    *,
    event_type: str,
    clock: Clock,
    provider_id: int | None = None,
    outcome: str | None = None,
    to: ReferralStatus | None = None,
    audit_action: str | None = None,
    **data: Any,
) -> ReferralStatus:
    """Apply ``action``: the new status, its event and its audit record (``audit_action``,
    the event's type unless named), then announce it. ``to``: the status the caller
    already worked out with :func:`next_status` (before changing what it depends on,
    such as the acknowledgement). Returns the status the case came from."""
    now = clock.now()
    previous = referral.status
    referral.status = to if to is not None else next_status(referral, action, outcome=outcome)
    referral.updated_at = now
    event(
        session,
        actor,
        referral,
        event_type,
        now=now,
        provider_id=provider_id,
        **{"from": previous.value, "to": referral.status.value, **data},
    )
    audit.record(
        session,
        actor,
        audit_action or event_type,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    status_changed(session, referral, clock=clock)
    return previous


def status_changed(
    session: Session, referral: Referral, *, clock: Clock, new: bool = False
) -> None:
    """Announce a written status (the work queue keeps the case's work items in step).
    ``new``: the case was just received (nothing is open for it yet)."""
    events.publish(
        "referral.status_changed",
        session=session,
        clock=clock,
        referral_id=referral.id,
        status=referral.status,
        referral=referral,
        new=new,
    )


class ReceivedCase(NamedTuple):
    """A case just received by a bulk intake, as the domains that react to new cases
    read it."""

    referral_id: int
    status: ReferralStatus
    ack_due_at: datetime
    service_due_at: datetime
    urgency: Urgency
    discharge_at: datetime | None


def cases_received(session: Session, cases: list[ReceivedCase], *, clock: Clock) -> None:
    """Announce many new cases at once (``referral.received_many``): the work queue
    opens their first work items with one statement, as ``status_changed(new=True)``
    does for one case."""
    if cases:
        events.publish("referral.received_many", session=session, clock=clock, cases=cases)


def timeline_event(
    session: Session, referral_id: int, type_: str, *, actor: Actor, now: datetime, **data: Any
) -> None:
    """An event another domain reports on the case's timeline (a work item climbing the
    escalation ladder, say), by the case's id."""
    record_events(session, [event_row(referral_id, actor, type_, now=now, **data)])


def escalate(
    session: Session, actor: Actor, referral: Referral, reason: str, *, clock: Clock
) -> None:
    """Flag the case for a supervisor, on the timeline and through the outbox."""
    now = clock.now()
    referral.escalated = True
    referral.escalation_reason = reason[:300]
    event(session, actor, referral, "referral.escalated", now=now, reason=reason)
    outbox.enqueue(
        session,
        dedupe_key=f"escalation:{referral.id}:{now.isoformat()}:{reason[:40]}",
        audience="staff",
        recipient="supervisors",
        template="referral.escalated",
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"reason": reason},
    )


def require_open(referral: Referral, doing: str) -> None:
    """Refuse (409, naming the moves still allowed) work on a closed or cancelled case."""
    if rules.is_open(referral.status):
        return
    allowed = rules.allowed_actions(
        referral.status, acknowledged=referral.acknowledged_at is not None
    )
    names = ", ".join(a.value for a in allowed) or "none from here"
    raise IllegalTransitionError(
        f"Can't {doing}: {refused_words.stands(referral.status)}. Allowed now: {names}.",
        extra={"status": referral.status.value, "allowed_actions": [a.value for a in allowed]},
    )


def record_escalation(
    session: Session,
    actor: Actor,
    referral: Referral,
    event_type: str,
    *,
    clock: Clock,
    escalated: bool | None = None,
    escalation_reason: str | None = None,
    **data: Any,
) -> None:
    """A step of an escalation on the case: its timeline event and audit record.
    ``escalated`` sets (True, with ``escalation_reason``) or clears (False) the case's flag."""
    now = clock.now()
    if escalated is False:
        referral.escalated, referral.escalation_reason = False, None
    elif escalated:
        referral.escalated = True
        if escalation_reason:
            referral.escalation_reason = escalation_reason[:300]
    event(session, actor, referral, event_type, now=now, **data)
    audit.record(
        session,
        actor,
        event_type,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )


def record_findings(
    referral: Referral,
    findings: list[dict[str, Any]],
    *,
    replacing: Collection[str],
    authorization_required: bool | None,
) -> None:
    """A domain's check of the case gives new findings: those with a code in ``replacing``
    (the check's earlier answer) give way to them; whether authorisation is required is
    the check's answer too. Written with the move that follows, in the same transaction."""
    referral.authorization_required = authorization_required
    referral.findings = [f for f in referral.findings if f["code"] not in replacing] + findings


def items_of(session: Session, referral: Referral) -> list[ReferralItem]:
    return repository.items_of(session, referral.id)


def service_line_of(referral: Referral, item: ReferralItem) -> str:
    """The service line of one item: the HCPCS table's, else the case's (a CPT visit)."""
    entry = lookup_hcpcs(item.code) if item.code_system == CodeSystem.HCPCS.value else None
    if entry is not None:
        return entry.service_line.value
    return LINE_OF_CLASS[ServiceClass(referral.service_class)].value


def local_today(referral: Referral, now: datetime) -> date:
    return now.astimezone(ZoneInfo(referral.time_zone)).date()


def visible_by_id(
    session: Session, actor: Actor, referral_id: int, *, for_update: bool = False
) -> Referral | None:
    """The case behind a row the caller reached by its own id (an authorisation, an
    appointment), if the actor may see it."""
    stmt = repository.visible_to(actor).where(Referral.id == referral_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def visible_ids(actor: Actor) -> Select[tuple[int]]:
    """The ids of the cases the actor may see, as a subquery for a list of rows that hang
    off cases (appointments, say): the same scope as every other read."""
    return repository.visible_to(actor).with_only_columns(Referral.id)


def audit_read(
    session: Session, actor: Actor, referral: Referral, action: str, clock: Clock
) -> None:
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )


def record_event(
    session: Session, actor: Actor, referral: Referral, type_: str, *, clock: Clock, **data: Any
) -> None:
    """Append a step that does not move the case (a contact, a note) to its timeline,
    with its audit record. ``internal=True`` in ``data`` keeps it off the timeline that
    referrers, providers and members read (``service.get_timeline``)."""
    event(session, actor, referral, type_, now=clock.now(), **data)
    audit.record(
        session,
        actor,
        type_,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )


# ---- the hospital's word on the discharge --------------------------------------------------


def hospital_cases(
    session: Session, *, identifiers: Sequence[tuple[str, str]], birth_date: date | None
) -> list[Referral]:
    """Open cases the hospital's admission and discharge feed may be about: those with one
    of its record numbers (value, assigning authority), or of someone born that day.
    Locked; the caller decides which are the patient's (never on a weak match)."""
    return repository.open_cases_for_hospital(
        session, identifiers=identifiers, birth_date=birth_date
    )


def discharge_happened(session: Session, referral_id: int) -> bool:
    """Whether the hospital's last word on the case's discharge was that it happened
    (not when it expects it)."""
    data = repository.last_event_data(session, referral_id, "referral.discharge_reported")
    return data is not None and data.get("expected") is False


def report_discharge(
    session: Session,
    actor: Actor,
    referral: Referral,
    discharge_at: datetime,
    *,
    clock: Clock,
    expected: bool,
    date_only: bool = False,
) -> bool:
    """The hospital reports the member's discharge (or when it expects it): the case's
    ``discharge_at`` moves, and with it the service deadline (never after the discharge,
    DOMAIN.md §4) and the discharge watch, while the start is not yet secured; the
    timeline says it in plain words. A discharge under 24 hours away escalates, as at
    intake. Returns False when the case already had this time (nothing is written)."""
    if referral.discharge_at == discharge_at:
        return False
    now = clock.now()
    previous = referral.discharge_at
    referral.discharge_at = discharge_at
    referral.updated_at = now
    policy = payer_service.rules_of(session, referral.payer_id).sla
    if sla.open_of(session, referral.id, [ClockKind.service_start], subject_id=None):
        referral.service_due_at = service_deadline(
            policy,
            ServiceClass(referral.service_class),
            referral.received_at,
            time_zone=referral.time_zone,
            discharge_at=discharge_at,
        )
        clocks.move_service_clocks(
            session,
            referral,
            recomputed=True,
            waiting=referral.status is ReferralStatus.needs_clarification,
            now=now,
        )
        _watch_discharge(session, referral, policy.discharge_escalation_window, now=now)
    record_event(
        session,
        actor,
        referral,
        "referral.discharge_reported",
        clock=clock,
        discharge_at=discharge_at.isoformat(),
        previous=previous.isoformat() if previous else None,
        expected=expected,
        date_only=date_only,
        text=rules.discharge_report_words(
            discharge_at, referral.time_zone, expected=expected, date_only=date_only
        ),
    )
    reason = discharge_escalation(policy, now, discharge_at)
    if reason and not referral.escalated:
        escalate(session, actor, referral, reason, clock=clock)
    status_changed(session, referral, clock=clock)
    return True


def _watch_discharge(
    session: Session, referral: Referral, window: DeadlineRule, *, now: datetime
) -> None:
    """The discharge watch follows the new time: rescheduled if it runs, else started."""
    assert referral.discharge_at is not None
    due = rules.discharge_watch_due(referral.discharge_at, window.duration, now)
    running = sla.open_of(session, referral.id, [ClockKind.discharge], subject_id=None)
    for row in running:
        sla.reschedule(row, due_at=due)
    if not running:
        sla.start(
            session,
            kind=ClockKind.discharge,
            referral_id=referral.id,
            due_at=due,
            rule_source=f"{window.source}; discharge time reported by the hospital",
            time_zone=referral.time_zone,
            now=now,
        )
