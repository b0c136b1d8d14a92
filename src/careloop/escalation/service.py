"""Escalation use cases: open, commit an ETA, resolve, and what the worker does when a
window passes (DOMAIN.md §4 ladder, §6). Services never commit.

Every step is a timeline event on the case (through ``referral.moves``), a clock (through
``sla.service``), a work item (the ``work.needed`` / ``work.done`` events) and an e-mail to
whoever asked, in one thread (the outbox, delivered after commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR, Actor, Role
from careloop.core.clock import Clock, FixedClock
from careloop.core.errors import ConflictError, FieldError, NotFoundError, RuleViolationError
from careloop.db import outbox
from careloop.escalation import repository, rules
from careloop.escalation.models import Escalation
from careloop.escalation.rules import (
    OPERATIONS_LEVEL,
    PARTY_LABELS,
    REASON_LABELS,
    SEVERITY_LABELS,
    SUPERVISOR_LEVEL,
    PartyKind,
    Promise,
    Reason,
    Severity,
    Source,
    Status,
)
from careloop.escalation.schemas import (
    CommitIn,
    EscalationCreate,
    EscalationList,
    EscalationRead,
    RequesterIn,
    ResolveIn,
)
from careloop.identity import service as identity
from careloop.identity.permissions import require
from careloop.referral import moves
from careloop.referral.models import Referral
from careloop.sla import CalendarKind
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus

#: The work queue's team for an escalation (ladder level 2) and above it (level 3).
SUPERVISOR_TEAM = "supervisor"
OPERATIONS_TEAM = "operations"


class EscalationNotFoundError(NotFoundError):
    code = "escalation_not_found"
    title = "No such escalation"


class EscalationClosedError(ConflictError):
    code = "escalation_resolved"
    title = "The escalation is already resolved"


# ---- reading -------------------------------------------------------------------------------


def list_escalations(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> EscalationList:
    require(actor, "escalation:read")
    referral = moves.visible(session, actor, case_number, "escalation.list", clock=clock)
    return EscalationList(
        items=[read(e, referral.case_number) for e in repository.of_case(session, referral.id)]
    )


def read(esc: Escalation, case_number: str) -> EscalationRead:
    return EscalationRead(
        id=esc.id,
        case_number=case_number,
        source=esc.source,
        reason=esc.reason,
        reason_label=REASON_LABELS[esc.reason],
        severity=esc.severity,
        details=esc.details,
        requested_by=RequesterIn(
            kind=esc.requester_kind,
            name=esc.requester_name,
            email=esc.requester_email,
            phone=esc.requester_phone,
        ),
        opened_at=esc.opened_at,
        opened_by=esc.opened_by_label,
        supervisor_user_id=esc.supervisor_user_id,
        supervisor_name=esc.supervisor_name,
        supervisor_contact=esc.supervisor_contact,
        level=esc.level,
        status=esc.status,
        commit_due_at=esc.commit_due_at,
        eta=esc.eta,
        committed_at=esc.committed_at,
        commit_missed=esc.commit_missed_at is not None,
        promise=esc.promise,
        resolved_at=esc.resolved_at,
        resolution=esc.resolution,
    )


def kept_promises(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """Promises decided in [start, end): (kept, missed), for the dashboard."""
    return repository.promises_between(session, start, end)


# ---- opening -------------------------------------------------------------------------------

_PROMISE_WORDS = {Promise.kept: "kept", Promise.missed: "missed"}
_SOURCE_OF_ROLE = {Role.referring_clinician: Source.referrer, Role.provider_staff: Source.provider}
_PARTY_OF_SOURCE = {Source.referrer: PartyKind.referrer, Source.provider: PartyKind.provider}


def open_escalation(
    session: Session, actor: Actor, case_number: str, body: EscalationCreate, *, clock: Clock
) -> EscalationRead:
    """Escalate a case the actor can see: staff log who asked; a referrer or provider asks
    for themselves. Refused with every problem named, before anything is written."""
    require(actor, "escalation:create")
    referral = moves.visible_for_update(session, actor, case_number, "escalation.open", clock=clock)
    moves.require_open(referral, "escalate this case")
    source = _SOURCE_OF_ROLE.get(actor.role, Source.staff)
    requester, problems = _requester(session, actor, source, body.requested_by)
    chosen = None
    if body.supervisor_user_id is not None:
        chosen, problem = _chosen_supervisor(session, actor, body.supervisor_user_id)
        problems += problem
    if problems:
        raise RuleViolationError("The escalation is incomplete.", errors=problems)
    esc = _open(
        session,
        actor,
        referral,
        source=source,
        reason=body.reason,
        severity=body.severity,
        details=(body.details or "").strip() or None,
        requester=requester,
        supervisor=chosen,
        clock=clock,
    )
    return read(esc, referral.case_number)


def escalate_for_breach(
    session: Session, referral_id: int, what: str, *, clock: Clock
) -> Escalation | None:
    """The worker's call when a deadline of a case is breached (``what``: which, in plain
    words): an escalation owned by a supervisor, unless one opened by a breach is still
    open on the case. None when the case is gone, closed or already escalated so."""
    referral = moves.locked(session, referral_id)
    if not moves_open(referral):
        return None
    if any(
        e.source is Source.worker and e.status is not Status.resolved
        for e in repository.of_case(session, referral.id)
    ):
        return None
    return _open(
        session,
        SYSTEM_ACTOR,
        referral,
        source=Source.worker,
        reason=Reason.deadline_missed,
        severity=Severity.urgent,
        details=what,
        requester=RequesterIn(kind=PartyKind.system, name="CareLoop deadline watch"),
        supervisor=None,
        clock=clock,
    )


def moves_open(referral: Referral) -> bool:
    try:
        moves.require_open(referral, "escalate this case")
    except ConflictError:
        return False
    return True


def _requester(
    session: Session, actor: Actor, source: Source, given: RequesterIn | None
) -> tuple[RequesterIn, list[FieldError]]:
    if source is Source.staff:
        if given is None:
            return RequesterIn(name=""), [
                FieldError(
                    "requested_by", "say who asked for the escalation (name, e-mail or phone)"
                )
            ]
        requester = given
    else:
        # A referrer or provider asks for themselves: their account fills what they left out.
        me = identity.staff_contact(session, actor.user_id) if actor.user_id else None
        base = given or RequesterIn(name="")
        requester = RequesterIn(
            kind=_PARTY_OF_SOURCE[source],
            name=base.name.strip() or actor.display_name,
            email=(base.email or "").strip() or (me.email if me else None),
            phone=base.phone,
        )
    requester = RequesterIn(
        kind=requester.kind,
        name=requester.name.strip(),
        email=(requester.email or "").strip() or None,
        phone=(requester.phone or "").strip() or None,
    )
    problems = rules.requester_problems(
        name=requester.name, email=requester.email, phone=requester.phone
    )
    return requester, problems


def _chosen_supervisor(
    session: Session, actor: Actor, user_id: int
) -> tuple[identity.StaffContact | None, list[FieldError]]:
    if not actor.is_staff:
        return None, [FieldError("supervisor_user_id", "only our staff choose the supervisor")]
    found = next((s for s in identity.active_supervisors(session) if s.user_id == user_id), None)
    if found is None:
        return None, [
            FieldError("supervisor_user_id", "there is no active supervisor with this id")
        ]
    return found, []


def _rule_supervisor(session: Session, referral: Referral) -> identity.StaffContact | None:
    supervisors = identity.active_supervisors(session)
    load = repository.open_load(session, [s.user_id for s in supervisors])
    picked = rules.pick_supervisor(
        [rules.Candidate(s.user_id, s.email, load.get(s.user_id, 0)) for s in supervisors],
        team=rules.team_of_status(referral.status.value),
        payer_code=str(referral.payer_id) if referral.payer_id is not None else None,
    )
    if picked is None:
        return None
    return next(s for s in supervisors if s.user_id == picked.user_id)


def _open(
    session: Session,
    actor: Actor,
    referral: Referral,
    *,
    source: Source,
    reason: Reason,
    severity: Severity,
    details: str | None,
    requester: RequesterIn,
    supervisor: identity.StaffContact | None,
    clock: Clock,
) -> Escalation:
    now = clock.now()
    supervisor = supervisor or _rule_supervisor(session, referral)
    esc = Escalation(
        referral_id=referral.id,
        source=source,
        reason=reason,
        severity=severity,
        details=details,
        requester_kind=requester.kind,
        requester_name=requester.name,
        requester_email=requester.email,
        requester_phone=requester.phone,
        opened_at=now,
        opened_by_user_id=actor.user_id,
        opened_by_label=actor.label,
        level=SUPERVISOR_LEVEL,
        status=Status.open,
        commit_due_at=rules.commit_due(now, time_zone=referral.time_zone),
        messages_sent=0,
    )
    _assign(esc, supervisor)
    session.add(esc)
    session.flush()
    esc.thread_id = f"escalation-{esc.id}"
    clocks.start(
        session,
        kind=ClockKind.escalation_commit,
        referral_id=referral.id,
        due_at=esc.commit_due_at,
        rule_source=rules.DEFAULT_POLICY.commit_window.source,
        time_zone=referral.time_zone,
        calendar=CalendarKind.business,
        now=now,
        subject_id=esc.id,
    )
    moves.record_escalation(
        session,
        actor,
        referral,
        "escalation.opened",
        clock=clock,
        escalated=True,
        # A breach already said why on the case; a person's escalation says it now.
        escalation_reason=None if source is Source.worker else REASON_LABELS[reason],
        escalation_id=esc.id,
        # Words, not codes: the timeline is read by people.
        reason=REASON_LABELS[reason],
        severity=SEVERITY_LABELS[severity],
        requested_by=PARTY_LABELS[requester.kind],
        supervisor=esc.supervisor_name,
    )
    _work_needed(session, esc, referral, clock, due_at=esc.commit_due_at, what="promise an ETA")
    _mail(session, esc, referral, "escalation.opened", now=now)
    return esc


def _assign(esc: Escalation, supervisor: identity.StaffContact | None) -> None:
    if supervisor is None:
        return
    esc.supervisor_user_id = supervisor.user_id
    esc.supervisor_name = supervisor.name
    esc.supervisor_contact = rules.supervisor_contact(supervisor.direct_phone, supervisor.extension)


# ---- the supervisor's promise and the resolution -------------------------------------------


def commit_eta(
    session: Session,
    actor: Actor,
    case_number: str,
    escalation_id: int,
    body: CommitIn,
    *,
    clock: Clock,
) -> EscalationRead:
    """The supervisor promises a date and time; committing again moves the promise. The
    supervisor who commits owns the escalation from then on."""
    require(actor, "escalation:commit")
    referral = moves.visible_for_update(
        session, actor, case_number, "escalation.commit", clock=clock
    )
    esc = _escalation(session, referral, escalation_id)
    now = clock.now()
    problems = rules.eta_problems(body.eta, now=now)
    if problems:
        raise RuleViolationError("The ETA cannot be accepted.", errors=problems)
    if actor.user_id is not None and actor.user_id != esc.supervisor_user_id:
        _assign(esc, identity.staff_contact(session, actor.user_id))
    clocks.close(
        session,
        referral.id,
        [ClockKind.escalation_commit],
        status=ClockStatus.met,
        at=now,
        subject_id=esc.id,
    )
    clocks.close(
        session,
        referral.id,
        [ClockKind.escalation_eta],
        status=ClockStatus.cancelled,
        at=now,
        subject_id=esc.id,
    )
    esc.eta = body.eta
    esc.committed_at = now
    esc.status = Status.committed
    clocks.start(
        session,
        kind=ClockKind.escalation_eta,
        referral_id=referral.id,
        due_at=body.eta,
        rule_source="the ETA the supervisor committed",
        time_zone=referral.time_zone,
        calendar=CalendarKind.clock,
        now=now,
        subject_id=esc.id,
    )
    moves.record_escalation(
        session,
        actor,
        referral,
        "escalation.committed",
        clock=clock,
        escalation_id=esc.id,
        eta=body.eta.isoformat(),
        supervisor=esc.supervisor_name,
    )
    _work_needed(session, esc, referral, clock, due_at=body.eta, what="keep the promised ETA")
    _mail(session, esc, referral, "escalation.committed", now=now)
    return read(esc, referral.case_number)


def resolve(
    session: Session,
    actor: Actor,
    case_number: str,
    escalation_id: int,
    body: ResolveIn,
    *,
    clock: Clock,
) -> EscalationRead:
    """Close the escalation with what was done; a committed ETA is kept or missed now."""
    require(actor, "escalation:resolve")
    referral = moves.visible_for_update(
        session, actor, case_number, "escalation.resolve", clock=clock
    )
    esc = _escalation(session, referral, escalation_id)
    resolution = body.resolution.strip()
    if not resolution:
        raise RuleViolationError(
            "The escalation needs a resolution.",
            errors=[FieldError("resolution", "say how the escalation was resolved")],
        )
    now = clock.now()
    if esc.eta is not None and esc.promise is None:
        esc.promise = rules.promise_of(esc.eta, now)
        esc.promise_decided_at = now
    for kind in (ClockKind.escalation_commit, ClockKind.escalation_eta):
        clocks.close(
            session,
            referral.id,
            [kind],
            status=ClockStatus.met if esc.promise is not Promise.missed else ClockStatus.breached,
            at=now,
            subject_id=esc.id,
        )
    esc.status = Status.resolved
    esc.resolved_at = now
    esc.resolution = resolution
    esc.resolved_by_label = actor.label
    session.flush()
    still_open = repository.open_count(session, referral.id)
    moves.record_escalation(
        session,
        actor,
        referral,
        "escalation.resolved",
        clock=clock,
        escalated=False if still_open == 0 else None,
        escalation_id=esc.id,
        promise=_PROMISE_WORDS[esc.promise] if esc.promise else None,
    )
    events.publish("work.done", session=session, clock=clock, subject=_subject(esc))
    _mail(session, esc, referral, "escalation.resolved", now=now)
    return read(esc, referral.case_number)


def _escalation(session: Session, referral: Referral, escalation_id: int) -> Escalation:
    esc = repository.get_of_case(session, referral.id, escalation_id, for_update=True)
    if esc is None:
        raise EscalationNotFoundError(f"The case has no escalation {escalation_id}.")
    if esc.status is Status.resolved:
        raise EscalationClosedError(
            "This escalation is already resolved; open a new one if the problem is back.",
            extra={"status": esc.status.value, "allowed_actions": []},
        )
    return esc


# ---- the worker: windows that passed -------------------------------------------------------


def on_commit_due(session: Session, escalation_id: int | None, *, now: datetime) -> ClockStatus:
    """No ETA was committed in time: the escalation climbs to the operations manager."""
    esc = repository.lock(session, escalation_id) if escalation_id else None
    if esc is None or esc.status is not Status.open:
        return ClockStatus.met
    esc.commit_missed_at = now
    _climb(session, esc, now, "escalation.commit_missed", what="no ETA was promised in time")
    return ClockStatus.breached


def on_eta_due(session: Session, escalation_id: int | None, *, now: datetime) -> ClockStatus:
    """The committed ETA passed unresolved: the promise is missed and the escalation climbs."""
    esc = repository.lock(session, escalation_id) if escalation_id else None
    if esc is None or esc.status is not Status.committed or esc.eta is None:
        return ClockStatus.met
    if esc.eta > now:  # moved later since the clock was read
        return ClockStatus.met
    esc.promise = Promise.missed
    esc.promise_decided_at = now
    _climb(session, esc, now, "escalation.eta_missed", what="the promised ETA passed")
    return ClockStatus.breached


def _climb(session: Session, esc: Escalation, now: datetime, event_type: str, *, what: str) -> None:
    clock = FixedClock(now)
    referral = moves.locked(session, esc.referral_id)
    esc.level = OPERATIONS_LEVEL
    moves.record_escalation(
        session,
        SYSTEM_ACTOR,
        referral,
        event_type,
        clock=clock,
        escalation_id=esc.id,
        level=esc.level,
    )
    _work_needed(
        session,
        esc,
        referral,
        clock,
        due_at=rules.climb_due(now, time_zone=referral.time_zone),
        what=what,
        team=OPERATIONS_TEAM,
        level=esc.level,
    )
    _mail(session, esc, referral, event_type, now=now)


# ---- work items and e-mail -----------------------------------------------------------------


def _subject(esc: Escalation) -> str:
    return f"escalation:{esc.id}"


def _work_needed(
    session: Session,
    esc: Escalation,
    referral: Referral,
    clock: Clock,
    *,
    due_at: datetime,
    what: str,
    team: str = SUPERVISOR_TEAM,
    level: int | None = None,
) -> None:
    """The escalation's work item; ``level`` when it climbed (the queue's level views)."""
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=referral.id,
        kind="escalation",
        team=team,
        due_at=due_at,
        subject=_subject(esc),
        title=f"Escalation: {what} ({REASON_LABELS[esc.reason].lower()})",
        level=level,
    )


def _mail(
    session: Session, esc: Escalation, referral: Referral, template: str, *, now: datetime
) -> None:
    """Write the next e-mail of the escalation's thread to whoever asked (after commit)."""
    if not esc.requester_email:
        return
    esc.messages_sent += 1
    zone = referral.member_time_zone or referral.time_zone
    payload: dict[str, Any] = {
        "to": esc.requester_email,
        "requester_name": esc.requester_name,
        "reason": REASON_LABELS[esc.reason],
        "severity": SEVERITY_LABELS[esc.severity],
        "supervisor_name": esc.supervisor_name,
        "supervisor_contact": esc.supervisor_contact,
        "commit_due": rules.in_words(esc.commit_due_at, zone),
        "eta": rules.in_words(esc.eta, zone) if esc.eta else None,
        "resolution": esc.resolution,
        "promise": esc.promise.value if esc.promise else None,
        "level": esc.level,
        "thread": {"key": esc.thread_id or f"escalation-{esc.id}", "seq": esc.messages_sent},
    }
    outbox.enqueue(
        session,
        dedupe_key=f"escalation:{esc.id}:mail:{esc.messages_sent}",
        audience="requester",
        recipient=f"escalation:{esc.id}",
        channel="email",
        template=template,
        now=now,
        referral_id=referral.id,
        case_number=referral.case_number,
        payload=payload,
    )
