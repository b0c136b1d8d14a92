"""Appeal use cases (issue 11): a denial opens the appeal window; an appeal climbs the
payer's levels, each with its filing and decision windows as clocks; the outcome either
authorises the case (overturned, recorded through prior authorisation) or opens the next
level, or closes the appeal with its reason (upheld).

One writer: this domain writes the appeals and their levels; prior authorisation writes
the request and its decision; the sla domain writes the clocks; referral.moves the case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.appeal import letter, repository, rules
from careloop.appeal.models import Appeal, AppealLevel
from careloop.appeal.rules import AppealRules, AppealStatus, LevelStatus, Outcome
from careloop.appeal.schemas import (
    AppealCreate,
    AppealList,
    AppealOutcomeIn,
    AppealRead,
    LevelFileIn,
    LevelRead,
)
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, FieldError, NotFoundError, RuleViolationError
from careloop.document import service as document_service
from careloop.identity.permissions import require
from careloop.payer import service as payer_service
from careloop.prior_auth import service as prior_auth
from careloop.prior_auth.models import AuthorizationRequest
from careloop.prior_auth.rules import Outcome as DecisionOutcome
from careloop.prior_auth.schemas import DecisionIn
from careloop.referral import moves
from careloop.referral.models import Referral
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus


class AppealNotFoundError(NotFoundError):
    code = "appeal_not_found"
    title = "No such appeal"


class AppealStateError(ConflictError):
    code = "appeal_state"
    title = "Not allowed in the appeal's current state"


def appeal_rules(session: Session, referral: Referral) -> AppealRules:
    """The payer's appeal ladder (DOMAIN.md's figures where it sets none)."""
    return AppealRules.from_config(payer_service.rules_of(session, referral.payer_id).appeal)


# ---- the denial opens the window -------------------------------------------------------


def on_authorization_denied(
    *, session: Session, referral: Referral, authorization_id: int, now: datetime
) -> None:
    """A denial opens the appeal window (the first level's filing window) as a clock. A
    denial recorded while the request's appeal is open is an upheld level: the appeal
    itself opens the next window."""
    if repository.open_appeal_of(session, authorization_id) is not None:
        return
    ladder = appeal_rules(session, referral)
    first = ladder.levels[0]
    clocks.start(
        session,
        kind=ClockKind.appeal_deadline,
        referral_id=referral.id,
        subject_id=authorization_id,
        due_at=rules.window_due(
            first.filing, now, time_zone=referral.time_zone, hours=ladder.hours
        ),
        rule_source=rules.window_source(first, "filing"),
        time_zone=referral.time_zone,
        calendar=first.filing.calendar,
        now=now,
    )


events.subscribe("authorization.denied", on_authorization_denied)


# ---- use cases -------------------------------------------------------------------------


def open_appeal(
    session: Session, actor: Actor, case_number: str, body: AppealCreate, *, clock: Clock
) -> AppealRead:
    """Appeal a denial within its window: the first level is filed at once."""
    require(actor, "authorization:appeal")
    request, referral = prior_auth.denied_request(
        session, actor, case_number, body.authorization_id, clock=clock
    )
    if repository.open_appeal_of(session, request.id) is not None:
        raise AppealStateError(
            "The denial is already under appeal: file its next level instead.",
            extra={"allowed_actions": ["file_level"]},
        )
    now = clock.now()
    window = clocks.open_of(
        session, referral.id, [ClockKind.appeal_deadline], subject_id=request.id
    )
    due = window[0].due_at if window else request.appeal_due_at
    if due is None or now > due:
        raise AppealStateError(
            "The appeal window closed"
            + (f" at {due.isoformat()}." if due else ": the denial can no longer be appealed."),
            extra={"appeal_due_at": due.isoformat() if due else None},
        )
    ladder = appeal_rules(session, referral)
    assert request.denial_reason is not None
    appeal = Appeal(
        referral_id=referral.id,
        authorization_id=request.id,
        denial_reason=request.denial_reason,
        status=AppealStatus.open,
        rationale=body.rationale,
        objective_measures=body.objective_measures,
        opened_at=now,
        opened_by=actor.label,
    )
    session.add(appeal)
    session.flush()
    levels = [
        AppealLevel(
            appeal_id=appeal.id,
            position=position,
            kind=rule.kind,
            status=LevelStatus.waiting,
        )
        for position, rule in enumerate(ladder.levels, start=1)
    ]
    levels[0].filing_due_at = due
    session.add_all(levels)
    clocks.close(
        session,
        referral.id,
        [ClockKind.appeal_deadline],
        status=ClockStatus.met,
        at=now,
        subject_id=request.id,
    )
    _file(session, actor, referral, request, appeal, levels[0], ladder, body.rationale, clock)
    session.flush()
    return _read(appeal, referral, levels, ladder)


def file_level(
    session: Session,
    actor: Actor,
    case_number: str,
    appeal_id: int,
    body: LevelFileIn,
    *,
    clock: Clock,
) -> AppealRead:
    """File the level now open (after an upheld one), within its filing window; or, for
    a level paused on the reviewer's request, send the information (its decision window
    resumes, later by the time it waited)."""
    require(actor, "authorization:appeal")
    appeal, referral, levels = _appeal(session, actor, case_number, appeal_id, clock=clock)
    ladder = appeal_rules(session, referral)
    if body.level is not None and body.level not in {level.kind for level in levels}:
        raise RuleViolationError(
            "The payer's appeal has no such level.",
            errors=[
                FieldError(
                    "level",
                    "not a level of this payer's appeals: "
                    + ", ".join(rules.LEVEL_LABELS[level.kind] for level in levels),
                )
            ],
        )
    current = _current(levels)
    if appeal.status is not AppealStatus.open or current is None:
        raise _state_error(appeal, levels, "file a level")
    if body.level is not None and body.level is not current.kind:
        raise AppealStateError(
            f"The level open now is the {rules.LEVEL_LABELS[current.kind].lower()}, "
            f"not the {rules.LEVEL_LABELS[body.level].lower()}.",
            extra={"allowed_actions": _allowed(appeal, levels), "open_level": current.kind},
        )
    now = clock.now()
    if current.status is LevelStatus.information_requested:
        for row in clocks.open_of(
            session, referral.id, [ClockKind.appeal_decision], subject_id=appeal.id
        ):
            clocks.resume(session, row, now=now)
            current.decision_due_at = row.due_at
        current.status = LevelStatus.filed
        moves.record_event(
            session,
            actor,
            referral,
            "appeal.information_sent",
            clock=clock,
            appeal_id=appeal.id,
            level=current.kind.value,
        )
        session.flush()
        return _read(appeal, referral, levels, ladder)
    if current.status is not LevelStatus.open_for_filing:
        raise _state_error(appeal, levels, "file a level")
    if current.filing_due_at is not None and now > current.filing_due_at:
        raise AppealStateError(
            f"The window to file the {rules.LEVEL_LABELS[current.kind].lower()} closed at "
            f"{current.filing_due_at.isoformat()}.",
            extra={"filing_due_at": current.filing_due_at.isoformat()},
        )
    request = session.get(AuthorizationRequest, appeal.authorization_id, with_for_update=True)
    assert request is not None
    clocks.close(
        session,
        referral.id,
        [ClockKind.appeal_filing],
        status=ClockStatus.met,
        at=now,
        subject_id=appeal.id,
    )
    _file(
        session,
        actor,
        referral,
        request,
        appeal,
        current,
        ladder,
        body.rationale or appeal.rationale,
        clock,
    )
    session.flush()
    return _read(appeal, referral, levels, ladder)


def record_outcome(
    session: Session,
    actor: Actor,
    case_number: str,
    appeal_id: int,
    body: AppealOutcomeIn,
    *,
    clock: Clock,
) -> AppealRead:
    """The payer's decision on the level filed: overturned authorises the case (through
    prior authorisation), upheld opens the next level or closes the appeal with its
    reason, information requested pauses the decision window where the rules say so."""
    require(actor, "authorization:decide")
    appeal, referral, levels = _appeal(session, actor, case_number, appeal_id, clock=clock)
    ladder = appeal_rules(session, referral)
    current = _current(levels)
    if (
        appeal.status is not AppealStatus.open
        or current is None
        or current.status not in rules.DECIDABLE
    ):
        raise _state_error(appeal, levels, "record an outcome")
    level_rule = ladder.level(current.position)
    try:
        move = rules.outcome_move(
            body.outcome,
            position=current.position,
            levels=ladder.levels,
            pauses=level_rule.pause_for_information,
        )
    except ValueError as error:
        raise AppealStateError(
            f"Cannot pause: the {rules.LEVEL_LABELS[current.kind].lower()}'s decision window "
            "does not stop for information under this payer's rules.",
            extra={"allowed_actions": ["outcome"]},
        ) from error
    now = clock.now()
    if body.outcome is Outcome.information_requested:
        for row in clocks.open_of(
            session, referral.id, [ClockKind.appeal_decision], subject_id=appeal.id
        ):
            clocks.pause(session, row, now=now)
        current.status = move.level_status
        current.note = body.note
        moves.record_event(
            session,
            actor,
            referral,
            "appeal.information_requested",
            clock=clock,
            appeal_id=appeal.id,
            level=current.kind.value,
        )
        session.flush()
        return _read(appeal, referral, levels, ladder)
    request = session.get(AuthorizationRequest, appeal.authorization_id, with_for_update=True)
    assert request is not None
    decision = DecisionIn(
        outcome=DecisionOutcome.approved
        if body.outcome is Outcome.overturned
        else DecisionOutcome.denied,
        authorization_number=body.authorization_number,
        valid_from=body.valid_from,
        valid_to=body.valid_to,
        items=body.items,
        note=body.note,
    )
    prior_auth.record_appeal_decision(session, actor, request, decision, clock=clock)
    clocks.close(
        session,
        referral.id,
        [ClockKind.appeal_decision],
        status=ClockStatus.met,
        at=now,
        subject_id=appeal.id,
    )
    current.status = move.level_status
    current.decided_at, current.decided_by = now, body.reviewer or actor.label
    current.note = body.note
    appeal.status = move.appeal_status
    if move.next_position is not None:
        _open_for_filing(session, referral, appeal, levels[move.next_position - 1], ladder, now)
    if move.appeal_status is not AppealStatus.open:
        appeal.closed_at = now
        appeal.close_reason = move.close_reason
    moves.record_event(
        session,
        actor,
        referral,
        f"appeal.{move.level_status.value}",
        clock=clock,
        appeal_id=appeal.id,
        level=current.kind.value,
        closed=appeal.status is AppealStatus.closed,
    )
    session.flush()
    return _read(appeal, referral, levels, ladder)


def list_appeals(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> AppealList:
    require(actor, "authorization:request")
    referral = moves.visible(session, actor, case_number, "appeal.read", clock=clock)
    ladder = appeal_rules(session, referral)
    appeals = repository.appeals_of(session, referral.id)
    levels = repository.levels_by_appeal(session, [a.id for a in appeals])
    return AppealList(items=[_read(a, referral, levels.get(a.id, []), ladder) for a in appeals])


def get_appeal(
    session: Session, actor: Actor, case_number: str, appeal_id: int, *, clock: Clock
) -> AppealRead:
    require(actor, "authorization:request")
    referral = moves.visible(session, actor, case_number, "appeal.read", clock=clock)
    appeal = repository.appeal_of_case(session, referral.id, appeal_id)
    if appeal is None:
        raise AppealNotFoundError(f"The case has no appeal {appeal_id}.")
    levels = repository.levels_by_appeal(session, [appeal.id]).get(appeal.id, [])
    return _read(appeal, referral, levels, appeal_rules(session, referral))


def appeal_letter(
    session: Session,
    actor: Actor,
    case_number: str,
    appeal_id: int,
    *,
    clock: Clock,
    document_titles: list[str] | None = None,
) -> bytes:
    """The appeal letter (PDF) for the level now open or last filed: the clinical
    rationale, the objective measures and the documents attached (the case's documents,
    unless ``document_titles`` names others)."""
    require(actor, "authorization:appeal")
    referral = moves.visible(session, actor, case_number, "appeal.letter", clock=clock)
    appeal = repository.appeal_of_case(session, referral.id, appeal_id)
    if appeal is None:
        raise AppealNotFoundError(f"The case has no appeal {appeal_id}.")
    levels = repository.levels_by_appeal(session, [appeal.id]).get(appeal.id, [])
    request = session.get(AuthorizationRequest, appeal.authorization_id)
    assert request is not None
    level = _current(levels) or levels[-1]
    payer = payer_service.name_of(session, referral.payer_id)
    zone = referral.time_zone
    if document_titles is None:
        listed = document_service.list_documents(session, actor, case_number, clock=clock)
        document_titles = [
            f"{d.kind_label}, received {letter.local_date(d.uploaded_at, zone)}"
            for d in reversed(listed.items)
        ]
    return letter.render(
        letter.LetterData(
            case_number=referral.case_number,
            member_name=f"{referral.member_first_name} {referral.member_last_name}",
            member_birth_date=letter.long_date(referral.member_birth_date),
            member_id=referral.member_id or "not given",
            payer=payer or "the health plan",
            level=rules.LEVEL_LABELS[level.kind],
            authorization=request.authorization_number or f"request {request.id}",
            denied_on=letter.local_date(request.decided_at, zone),
            denial_reason=rules.DENIAL_LABELS[appeal.denial_reason],
            denial_note=request.denial_note or "",
            ordering=referral.ordering_name or "the ordering clinician",
            diagnoses=", ".join(referral.diagnoses) or "see the attached notes",
            rationale=level.rationale or appeal.rationale,
            objective_measures=appeal.objective_measures or "",
            documents=list(document_titles or []),
            issued_on=letter.local_date(clock.now(), zone),
            signed_by=actor.label,
        )
    )


# ---- helpers --------------------------------------------------------------------------


def _file(
    session: Session,
    actor: Actor,
    referral: Referral,
    request: AuthorizationRequest,
    appeal: Appeal,
    level: AppealLevel,
    ladder: AppealRules,
    rationale: str,
    clock: Clock,
) -> None:
    now = clock.now()
    rule = ladder.level(level.position)
    level.status = LevelStatus.filed
    level.filed_at, level.filed_by, level.rationale = now, actor.label, rationale
    level.decision_due_at = rules.window_due(
        rule.decision, now, time_zone=referral.time_zone, hours=ladder.hours
    )
    clocks.start(
        session,
        kind=ClockKind.appeal_decision,
        referral_id=referral.id,
        subject_id=appeal.id,
        due_at=level.decision_due_at,
        rule_source=rules.window_source(rule, "decision"),
        time_zone=referral.time_zone,
        calendar=rule.decision.calendar,
        now=now,
    )
    prior_auth.mark_appealed(
        session,
        actor,
        referral,
        request,
        rationale=rationale,
        clock=clock,
        appeal_id=appeal.id,
        level=level.kind.value,
        decision_due_at=level.decision_due_at.isoformat(),
    )


def _open_for_filing(
    session: Session,
    referral: Referral,
    appeal: Appeal,
    level: AppealLevel,
    ladder: AppealRules,
    now: datetime,
) -> None:
    rule = ladder.level(level.position)
    level.status = LevelStatus.open_for_filing
    level.filing_due_at = rules.window_due(
        rule.filing, now, time_zone=referral.time_zone, hours=ladder.hours
    )
    clocks.start(
        session,
        kind=ClockKind.appeal_filing,
        referral_id=referral.id,
        subject_id=appeal.id,
        due_at=level.filing_due_at,
        rule_source=rules.window_source(rule, "filing"),
        time_zone=referral.time_zone,
        calendar=rule.filing.calendar,
        now=now,
    )


def lapse_filing(session: Session, appeal_id: int, *, now: datetime) -> Referral | None:
    """The next level's filing window closed unfiled: the level lapses and the appeal
    closes with that reason (the worker's call). Returns the case, or None when nothing
    was waiting."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.status is not AppealStatus.open:
        return None
    levels = repository.levels_by_appeal(session, [appeal.id]).get(appeal.id, [])
    current = _current(levels)
    if current is None or current.status is not LevelStatus.open_for_filing:
        return None
    current.status = LevelStatus.lapsed
    appeal.status, appeal.closed_at = AppealStatus.closed, now
    appeal.close_reason = (
        f"The {rules.LEVEL_LABELS[current.kind].lower()} was not filed within its window."
    )
    return moves.locked(session, appeal.referral_id)


def decision_overdue(session: Session, appeal_id: int) -> Appeal | None:
    """The appeal whose filed level's decision is overdue, or None (decided since)."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is None or appeal.status is not AppealStatus.open:
        return None
    levels = repository.levels_by_appeal(session, [appeal.id]).get(appeal.id, [])
    current = _current(levels)
    if current is None or current.status is not LevelStatus.filed:
        return None
    return appeal


def _appeal(
    session: Session, actor: Actor, case_number: str, appeal_id: int, *, clock: Clock
) -> tuple[Appeal, Referral, list[AppealLevel]]:
    referral = moves.visible_for_update(session, actor, case_number, "appeal.write", clock=clock)
    appeal = repository.appeal_of_case(session, referral.id, appeal_id, lock=True)
    if appeal is None:
        raise AppealNotFoundError(f"The case has no appeal {appeal_id}.")
    return appeal, referral, repository.levels_by_appeal(session, [appeal.id]).get(appeal.id, [])


def _current(levels: list[AppealLevel]) -> AppealLevel | None:
    """The level in play: the one filed or open for filing (None once the appeal ends)."""
    for level in levels:
        if level.status in (
            LevelStatus.open_for_filing,
            LevelStatus.filed,
            LevelStatus.information_requested,
        ):
            return level
    return None


def _allowed(appeal: Appeal, levels: list[AppealLevel]) -> list[str]:
    current = _current(levels)
    if appeal.status is not AppealStatus.open or current is None:
        return []
    return {
        LevelStatus.open_for_filing: ["file_level"],
        LevelStatus.filed: ["outcome"],
        LevelStatus.information_requested: ["file_level", "outcome"],
    }.get(current.status, [])


def _state_error(appeal: Appeal, levels: list[AppealLevel], what: str) -> AppealStateError:
    allowed = _allowed(appeal, levels)
    current = _current(levels)
    if appeal.status is not AppealStatus.open:
        state = f"the appeal is {rules.APPEAL_STATUS_LABELS[appeal.status].lower()}"
    elif current is not None and current.status is LevelStatus.open_for_filing:
        state = f"the {rules.LEVEL_LABELS[current.kind].lower()} has not been filed yet"
    else:
        state = "the level filed is waiting for the payer's decision"
    return AppealStateError(
        f"Cannot {what}: {state}. Allowed now: {', '.join(allowed) or 'none'}.",
        extra={"status": appeal.status.value, "allowed_actions": allowed},
    )


def _read(
    appeal: Appeal, referral: Referral, levels: list[AppealLevel], ladder: AppealRules
) -> AppealRead:
    current = _current(levels)
    out = []
    for level in levels:
        rule = ladder.level(level.position) if level.position <= len(ladder.levels) else None
        out.append(
            LevelRead(
                position=level.position,
                kind=level.kind,
                label=rules.LEVEL_LABELS[level.kind],
                status=level.status,
                status_label=rules.LEVEL_STATUS_LABELS[level.status],
                filing_due_at=level.filing_due_at,
                filed_at=level.filed_at,
                filed_by=level.filed_by,
                decision_due_at=level.decision_due_at,
                decided_at=level.decided_at,
                note=level.note,
                filing_rule=rules.window_source(rule, "filing") if rule else "",
                decision_rule=rules.window_source(rule, "decision") if rule else "",
            )
        )
    return AppealRead(
        id=appeal.id,
        case_number=referral.case_number,
        authorization_id=appeal.authorization_id,
        denial_reason=appeal.denial_reason,
        denial_label=rules.DENIAL_LABELS[appeal.denial_reason],
        preventing_check=rules.preventing_check(appeal.denial_reason),
        status=appeal.status,
        status_label=rules.APPEAL_STATUS_LABELS[appeal.status],
        opened_at=appeal.opened_at,
        opened_by=appeal.opened_by,
        closed_at=appeal.closed_at,
        close_reason=appeal.close_reason,
        current_level=current.position if current else None,
        levels=out,
        allowed_actions=_allowed(appeal, levels),
    )
