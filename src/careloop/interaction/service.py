"""Contacts and notes use cases (DOMAIN.md §9, the call script): log a contact on a case
or without one (linked later), answer or close its follow-up, and write and read notes.

Each contact and note is also a step on the case's timeline, written through the
referral domain's ``moves.record_event`` (the only writer of timeline events), in plain
words. A follow-up is work for a person: it is announced as ``work.needed`` (subject
``contact:<id>``) and ended with ``work.done`` for the work queue, which subscribes.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.codes.phone import normalise_phone
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, FieldError, NotFoundError, RuleViolationError
from careloop.identity.permissions import require
from careloop.interaction import repository, rules
from careloop.interaction.models import CaseNote, Contact
from careloop.interaction.rules import ContactOutcome, NoteVisibility
from careloop.interaction.schemas import (
    ContactCreate,
    ContactLink,
    ContactList,
    ContactRead,
    NoteCreate,
    NoteList,
    NoteRead,
    PartyRead,
)
from careloop.referral import moves
from careloop.referral.models import Referral


class ContactNotFoundError(NotFoundError):
    code = "contact_not_found"
    title = "No such contact"


class ContactStateError(ConflictError):
    code = "contact_state"
    title = "Not allowed in the contact's current state"


def _not_found(contact_id: int) -> ContactNotFoundError:
    return ContactNotFoundError(f"There is no contact {contact_id} that you can see.")


# ---- contacts --------------------------------------------------------------------------------


def log_contact(
    session: Session,
    actor: Actor,
    body: ContactCreate,
    *,
    clock: Clock,
    case_number: str | None = None,
) -> ContactRead:
    """Put one contact on record as the call script asks (DOMAIN.md §9): who, why, when,
    whether the case number and the agent's name were given, and the outcome. A
    follow-up becomes work in the queue; answering an earlier follow-up ends it."""
    require(actor, "contact:log")
    if case_number and body.case_number and case_number.upper() != body.case_number.upper():
        raise RuleViolationError(
            "The contact cannot be logged.",
            errors=[FieldError("case_number", "must be the case in the address, or left out")],
        )
    number = case_number or body.case_number
    referral = _case_for_write(session, actor, number, "contact.log", clock=clock)
    now = clock.now()
    started = body.started_at.astimezone(UTC)
    ended = (body.ended_at or now).astimezone(UTC)
    due = body.follow_up_due_at.astimezone(UTC) if body.follow_up_due_at else None
    answered = _answered(session, actor, body, referral)
    problems = [
        *rules.time_problems(started, ended, now),
        *rules.outcome_problems(body.outcome, due, now),
        *rules.address_problems(body.party.phone, body.party.email),
    ]
    if problems:
        raise RuleViolationError("The contact cannot be logged.", errors=problems)
    contact = Contact(
        referral_id=referral.id if referral else None,
        kind=body.kind,
        direction=body.direction,
        party_kind=body.party.kind,
        party_name=body.party.name,
        party_organization=body.party.organization or None,
        party_phone=normalise_phone(body.party.phone) if body.party.phone else None,
        party_email=rules.normalise_email(body.party.email) if body.party.email else None,
        reason=body.reason,
        summary=body.summary,
        started_at=started,
        ended_at=ended,
        case_number_given=body.case_number_given,
        agent_name_given=body.agent_name_given,
        outcome=body.outcome,
        team=body.team.value
        if body.team
        else rules.follow_up_team(body.reason, on_case=referral is not None),
        follow_up_due_at=due,
        answers_contact_id=answered.id if answered else None,
        logged_at=now,
        logged_by_user_id=actor.user_id,
        logged_by=actor.label,
        organization_id=actor.organization_id,
    )
    repository.add(session, contact)
    if referral is not None:
        _on_timeline(session, actor, referral, contact, "contact.logged", clock=clock)
    else:
        _audit(session, actor, "contact.logged", contact, None, clock)
    if contact.outcome is ContactOutcome.follow_up:
        _work_needed(session, contact, clock=clock)
    if answered is not None:
        # Resolved, the follow-up is done; a further follow-up carries the work on.
        _close_follow_up(session, answered, clock=clock)
    return _read(contact, referral, actor)


def link_contact(
    session: Session, actor: Actor, contact_id: int, body: ContactLink, *, clock: Clock
) -> ContactRead:
    """Attach a contact logged without a case to its case, once found; it joins the
    case's timeline, and an open follow-up now names the case in the queue."""
    require(actor, "contact:link")
    contact = repository.get_contact(session, contact_id, visible_ids=None, for_update=True)
    if contact is None:
        raise _not_found(contact_id)
    if contact.referral_id is not None:
        raise ContactStateError("The contact is already on a case.")
    referral = moves.visible_for_update(
        session, actor, body.case_number.upper(), "contact.link", clock=clock
    )
    contact.referral_id = referral.id
    session.flush()
    _on_timeline(session, actor, referral, contact, "contact.linked", clock=clock)
    if contact.outcome is ContactOutcome.follow_up and contact.follow_up_done_at is None:
        _work_needed(session, contact, clock=clock)
    return _read(contact, referral, actor)


