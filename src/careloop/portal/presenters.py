"""Words for people: statuses in plain language, what to do about each finding, and
times in the reader's zone. Presentation only: which actions are allowed, and why a
finding is raised, is decided by the services and their rules."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

#: A referral's status as staff and referrers read it.
STATUS_WORDS = {
    "received": "Received, waiting to be acknowledged",
    "needs_clarification": "Waiting for missing information",
    "acknowledged": "Acknowledged, being arranged",
    "eligibility_verified": "Coverage checked",
    "authorization_pending": "Waiting for the health plan's approval",
    "authorized": "Approved by the health plan",
    "denied": "Not approved by the health plan",
    "offered": "Offered to a provider",
    "accepted": "A provider accepted",
    "unplaced": "No provider yet: escalated",
    "scheduled": "Visit or delivery scheduled",
    "missed": "Visit or delivery missed; being rescheduled",
    "fulfilled": "Delivered or started",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

#: A member's view: fewer words, nothing internal.
MEMBER_WORDS = {
    "received": "We received the order from your doctor.",
    "needs_clarification": "We received the order and are checking a few details with your doctor.",
    "acknowledged": "We are arranging your care.",
    "eligibility_verified": "We checked your coverage and are arranging your care.",
    "authorization_pending": "We asked your health plan to approve your care.",
    "authorized": "Your health plan approved your care.",
    "denied": "Your health plan did not approve this care. We will call you about next steps.",
    "offered": "We are finding a provider near you.",
    "accepted": "A provider will care for you.",
    "unplaced": "We are still finding a provider near you; we will call you.",
    "scheduled": "Your visit or delivery is scheduled.",
    "missed": "A visit or delivery was missed; we are rescheduling it.",
    "fulfilled": "Your equipment was delivered or your care has started.",
    "closed": "This case is closed.",
    "cancelled": "This case was cancelled.",
}

#: Who can fix a finding, by the first part of its field.
_FIX_BY_SECTION = {
    "member": "Confirm it with the member or the referrer, then record it",
    "coverage": "Ask the referrer or the health plan for the member's coverage, then record it",
    "ordering_provider": "Ask the referrer for the ordering clinician's details, then record them",
    "signed_order": "Ask the referrer to send a signed, dated order, then record it",
    "diagnoses": "Ask the ordering clinician for a billable diagnosis code, then record it",
    "items": "Ask the ordering clinician to correct the item, then record it",
    "requested_start": "Agree a start date with the referrer, then record it",
    "discharge_at": "Confirm the discharge time with the hospital, then record it",
}


def status_words(status: str | Enum) -> str:
    key = status.value if isinstance(status, Enum) else status
    return STATUS_WORDS.get(str(key), str(key).replace("_", " ").capitalize())


def member_words(status: str | Enum) -> str:
    key = status.value if isinstance(status, Enum) else status
    return MEMBER_WORDS.get(str(key), "We are working on your case.")


_ACRONYMS = {
    "dme": "DME",
    "hcpcs": "HCPCS",
    "npi": "NPI",
    "cpt": "CPT",
    "icd": "ICD",
    "w9": "W-9",
    "fhir": "FHIR",
    "caqh": "CAQH",
}


def words(value: str | Enum | None) -> str:
    """``service_start`` → ``Service start``; ``standard_dme`` → ``Standard DME``."""
    if value is None:
        return "—"
    key = value.value if isinstance(value, Enum) else value
    text = str(key).replace("_", " ").capitalize()
    return " ".join(_ACRONYMS.get(w.lower(), w) for w in text.split(" "))


def event_details(data: dict[str, object], zone: str) -> list[tuple[str, str]]:
    """A timeline event's data as (label, text): instants in the case's zone, yes/no for
    flags, lists joined; empty values left out."""
    out = []
    for key, value in data.items():
        if value is None or value in ("", []):
            continue
        out.append((words(key), _detail_text(value, zone)))
    return out


def _detail_text(value: object, zone: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_detail_text(v, zone) for v in value)
    if isinstance(value, dict):
        # A finding or a line: its field (or code) says what it is about.
        named = value.get("field") or value.get("code")
        if named:
            return str(named)
        return "; ".join(f"{words(str(k))} {_detail_text(v, zone)}" for k, v in value.items())
    return _instant_text(value, zone) if isinstance(value, str) else str(value)


def _instant_text(value: str, zone: str) -> str:
    """An ISO 8601 instant in the reader's zone; any other text as it is."""
    if len(value) < 19 or value[4] != "-" or value[10] != "T":
        return value
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value
    if instant.tzinfo is None:
        return value
    return instant_words(instant, zone)


def instant_words(value: datetime, zone: str) -> str:
    """``Tue 24 Nov 2026, 09:00 EST``: an instant in the zone the reader works in."""
    return value.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M %Z")


def fix_hint(field: str, code: str) -> str:
    """What to do about a finding, by the part of the referral it is about."""
    if code == "possible_duplicate":
        return "Compare with the other case; cancel this one if it is the same order"
    section = field.split(".", 1)[0]
    return _FIX_BY_SECTION.get(section, "Check it with the referrer, then record it")


def window_words(start: datetime | None, end: datetime | None, zone: str) -> str:
    """``Wed 25 Nov between 09:00 and 12:00``: a booked window as a member reads it, in
    the member's zone (both ends on one day, as windows are booked)."""
    if start is None or end is None:
        return "not booked yet"
    tz = ZoneInfo(zone)
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.date() == b.date():
        return f"{a:%a %d %b} between {a:%H:%M} and {b:%H:%M}"
    return f"{a:%a %d %b %H:%M} to {b:%a %d %b %H:%M}"
