"""Rules of contacts and notes (DOMAIN.md §9, the call script): what a contact must say
to be on record, how it reads on the timeline, and who works its follow-up.

Pure: no database, no HTTP. The bounds are project defaults (the source gives none); each
says why it is what it is, and callers may pass their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from careloop.codes.phone import normalise_phone
from careloop.core.errors import FieldError


class ContactKind(StrEnum):
    call = "call"
    email = "email"
    fax = "fax"
    portal_message = "portal_message"
    sms = "sms"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class PartyKind(StrEnum):
    member = "member"
    caregiver = "caregiver"
    referrer = "referrer"
    provider = "provider"
    payer = "payer"
    other = "other"


class ContactReason(StrEnum):
    """Why the party got in touch (the call script's "reason for call", DOMAIN.md §9)."""

    status_check = "status_check"
    scheduling = "scheduling"
    clarification = "clarification"
    authorisation = "authorisation"
    escalation = "escalation"
    complaint = "complaint"
    other = "other"


class ContactOutcome(StrEnum):
    resolved = "resolved"
    follow_up = "follow_up"


class NoteVisibility(StrEnum):
    internal = "internal"
    shared = "shared"


@dataclass(frozen=True, slots=True)
class ContactBounds:
    """How far from now a contact's times may lie.

    ``backdate``: a contact is logged from notes at most this long after it happened
    (project default 30 days: older ones belong in a note, and a KPI month is closed by
    then). ``skew``: a start this far in the future is a clock difference between the
    agent's machine and the server, not a contact from the future (project default 5
    minutes). ``longest``: no single contact lasts longer (project default 12 hours, a
    shift); a longer one is a typing mistake in the date.
    """

    backdate: timedelta = timedelta(days=30)
    skew: timedelta = timedelta(minutes=5)
    longest: timedelta = timedelta(hours=12)


DEFAULT_BOUNDS = ContactBounds()

#: Local part, one "@", a domain of dot-separated labels with a letter-only top level.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalise_email(value: str) -> str | None:
    """The address with its domain lower-cased, or None when it is not an e-mail address
    (RFC 5321's dot-atom form, which is what real mailboxes use: no quoted local parts,
    no IP literals, a domain with a dot)."""
    if not _EMAIL.fullmatch(value) or ".." in value or value.startswith("."):
        return None
    local, _, domain = value.rpartition("@")
    if local.endswith("."):
        return None
    return f"{local}@{domain.lower()}"


def time_problems(
    started_at: datetime,
    ended_at: datetime,
    now: datetime,
    bounds: ContactBounds = DEFAULT_BOUNDS,
) -> list[FieldError]:
    """A contact starts in the recent past and ends after it starts (DOMAIN.md §9: the
    interaction is logged with timestamps)."""
    problems = []
    if started_at > now + bounds.skew:
        problems.append(FieldError("started_at", "must not be in the future"))
    elif started_at < now - bounds.backdate:
        problems.append(
            FieldError(
                "started_at",
                f"must be within the last {bounds.backdate.days} days; "
                "log an older contact as a note",
            )
        )
    if ended_at < started_at:
        problems.append(FieldError("ended_at", "must not be before the contact started"))
    elif ended_at - started_at > bounds.longest:
        hours = int(bounds.longest.total_seconds() // 3600)
        problems.append(FieldError("ended_at", f"a contact lasts at most {hours} hours"))
    elif ended_at > now + bounds.skew:
        problems.append(FieldError("ended_at", "must not be in the future"))
    return problems


def outcome_problems(
    outcome: ContactOutcome, follow_up_due_at: datetime | None, now: datetime
) -> list[FieldError]:
    """A follow-up is work with a time on it: it needs a due time, and one still ahead."""
    if outcome is ContactOutcome.resolved:
        if follow_up_due_at is not None:
            return [FieldError("follow_up_due_at", "must be empty when the contact is resolved")]
        return []
    if follow_up_due_at is None:
        return [FieldError("follow_up_due_at", "is required for a follow-up")]
    if follow_up_due_at <= now:
        return [FieldError("follow_up_due_at", "must be in the future")]
    return []


def address_problems(phone: str | None, email: str | None) -> list[FieldError]:
    """The call-back number is a real US phone number (careloop.codes.phone) and the
    e-mail address is an address."""
    problems = []
    if phone is not None and normalise_phone(phone) is None:
        problems.append(FieldError("party.phone", "is not a valid US phone number"))
    if email is not None and normalise_email(email) is None:
        problems.append(FieldError("party.email", "is not an e-mail address"))
    return problems


#: Who works a follow-up when the agent names no team (project default): a contact not
#: yet on a case goes to intake (who find or open the case), an authorisation question
#: to clinical review, anything else to the case managers.
TEAM_OF_REASON = {ContactReason.authorisation: "clinical_review"}
DEFAULT_TEAM = "case_management"
NO_CASE_TEAM = "intake"


def follow_up_team(reason: ContactReason, *, on_case: bool) -> str:
    if not on_case:
        return NO_CASE_TEAM
    return TEAM_OF_REASON.get(reason, DEFAULT_TEAM)


_NOUN = {
    ContactKind.call: "Call",
    ContactKind.email: "E-mail",
    ContactKind.fax: "Fax",
    ContactKind.portal_message: "Portal message",
    ContactKind.sms: "Text message",
}
_REASON_WORDS = {
    ContactReason.status_check: "status check",
    ContactReason.scheduling: "scheduling",
    ContactReason.clarification: "clarification",
    ContactReason.authorisation: "authorisation",
    ContactReason.escalation: "escalation",
    ContactReason.complaint: "complaint",
    ContactReason.other: "other reason",
}
_PARTY_WORDS = {
    PartyKind.member: "member",
    PartyKind.caregiver: "caregiver",
    PartyKind.referrer: "referrer",
    PartyKind.provider: "provider",
    PartyKind.payer: "payer",
    PartyKind.other: "other party",
}


def reason_words(reason: ContactReason) -> str:
    return _REASON_WORDS[reason]


def party_words(kind: PartyKind) -> str:
    return _PARTY_WORDS[kind]


def kind_words(kind: ContactKind) -> str:
    return _NOUN[kind]


def duration_words(started_at: datetime, ended_at: datetime) -> str:
    """Whole minutes, at least one ("6 min"; "1 h 05 min" past the hour)."""
    minutes = max(1, round((ended_at - started_at).total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def local_words(value: datetime, zone: str) -> str:
    """``Tue 24 Nov, 14:30`` in the reader's zone."""
    return value.astimezone(ZoneInfo(zone)).strftime("%a %d %b, %H:%M")


@dataclass(frozen=True, slots=True)
class ContactFacts:
    kind: ContactKind
    direction: Direction
    party_kind: PartyKind
    party_name: str
    reason: ContactReason
    outcome: ContactOutcome
    started_at: datetime
    ended_at: datetime
    follow_up_due_at: datetime | None = None


def describe(contact: ContactFacts, zone: str) -> str:
    """The contact in plain words for the timeline: "Call from Dorothy Hale (member):
    status check, resolved — 6 min"."""
    towards = "from" if contact.direction is Direction.inbound else "to"
    party = contact.party_name or "an unnamed caller"
    if contact.outcome is ContactOutcome.resolved:
        outcome = "resolved"
    elif contact.follow_up_due_at is not None:
        outcome = f"follow-up due {local_words(contact.follow_up_due_at, zone)}"
    else:
        outcome = "follow-up"
    return (
        f"{_NOUN[contact.kind]} {towards} {party} ({_PARTY_WORDS[contact.party_kind]}): "
        f"{_REASON_WORDS[contact.reason]}, {outcome} — "
        f"{duration_words(contact.started_at, contact.ended_at)}"
    )


def note_words(visibility: NoteVisibility) -> str:
    return (
        "Note shared with the referrer" if visibility is NoteVisibility.shared else "Internal note"
    )


def follow_up_title(contact: ContactFacts) -> str:
    """What the work item asks of a person, without PHI (no names: the queue's row
    shows the case)."""
    return (
        f"Follow up on a {_REASON_WORDS[contact.reason]} "
        f"{_NOUN[contact.kind].lower()} with the {_PARTY_WORDS[contact.party_kind]}"
    )


#: Channels through which the referrer typed the order themselves: the notes that came
#: with it are theirs, so shared with them. A call, fax or e-mail was typed in by staff.
REFERRER_TYPED_CHANNELS = frozenset({"portal", "fhir", "batch"})


def intake_note_visibility(channel: str) -> NoteVisibility:
    """The intake form's notes, shown as the case's first note: shared when the referrer
    typed them, internal when an agent did."""
    if channel in REFERRER_TYPED_CHANNELS:
        return NoteVisibility.shared
    return NoteVisibility.internal
