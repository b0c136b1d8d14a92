"""Who owns a case: the case manager a new case goes to (identity.rules, assignment), a
person's override, and the move of a case manager's open cases to others when they go
off duty or are deactivated.

The referral domain is the only writer of a case's assignee and of its timeline; the
identity domain announces ``identity.case_manager_unavailable`` and this module moves
the cases in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError
from careloop.identity import rules as staffing
from careloop.identity import service as identity_service
from careloop.identity.permissions import require
from careloop.payer.service import ResolvedPayer
from careloop.referral import assignees, moves, repository
from careloop.referral.enums import OPEN_STATUSES
from careloop.referral.models import Referral
from careloop.referral.moves import LINE_OF_CLASS, visible_for_update
from careloop.referral.schemas import CaseManagerRead
from careloop.sla import ServiceClass


@dataclass(frozen=True, slots=True)
class Chosen:
    """The case manager a case goes to, and why."""

    user_id: int
    name: str
    extension: str | None
    reason: str

    def read(self) -> CaseManagerRead:
        return CaseManagerRead(name=self.name, extension=self.extension)


def case_needs(
    *,
    service_class: str,
    member_language: str | None,
    payer_code: str | None,
    payer_name: str | None,
) -> staffing.CaseNeeds:
    """What a case asks of its case manager, from the case's own facts."""
    return staffing.CaseNeeds(
        service_line=LINE_OF_CLASS[ServiceClass(service_class)].value,
        language=staffing.language_key(member_language),
        payer_code=payer_code.upper() if payer_code else None,
        payer_name=payer_name,
    )


def choose_at_intake(
    session: Session,
    service_class: ServiceClass,
    member_language: str | None,
    payer: ResolvedPayer | None,
) -> Chosen | None:
    """The case manager a new case goes to (one query), from the checked order."""
    needs = case_needs(
        service_class=service_class.value,
        member_language=member_language,
        payer_code=payer.code if payer else None,
        payer_name=payer.name if payer else None,
    )
    return choose_assignee(session, needs)


def choose_assignee(session: Session, needs: staffing.CaseNeeds) -> Chosen | None:
    """The case manager a case goes to (one query), or None when nobody is on duty."""
    row = assignees.next_assignee(session, needs)
    if row is None:
        return None
    fitting = staffing.Fit(
        speaks=row.speaks,
        handles_payer=row.handles_payer,
        handles_line=row.handles_line,
        payer_listed=row.payer_listed,
        line_listed=row.line_listed,
    )
    return Chosen(
        row.user_id, row.name, row.extension, staffing.reason(needs, fitting, row.open_cases)
    )


def choose_many(
    session: Session,
    cases: list[tuple[ServiceClass, str | None, ResolvedPayer | None]],
) -> list[Chosen | None]:
    """The case manager of each new case of a batch (bulk intake), as ``choose_at_intake``
    would choose them one after the other: one query per distinct set of needs lists
    the available case managers with how they fit, then each case goes to the first by
    ``identity.rules.rank_key``, counting the cases the batch already gave them."""
    ranked: dict[staffing.CaseNeeds, list[assignees.AssigneeRow]] = {}
    given: dict[int, int] = {}
    out: list[Chosen | None] = []
    for service_class, language, payer in cases:
        needs = case_needs(
            service_class=service_class.value,
            member_language=language,
            payer_code=payer.code if payer else None,
            payer_name=payer.name if payer else None,
        )
        if needs not in ranked:
            ranked[needs] = assignees.ranked_assignees(session, needs)
        best: tuple[tuple[bool, bool, bool, bool, int, int], staffing.Fit, int, int] | None
        best = None
        for row in ranked[needs]:
            fitting = _fit(row)
            open_cases = row.open_cases + given.get(row.user_id, 0)
            key = staffing.rank_key(fitting, open_cases, row.user_id)
            if best is None or key < best[0]:
                best = (key, fitting, open_cases, row.user_id)
        if best is None:
            out.append(None)
            continue
        _, fitting, open_cases, user_id = best
        row = next(r for r in ranked[needs] if r.user_id == user_id)
        given[user_id] = given.get(user_id, 0) + 1
        out.append(
            Chosen(user_id, row.name, row.extension, staffing.reason(needs, fitting, open_cases))
        )
    return out


def _fit(row: assignees.AssigneeRow) -> staffing.Fit:
    return staffing.Fit(
        speaks=row.speaks,
        handles_payer=row.handles_payer,
        handles_line=row.handles_line,
        payer_listed=row.payer_listed,
        line_listed=row.line_listed,
    )


