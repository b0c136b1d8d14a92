"""Grievance use cases (issue 11): a complaint raised by any party, acknowledged and
resolved within its windows (clocks of the sla domain), counted in the provider's
scorecard; and the regulatory escalation that follows failed internal routes, listing
every earlier attempt with its time.

One writer: this domain writes grievances and regulatory escalations; the sla domain the
clocks; referral.moves the timeline."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib import resources

from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, FieldError, NotFoundError, RuleViolationError
from careloop.escalation import service as escalation_service
from careloop.grievance import repository, rules
from careloop.grievance.models import Grievance, RegulatoryEscalation
from careloop.grievance.rules import GrievanceRules, Party, Status
from careloop.grievance.schemas import (
    AcknowledgeIn,
    AttemptRead,
    GrievanceCreate,
    GrievanceList,
    GrievanceRead,
    RegulatoryEscalationCreate,
    RegulatoryEscalationList,
    RegulatoryEscalationRead,
    ResolveGrievanceIn,
    ScorecardRead,
)
from careloop.identity.permissions import require
from careloop.interaction import service as interaction_service
from careloop.payer import service as payer_service
from careloop.referral import moves
from careloop.referral.models import Referral
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus


class GrievanceNotFoundError(NotFoundError):
    code = "grievance_not_found"
    title = "No such grievance"


class GrievanceStateError(ConflictError):
    code = "grievance_state"
    title = "Not allowed in the grievance's current state"


class RegulatoryEscalationError(ConflictError):
    code = "regulatory_escalation_early"
    title = "Internal routes first"


_PARTY_OF_ROLE = {
    Role.referring_clinician: Party.referrer,
    Role.provider_staff: Party.provider,
    Role.member: Party.member,
}


def grievance_rules(session: Session, referral: Referral) -> GrievanceRules:
    """The payer's grievance windows for the member's state (DOMAIN.md's by default)."""
    config = payer_service.rules_of(session, referral.payer_id).grievance
    return GrievanceRules.from_config(config).for_state(referral.address_state)


# ---- grievances ------------------------------------------------------------------------


def open_grievance(
    session: Session, actor: Actor, case_number: str, body: GrievanceCreate, *, clock: Clock
) -> GrievanceRead:
    """Log a complaint; its acknowledgement and resolution windows start now."""
    require(actor, "grievance:open")
    referral = moves.visible_for_update(session, actor, case_number, "grievance.open", clock=clock)
    errors: list[FieldError] = []
    party = _PARTY_OF_ROLE.get(actor.role)
    name = body.raised_by_name
    if party is None:  # staff log a complaint on someone's behalf
        if body.raised_by is None:
            errors.append(FieldError("raised_by", "say who raised the complaint"))
        party = body.raised_by or Party.staff
        if not name:
            errors.append(FieldError("raised_by_name", "give the name of who complained"))
    elif body.raised_by not in (None, party):
        errors.append(FieldError("raised_by", "you raise a complaint for yourself"))
    provider_id = body.provider_id or referral.assigned_provider_id
    errors += [FieldError(f, m) for f, m in rules.problems(body.subject, provider_id)]
    if errors:
        raise RuleViolationError("The complaint cannot be logged as sent.", errors=errors)
    now = clock.now()
    ladder = grievance_rules(session, referral)
    resolve = rules.resolve_window(ladder, expedited=body.expedited)
    zone = referral.time_zone
    grievance = Grievance(
        referral_id=referral.id,
        provider_id=provider_id,
        subject=body.subject,
        raised_by=party,
        raised_by_name=name or actor.display_name,
        details=body.details,
        expedited=body.expedited,
        line_of_business=ladder.line_of_business,
        state=(referral.address_state or "")[:2].upper() or None,
        status=Status.open,
        opened_at=now,
        opened_by=actor.label,
        acknowledge_due_at=rules.window_due(
            ladder.acknowledge, now, time_zone=zone, hours=ladder.hours
        ),
        resolve_due_at=rules.window_due(resolve, now, time_zone=zone, hours=ladder.hours),
    )
    session.add(grievance)
    session.flush()
    for kind, due, window, what in (
        (
            ClockKind.grievance_acknowledgement,
            grievance.acknowledge_due_at,
            ladder.acknowledge,
            "acknowledged",
        ),
        (ClockKind.grievance_resolution, grievance.resolve_due_at, resolve, "resolved"),
    ):
        clocks.start(
            session,
            kind=kind,
            referral_id=referral.id,
            subject_id=grievance.id,
            due_at=due,
            rule_source=rules.window_source(window, what, ladder),
            time_zone=zone,
            calendar=window.calendar,
            now=now,
        )
    moves.record_event(
        session,
        actor,
        referral,
        "grievance.opened",
        clock=clock,
        grievance_id=grievance.id,
        subject=body.subject.value,
        raised_by=party.value,
    )
    session.flush()
    return _read(grievance, referral, ladder)


def acknowledge(
    session: Session, actor: Actor, grievance_id: int, body: AcknowledgeIn, *, clock: Clock
) -> GrievanceRead:
    require(actor, "grievance:manage")
    grievance, referral = _visible(session, actor, grievance_id)
    if grievance.status is not Status.open:
        raise _state_error(grievance, "acknowledge")
    now = clock.now()
    grievance.status = Status.acknowledged
    grievance.acknowledged_at, grievance.acknowledged_by = now, actor.label
    _close_clock(session, grievance, ClockKind.grievance_acknowledgement, now)
    moves.record_event(
        session,
        actor,
        referral,
        "grievance.acknowledged",
        clock=clock,
        grievance_id=grievance.id,
        on_time=now <= grievance.acknowledge_due_at,
    )
    session.flush()
    return _read(grievance, referral, grievance_rules(session, referral))


def resolve(
    session: Session, actor: Actor, grievance_id: int, body: ResolveGrievanceIn, *, clock: Clock
) -> GrievanceRead:
    """Record the outcome; a grievance not yet acknowledged is acknowledged with it."""
    require(actor, "grievance:manage")
    grievance, referral = _visible(session, actor, grievance_id)
    if grievance.status is Status.resolved:
        raise _state_error(grievance, "resolve")
    now = clock.now()
    if grievance.status is Status.open:
        grievance.acknowledged_at, grievance.acknowledged_by = now, actor.label
        _close_clock(session, grievance, ClockKind.grievance_acknowledgement, now)
    grievance.status = Status.resolved
    grievance.resolved_at, grievance.resolved_by = now, actor.label
    grievance.resolution, grievance.resolution_note = body.resolution, body.note
    _close_clock(session, grievance, ClockKind.grievance_resolution, now)
    moves.record_event(
        session,
        actor,
        referral,
        "grievance.resolved",
        clock=clock,
        grievance_id=grievance.id,
        resolution=body.resolution.value,
        on_time=now <= grievance.resolve_due_at,
    )
    session.flush()
    return _read(grievance, referral, grievance_rules(session, referral))


def list_grievances(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> GrievanceList:
    require(actor, "grievance:open")
    referral = moves.visible(session, actor, case_number, "grievance.list", clock=clock)
    ladder = grievance_rules(session, referral)
    return GrievanceList(
        items=[_read(g, referral, ladder) for g in repository.of_case(session, referral.id)]
    )


def provider_scorecard(
    session: Session, provider_id: int, since: datetime, until: datetime
) -> ScorecardRead:
    """Grievances about a provider's care opened in [since, until): how many, how many
    founded, how many still open (for the network's and the reports' scorecards)."""
    counts = repository.provider_counts(session, provider_id, since, until)
    return ScorecardRead(
        provider_id=provider_id,
        opened=counts.opened,
        substantiated=counts.substantiated,
        open_now=counts.open_now,
    )


def on_window_due(session: Session, grievance_id: int | None, kind: ClockKind) -> bool:
    """True when the grievance the clock is about still waits on that step (breached)."""
    grievance = session.get(Grievance, grievance_id) if grievance_id else None
    if grievance is None:
        return False
    if kind is ClockKind.grievance_acknowledgement:
        return grievance.status is Status.open
    return grievance.status is not Status.resolved


# ---- regulatory escalation ------------------------------------------------------------


@cache
def regulator_contacts() -> dict[tuple[str, rules.Regulator], rules.RegulatorContact]:
    text = resources.files("careloop.grievance").joinpath("data/regulators.csv").read_text()
    return rules.read_contacts(text)


def file_regulatory_escalation(
    session: Session,
    actor: Actor,
    case_number: str,
    body: RegulatoryEscalationCreate,
    *,
    clock: Clock,
) -> RegulatoryEscalationRead:
    """Record the filing with the state regulator, with every earlier attempt."""
    require(actor, "regulatory:file")
    referral = moves.visible_for_update(session, actor, case_number, "regulatory.file", clock=clock)
    state = (body.state or referral.address_state or "").strip().upper()
    contact = regulator_contacts().get((state, body.regulator))
    if contact is None:
        known = sorted({s for s, r in regulator_contacts() if r is body.regulator})
        raise RuleViolationError(
            "No regulator on file for this state.",
            errors=[
                FieldError(
                    "state" if body.state else "regulator",
                    f"no {rules.REGULATOR_LABELS[body.regulator].lower()} listed for "
                    f"{state or 'an unknown state'}; listed: {', '.join(known)}",
                )
            ],
        )
    attempts = rules.attempts_in_order(_attempts(session, actor, referral, clock))
    problem = rules.escalation_problems(attempts)
    if problem:
        raise RegulatoryEscalationError(problem, extra={"attempts": len(attempts)})
    now = clock.now()
    row = RegulatoryEscalation(
        referral_id=referral.id,
        regulator=body.regulator,
        state=state,
        agency_name=contact.name,
        agency_phone=contact.phone,
        agency_web=contact.web,
        agency_verified=contact.verified,
        summary=body.summary,
        reference=body.reference,
        filed_at=now,
        filed_by=actor.label,
        attempts=[{"at": a.at.isoformat(), "kind": a.kind, "what": a.what} for a in attempts],
    )
    session.add(row)
    session.flush()
    moves.record_event(
        session,
        actor,
        referral,
        "regulatory.filed",
        clock=clock,
        regulatory_escalation_id=row.id,
        regulator=body.regulator.value,
        state=state,
        attempts=len(attempts),
    )
    session.flush()
    return _read_filing(row, referral)


def list_regulatory_escalations(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> RegulatoryEscalationList:
    require(actor, "regulatory:file")
    referral = moves.visible(session, actor, case_number, "regulatory.list", clock=clock)
    return RegulatoryEscalationList(
        items=[_read_filing(r, referral) for r in repository.filings_of(session, referral.id)]
    )


def _attempts(
    session: Session, actor: Actor, referral: Referral, clock: Clock
) -> list[rules.Attempt]:
    out: list[rules.Attempt] = []
    number = referral.case_number
    for contact in interaction_service.list_contacts(session, actor, number, clock=clock).items:
        out.append(rules.Attempt(contact.started_at, "contact", contact.text))
    for esc in escalation_service.list_escalations(session, actor, number, clock=clock).items:
        promise = f", promise {esc.promise.value}" if esc.promise else ""
        out.append(
            rules.Attempt(
                esc.opened_at,
                "escalation",
                f"Escalated to {esc.supervisor_name or 'a supervisor'}: {esc.reason_label}"
                f"{promise}",
            )
        )
    for grievance in repository.of_case(session, referral.id):
        outcome = (
            rules.RESOLUTION_LABELS[grievance.resolution].lower()
            if grievance.resolution
            else rules.STATUS_LABELS[grievance.status].lower()
        )
        out.append(
            rules.Attempt(
                grievance.opened_at,
                "grievance",
                f"Grievance about {rules.SUBJECT_LABELS[grievance.subject].lower()}: {outcome}",
            )
        )
    return out


# ---- helpers --------------------------------------------------------------------------


def _visible(session: Session, actor: Actor, grievance_id: int) -> tuple[Grievance, Referral]:
    grievance = session.get(Grievance, grievance_id)
    referral = (
        moves.visible_by_id(session, actor, grievance.referral_id, for_update=True)
        if grievance is not None
        else None
    )
    if grievance is None or referral is None:
        raise GrievanceNotFoundError(f"There is no grievance {grievance_id} that you can see.")
    session.refresh(grievance, with_for_update=True)
    return grievance, referral


def _close_clock(session: Session, grievance: Grievance, kind: ClockKind, now: datetime) -> None:
    clocks.close(
        session,
        grievance.referral_id,
        [kind],
        status=ClockStatus.met,
        at=now,
        subject_id=grievance.id,
    )


def _allowed(grievance: Grievance) -> list[str]:
    return {
        Status.open: ["acknowledge", "resolve"],
        Status.acknowledged: ["resolve"],
    }.get(grievance.status, [])


def _state_error(grievance: Grievance, what: str) -> GrievanceStateError:
    allowed = _allowed(grievance)
    return GrievanceStateError(
        f"Cannot {what}: the grievance is {rules.STATUS_LABELS[grievance.status].lower()}. "
        f"Allowed now: {', '.join(allowed) or 'none'}.",
        extra={"status": grievance.status.value, "allowed_actions": allowed},
    )


def _read(grievance: Grievance, referral: Referral, ladder: GrievanceRules) -> GrievanceRead:
    resolve = rules.resolve_window(ladder, expedited=grievance.expedited)
    return GrievanceRead(
        id=grievance.id,
        case_number=referral.case_number,
        provider_id=grievance.provider_id,
        subject=grievance.subject,
        subject_label=rules.SUBJECT_LABELS[grievance.subject],
        raised_by=grievance.raised_by,
        raised_by_label=rules.PARTY_LABELS[grievance.raised_by],
        raised_by_name=grievance.raised_by_name,
        details=grievance.details,
        expedited=grievance.expedited,
        line_of_business=grievance.line_of_business,
        status=grievance.status,
        status_label=rules.STATUS_LABELS[grievance.status],
        opened_at=grievance.opened_at,
        acknowledge_due_at=grievance.acknowledge_due_at,
        acknowledged_at=grievance.acknowledged_at,
        resolve_due_at=grievance.resolve_due_at,
        resolved_at=grievance.resolved_at,
        resolution=grievance.resolution,
        resolution_label=rules.RESOLUTION_LABELS[grievance.resolution]
        if grievance.resolution
        else None,
        resolution_note=grievance.resolution_note,
        acknowledge_rule=rules.window_source(ladder.acknowledge, "acknowledged", ladder),
        resolve_rule=rules.window_source(resolve, "resolved", ladder),
        allowed_actions=_allowed(grievance),
    )


def _read_filing(row: RegulatoryEscalation, referral: Referral) -> RegulatoryEscalationRead:
    return RegulatoryEscalationRead(
        id=row.id,
        case_number=referral.case_number,
        regulator=row.regulator,
        regulator_label=rules.REGULATOR_LABELS[row.regulator],
        state=row.state,
        agency_name=row.agency_name,
        agency_phone=row.agency_phone,
        agency_web=row.agency_web,
        agency_verified=row.agency_verified,
        summary=row.summary,
        reference=row.reference,
        filed_at=row.filed_at,
        filed_by=row.filed_by,
        attempts=[AttemptRead.model_validate(a, strict=False) for a in row.attempts],
    )