def mark_follow_up_done(
    session: Session, actor: Actor, contact_id: int, *, clock: Clock
) -> ContactRead:
    """End a contact's follow-up without a further contact (done some other way)."""
    require(actor, "contact:link")
    contact = repository.get_contact(session, contact_id, visible_ids=None, for_update=True)
    if contact is None:
        raise _not_found(contact_id)
    if contact.outcome is not ContactOutcome.follow_up or contact.follow_up_done_at is not None:
        raise ContactStateError("The contact has no open follow-up.")
    referral = _case_of(session, actor, contact)
    _close_follow_up(session, contact, clock=clock)
    _audit(session, actor, "contact.follow_up_done", contact, referral, clock)
    return _read(contact, referral, actor)


def get_contact(session: Session, actor: Actor, contact_id: int, *, clock: Clock) -> ContactRead:
    require(actor, "contact:read")
    visible = None if actor.is_staff else moves.visible_ids(actor)
    contact = repository.get_contact(session, contact_id, visible_ids=visible)
    if contact is None:
        raise _not_found(contact_id)
    referral = _case_of(session, actor, contact)
    _audit(session, actor, "contact.read", contact, referral, clock)
    return _read(contact, referral, actor)


def list_contacts(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> ContactList:
    """The case's contacts, oldest first (audited as one read of the case)."""
    require(actor, "contact:read")
    referral = moves.visible(session, actor, case_number.upper(), "contact.list", clock=clock)
    contacts = repository.contacts_of(session, referral.id)
    return ContactList(items=[_read(c, referral, actor) for c in contacts])


# ---- notes -----------------------------------------------------------------------------------


def add_note(
    session: Session, actor: Actor, case_number: str, body: NoteCreate, *, clock: Clock
) -> NoteRead:
    """A note on the case: internal (staff only) or shared with the referrer. A
    referrer's own note is always shared."""
    require(actor, "note:write")
    referral = moves.visible_for_update(
        session, actor, case_number.upper(), "note.add", clock=clock
    )
    visibility = body.visibility if actor.is_staff else NoteVisibility.shared
    note = CaseNote(
        referral_id=referral.id,
        visibility=visibility,
        text=body.text,
        written_at=clock.now(),
        author_user_id=actor.user_id,
        author=actor.label,
    )
    repository.add(session, note)
    moves.record_event(
        session,
        actor,
        referral,
        "note.added",
        clock=clock,
        note_id=note.id,
        text=f"{rules.note_words(visibility)}: {note.text}",
        internal=visibility is NoteVisibility.internal,
    )
    return _note_read(note)


def list_notes(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> NoteList:
    """The case's notes, oldest first, the intake form's notes as the first one. A
    referrer reads the shared ones only."""
    require(actor, "note:read")
    referral = moves.visible(session, actor, case_number.upper(), "note.list", clock=clock)
    shared_only = not actor.is_staff
    notes = [
        _note_read(n) for n in repository.notes_of(session, referral.id, shared_only=shared_only)
    ]
    first = _intake_note(referral)
    if first is not None and (not shared_only or first.visibility is NoteVisibility.shared):
        notes.insert(0, first)
    return NoteList(items=notes)


# ---- figures for the report ------------------------------------------------------------------


def contact_rows(session: Session, since: datetime, until: datetime) -> list[repository.ContactRow]:
    """Every contact that started in [since, until), as figures only (no PHI): what the
    KPIs of report/rules.py are computed from."""
    return repository.contact_rows(session, since, until)


# ---- helpers ---------------------------------------------------------------------------------


def _case_for_write(
    session: Session, actor: Actor, case_number: str | None, action: str, *, clock: Clock
) -> Referral | None:
    if case_number is not None:
        return moves.visible_for_update(session, actor, case_number.upper(), action, clock=clock)
    if not actor.is_staff:
        raise RuleViolationError(
            "Name the case.", errors=[FieldError("case_number", "is required for your role")]
        )
    return None


def _answered(
    session: Session, actor: Actor, body: ContactCreate, referral: Referral | None
) -> Contact | None:
    """The earlier contact whose open follow-up this one answers, on the same case."""
    if body.answers_contact_id is None:
        return None
    visible = None if actor.is_staff else moves.visible_ids(actor)
    earlier = repository.get_contact(
        session, body.answers_contact_id, visible_ids=visible, for_update=True
    )
    problem = None
    if earlier is None or earlier.outcome is not ContactOutcome.follow_up:
        problem = "is not a contact with a follow-up that you can see"
    elif earlier.follow_up_done_at is not None:
        problem = "names a follow-up that is already done"
    elif earlier.referral_id is not None and earlier.referral_id != (
        referral.id if referral else None
    ):
        problem = "names a contact on another case"
    if problem is not None:
        raise RuleViolationError(
            "The contact cannot be logged.", errors=[FieldError("answers_contact_id", problem)]
        )
    return earlier


def _case_of(session: Session, actor: Actor, contact: Contact) -> Referral | None:
    if contact.referral_id is None:
        return None
    return moves.visible_by_id(session, actor, contact.referral_id)


def _facts(contact: Contact) -> rules.ContactFacts:
    return rules.ContactFacts(
        kind=contact.kind,
        direction=contact.direction,
        party_kind=contact.party_kind,
        party_name=contact.party_name,
        reason=contact.reason,
        outcome=contact.outcome,
        started_at=contact.started_at,
        ended_at=contact.ended_at,
        follow_up_due_at=contact.follow_up_due_at,
    )


def _on_timeline(
    session: Session,
    actor: Actor,
    referral: Referral,
    contact: Contact,
    type_: str,
    *,
    clock: Clock,
) -> None:
    moves.record_event(
        session,
        actor,
        referral,
        type_,
        clock=clock,
        contact_id=contact.id,
        text=rules.describe(_facts(contact), referral.time_zone),
        internal=True,
    )


def _audit(
    session: Session,
    actor: Actor,
    action: str,
    contact: Contact,
    referral: Referral | None,
    clock: Clock,
) -> None:
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=referral.case_number if referral else None,
        referral_id=referral.id if referral else None,
        detail={"contact_id": contact.id},
    )


def _work_needed(session: Session, contact: Contact, *, clock: Clock) -> None:
    assert contact.follow_up_due_at is not None  # a follow-up always has one (rules)
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=contact.referral_id,
        kind="follow_up",
        team=contact.team,
        due_at=contact.follow_up_due_at,
        subject=f"contact:{contact.id}",
        title=rules.follow_up_title(_facts(contact)),
    )