def assigned_event(
    referral_id: int, actor: Actor, chosen: Chosen | None, *, now: datetime
) -> dict[str, Any]:
    """The timeline row of an assignment made by the rules (intake inserts it with the
    case's other events)."""
    data: dict[str, Any] = (
        {"case_manager": chosen.name, "reason": chosen.reason}
        if chosen is not None
        else {"case_manager": None, "reason": "nobody on the case-management team is on duty"}
    )
    type_ = "referral.assigned" if chosen is not None else "referral.unassigned"
    return moves.event_row(referral_id, actor, type_, now=now, **data)


def assignee_of(session: Session, referral_id: int) -> int | None:
    """The user id of the case manager who owns a case (None: nobody yet)."""
    referral = session.get(Referral, referral_id)
    return referral.assignee_user_id if referral is not None else None


def assignee_read(session: Session, user_id: int | None) -> CaseManagerRead | None:
    """The name and extension of a case's case manager, for the read model."""
    if user_id is None:
        return None
    name, extension = identity_service.case_manager_contact(session, user_id)
    return CaseManagerRead(name=name, extension=extension)


def named_to_referrer(
    session: Session,
    actor: Actor,
    referral: Referral,
    name: str | None,
    extension: str | None,
) -> tuple[str, str | None]:
    """Who the referrer is told owns the case at acknowledgement (DOMAIN.md §2 step 2):
    the name given, else the case's assigned case manager, else the acknowledging user."""
    if name:
        return name, extension
    owner = referral.assignee_user_id or actor.user_id
    if owner is None:
        return actor.label, extension
    found, own_extension = identity_service.case_manager_contact(session, owner)
    return found, extension or own_extension


def open_case_count(session: Session, user_id: int) -> int:
    """How many open cases a case manager owns."""
    return assignees.open_case_count(session, user_id)


def assign_case(
    session: Session,
    actor: Actor,
    case_number: str,
    *,
    email: str,
    note: str | None,
    clock: Clock,
) -> Referral:
    """A person gives the case to a named case manager (overriding the rules). The
    target must be an active case manager (422 naming ``email``); a case the actor
    cannot see is 404; roles without ``referral:assign`` are 403."""
    require(actor, "referral:assign")
    referral = visible_for_update(session, actor, case_number, "referral.assign", clock=clock)
    target = identity_service.case_manager_by_email(session, email)
    if referral.status not in OPEN_STATUSES:
        raise ConflictError("A closed or cancelled case has no case manager to change.")
    now = clock.now()
    previous = referral.assignee_user_id
    referral.assignee_user_id = target.id
    referral.updated_at = now
    reason = f"chosen by {actor.label}" + (f": {note}" if note else "")
    moves.event(
        session,
        actor,
        referral,
        "referral.reassigned",
        now=now,
        case_manager=target.display_name,
        previous=_name(session, previous),
        reason=reason,
    )
    audit.record(
        session,
        actor,
        "referral.assign",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    session.flush()
    return referral


def reassign_open_cases(
    session: Session, actor: Actor, user_id: int, *, why: str, clock: Clock
) -> int:
    """Move every open case of a case manager who is no longer available (off duty,
    deactivated) to whoever the rules choose now, each with a timeline event saying
    why; a case nobody can take is left unassigned for the team's queue. Returns how
    many cases moved."""
    now = clock.now()
    cases = assignees.open_cases_of(session, user_id)
    payers = repository.payer_facts(session, [c.payer_id for c in cases if c.payer_id])
    previous = _name(session, user_id)
    for referral in cases:
        code, name = (
            payers.get(referral.payer_id, (None, None)) if referral.payer_id else (None, None)
        )
        needs = case_needs(
            service_class=referral.service_class,
            member_language=referral.member_language,
            payer_code=code,
            payer_name=name,
        )
        referral.assignee_user_id = None
        session.flush()
        chosen = choose_assignee(session, needs)
        referral.assignee_user_id = chosen.user_id if chosen else None
        referral.updated_at = now
        moves.event(
            session,
            actor,
            referral,
            "referral.reassigned" if chosen else "referral.unassigned",
            now=now,
            case_manager=chosen.name if chosen else None,
            previous=previous,
            reason=f"{previous} {why}; " + (chosen.reason if chosen else "nobody is on duty"),
        )
        audit.record(
            session,
            actor,
            "referral.reassign",
            clock=clock,
            case_number=referral.case_number,
            referral_id=referral.id,
        )
        session.flush()
    return len(cases)


def _name(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return identity_service.case_manager_contact(session, user_id)[0]


def _on_case_manager_unavailable(
    *, session: Session, actor: Actor, user_id: int, why: str, clock: Clock, **_: Any
) -> None:
    reassign_open_cases(session, actor, user_id, why=why, clock=clock)


events.subscribe("identity.case_manager_unavailable", _on_case_manager_unavailable)

__all__ = [
    "Chosen",
    "assign_case",
    "assigned_event",
    "assignee_of",
    "assignee_read",
    "case_needs",
    "choose_assignee",
    "choose_at_intake",
    "named_to_referrer",
    "open_case_count",
    "reassign_open_cases",
]