def _close_follow_up(session: Session, contact: Contact, *, clock: Clock) -> None:
    contact.follow_up_done_at = clock.now()
    session.flush()
    events.publish("work.done", session=session, clock=clock, subject=f"contact:{contact.id}")


def _read(contact: Contact, referral: Referral | None, actor: Actor) -> ContactRead:
    """The contact as this actor may read it: referrers and providers get no internal
    fields (the summary, call-back details, follow-up and call-script checks)."""
    staff = actor.is_staff
    facts = _facts(contact)
    zone = referral.time_zone if referral else "UTC"
    if not staff:
        facts = replace(facts, follow_up_due_at=None)
    return ContactRead(
        id=contact.id,
        case_number=referral.case_number if referral else None,
        kind=contact.kind,
        direction=contact.direction,
        party=PartyRead(
            kind=contact.party_kind,
            name=contact.party_name,
            organization=contact.party_organization,
            phone=contact.party_phone if staff else None,
            email=contact.party_email if staff else None,
        ),
        reason=contact.reason,
        summary=contact.summary if staff else None,
        started_at=contact.started_at,
        ended_at=contact.ended_at,
        handling_seconds=int((contact.ended_at - contact.started_at).total_seconds()),
        case_number_given=contact.case_number_given if staff else None,
        agent_name_given=contact.agent_name_given if staff else None,
        outcome=contact.outcome,
        team=contact.team if staff else None,
        follow_up_due_at=contact.follow_up_due_at if staff else None,
        follow_up_done_at=contact.follow_up_done_at if staff else None,
        answers_contact_id=contact.answers_contact_id if staff else None,
        logged_by=contact.logged_by,
        logged_at=contact.logged_at,
        text=rules.describe(facts, zone),
    )


def _note_read(note: CaseNote) -> NoteRead:
    return NoteRead(
        id=note.id,
        visibility=note.visibility,
        text=note.text,
        author=note.author,
        written_at=note.written_at,
        from_intake=False,
    )


def _intake_note(referral: Referral) -> NoteRead | None:
    if not referral.notes or not referral.notes.strip():
        return None
    return NoteRead(
        id=None,
        visibility=rules.intake_note_visibility(referral.channel.value),
        text=referral.notes,
        author="Intake form",
        written_at=referral.received_at,
        from_intake=True,
    )
