"""Words for people: statuses in plain language, what to do about each finding, and
times in the reader's zone. Presentation only: which actions are allowed, and why a
finding is raised, is decided by the services and their rules."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from careloop.document.rules import KIND_LABELS, Kind
from careloop.identity.rules import language_name

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
    "missed": "Missed; being rescheduled",
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


#: The titles the services give a refusal for the programs that call the API (whose
#: problem+json keeps them as they are), as a person using the portal reads them.
_PAGE_TITLES = {
    "The request has invalid fields": "Some details need correcting",
    "Request body too large": "What was sent is too large",
}


def title_words(title: str) -> str:
    """A refusal's title as the portal shows it (its own words for a program's)."""
    return _PAGE_TITLES.get(title, title)


def status_words(status: str | Enum) -> str:
    key = status.value if isinstance(status, Enum) else status
    return STATUS_WORDS.get(str(key), str(key).replace("_", " ").capitalize())


#: The clearinghouse's label as the services record it (clearinghouse.CLEARINGHOUSE_ACTOR),
#: which exchanges the payer's files: what it did is said as done with the payer
#: electronically, never "by clearinghouse".
_CLEARINGHOUSE = "clearinghouse"


def requested_by_words(label: str) -> str:
    """Who asked for a prior authorisation, after its time ("by Dana Reyes")."""
    return "sent to the payer electronically" if label == _CLEARINGHOUSE else f"by {label}"


def done_by_words(label: str) -> str:
    """Who did what a timeline entry says, after it ("by Jane Ruiz"; the clearinghouse's
    exchanges with the payer, "electronically")."""
    return "electronically" if label == _CLEARINGHOUSE else f"by {label}"


def decided_by_words(label: str) -> str:
    """Who recorded a prior authorisation's decision, after its time."""
    if label == _CLEARINGHOUSE:
        return "received from the payer electronically"
    return f"by {label}"


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


_RULE_SOURCE = re.compile(r"\b[\w/-]+\.md\b\s*(?:§\s*[\d.]+)?\s*:?\s*|§\s*[\d.]+\s*:?\s*")
#: What is left of "(DOMAIN.md §7)" once the reference is taken out.
_EMPTY_BRACKETS = re.compile(r"\s*\(\s*\)")


def rule_words(source: str) -> str:
    """A deadline's rule as a person reads it: ``warn at 75% of: DOMAIN.md §4: standard
    DME delivered within 24-72 hours`` → ``Warn at 75% of: standard DME delivered within
    24-72 hours`` (the document it comes from is for engineers)."""
    text = _EMPTY_BRACKETS.sub("", _RULE_SOURCE.sub("", source)).strip(" :")
    return text[:1].upper() + text[1:] if text else "—"


def language_words(code: str | None) -> str:
    """``es`` → ``Spanish``: a member's language by its name, never its code."""
    if not code:
        return "—"
    return language_name(code)


#: The parts of a referral a finding or a request names, as the form labels them.
_FIELD_LABELS = {
    "member": "member's details",
    "member.first_name": "member's first name",
    "member.last_name": "member's last name",
    "member.birth_date": "member's date of birth",
    "member.phone": "member's phone",
    "member.address": "member's address",
    "member.language": "member's language",
    "coverage": "coverage",
    "coverage.payer_id": "health plan",
    "coverage.payer_name": "health plan",
    "coverage.member_id": "member number on the plan card",
    "ordering_provider": "ordering clinician",
    "ordering_provider.npi": "ordering clinician's NPI",
    "ordering_provider.name": "ordering clinician's name",
    "signed_order": "signed order",
    "signed_order.signed_on": "date the order was signed",
    "diagnoses": "diagnosis",
    "diagnoses.code": "diagnosis code",
    "items": "items",
    "items.code": "item code",
    "items.quantity": "item quantity",
    "requested_start": "requested start date",
    "discharge_at": "discharge time",
}


def field_words(field: str) -> str:
    """``diagnoses.0.code`` → ``diagnosis code (line 1)``; ``signed_order`` → ``signed order``."""
    parts = field.split(".")
    lines = [int(p) + 1 for p in parts if p.isdigit()]
    key = ".".join(p for p in parts if not p.isdigit())
    label = _FIELD_LABELS.get(key) or _FIELD_LABELS.get(key.split(".", 1)[0])
    if label is None or (key not in _FIELD_LABELS and "." in key):
        label = " ".join(words(p).lower() for p in key.split("."))
        label = " ".join(_ACRONYMS.get(w, w) for w in label.split(" "))
    return f"{label} (line {lines[0]})" if lines else label


def _missing_words(values: object) -> str:
    """A list of findings (``{"code", "field"}``) or ``code:field`` strings, by field."""
    out: list[str] = []
    for v in values if isinstance(values, list) else [values]:
        field = v.get("field") if isinstance(v, dict) else str(v).rsplit(":", 1)[-1]
        text = field_words(str(field or ""))
        if text and text not in out:
            out.append(text)
    return ", ".join(out)


def _when(value: object, zone: str) -> str:
    return _instant_text(value, zone) if isinstance(value, str) else str(value)


def _day_text(value: object) -> str:
    try:
        return date.fromisoformat(str(value)).strftime("%a %d %b %Y")
    except ValueError:
        return str(value)


def _plan(d: dict[str, Any]) -> str:
    """The plan an eligibility check found, by its name (on the event since it was
    added; an older event has only its code)."""
    if d.get("plan_name"):
        return f" ({d['plan_name']})"
    return f" (plan code {d['plan']})" if d.get("plan") else ""


def _sentence(type_: str, d: dict[str, Any], zone: str) -> str:  # noqa: PLR0911, PLR0912
    """What happened, one plain sentence per kind of event."""
    provider = d.get("provider") or "the provider"
    reason = d.get("reason")
    reason_text = words(reason) if isinstance(reason, str) and "_" in reason else reason
    match type_:
        case "referral.received":
            what = words(d["service_class"]) if d.get("service_class") else "order"
            return f"Referral received: {what}"
        case "referral.clarification_requested":
            return f"Information requested: {_missing_words(d.get('missing', []))}"
        case "referral.assigned":
            return f"Case manager: {d.get('case_manager', 'named')}"
        case "referral.unassigned":
            return "Back in the team's queue"
        case "referral.reassigned":
            return f"Referral reassigned to {d.get('case_manager') or 'another case manager'}"
        case "referral.acknowledged":
            ext = f", ext. {d['extension']}" if d.get("extension") else ""
            return f"Acknowledged: case manager {d.get('case_manager', '')}{ext}".rstrip()
        case "referral.information_supplied":
            return "Missing information received"
        case "referral.cancelled":
            return f"Cancelled: {reason_text}" if reason else "Cancelled"
        case "referral.escalated":
            return f"Escalated: {reason_text}" if reason else "Escalated"
        case "referral.possible_duplicate":
            return "Possibly the same order as " + ", ".join(d.get("related_case_numbers", []))
        case "referral.member_linked":
            return "Linked to the member's record"
        case "referral.unplaced":
            return f"No provider yet: {reason_text}" if reason else "No provider yet"
        case "referral.closed":
            return "Closed"
        case "referral.discharge_reported":
            # Written by the referral domain in the member's local time.
            verb = "expects the discharge on" if d.get("expected") else "reported the discharge for"
            return str(d.get("text") or f"The hospital {verb} {_when(d.get('discharge_at'), zone)}")
        case "eligibility.verified":
            return f"Eligibility verified: coverage {words(d.get('result')).lower()}{_plan(d)}"
        case "authorization.requested":
            priority = f" ({words(d['priority']).lower()})" if d.get("priority") else ""
            return f"Prior authorisation requested{priority}"
        case "authorization.pended":
            return "Prior authorisation on hold: the health plan asked for more information"
        case "authorization.denied":
            return "Prior authorisation denied"
        case "authorization.approved":
            return "Prior authorisation approved"
        case "authorization.partially_approved":
            return "Prior authorisation partly approved"
        case "authorization.information_sent":
            return "Information sent to the health plan's reviewer"
        case "authorization.appealed":
            level = words(str(d["level"])).lower() if d.get("level") else "appeal"
            return f"Appeal filed ({level})"
        case "appeal.upheld":
            return "Denial upheld" + (": the appeal is closed" if d.get("closed") else "")
        case "authorization.units_low":
            return "Approved units running low"
        case "authorization.expiring":
            return "Prior authorisation about to expire"
        case "offer.made":
            return f"Offered to {provider}"
        case "offer.accepted":
            return f"{provider} accepted"
        case "offer.declined":
            return f"{provider} declined" + (f": {reason_text}" if reason else "")
        case "offer.expired":
            return f"{provider} did not answer in time"
        case "appointment.scheduled":
            verb = "Moved to" if d.get("rescheduled") else "Scheduled for"
            start, end = _parse(d.get("window_start")), _parse(d.get("window_end"))
            return f"{verb} {window_words(start, end, zone)}"
        case "service.missed":
            return "Visit or delivery missed" + (f": {reason_text}" if reason else "")
        case "service.started_on_time":
            return f"Delivered or done on time, {_when(d.get('at'), zone)}"
        case "service.started_late":
            return f"Delivered or done late, {_when(d.get('at'), zone)}"
        case "supply.next_due":
            return f"Next supply due {_day_text(d.get('due_on'))}"
        case "document.attached":
            return f"Document attached: {_document_words(d.get('document_kind'))}"
        case "packet.made":
            return (
                f"Case packet made ({d.get('pages')} pages), its fingerprint kept to prove it later"
            )
        case "document.lost":
            return (
                f"Document lost before it was stored: {_document_words(d.get('document_kind'))}"
                "; send it again"
            )
    return (
        _claim_sentence(type_, d)
        or _machinery_sentence(type_, d)
        or _FIXED_SENTENCES.get(type_)
        or words(type_.replace(".", " "))
    )


def _machinery_sentence(type_: str, d: dict[str, Any]) -> str | None:
    """The deadline watch, the work queue's ladder, resupplies and the clearinghouse."""
    match type_:
        case "sla.breached" | "sla.warning":
            what = "missed" if type_ == "sla.breached" else "at risk"
            return f"Deadline {what}: {words(d.get('clock')).lower()}"
        case "work.escalated":
            queue = d.get("queue") or "supervisor"
            return f"Overdue work moved to the {queue}'s queue: {d.get('work')}"
        case "supply.resupply_due":
            return f"Next supply delivery to book, due {_day_text(d.get('due_on'))}"
        case (
            "x12.eligibility_inquiry_sent"
            | "x12.review_request_sent"
            | "x12.review_request_refused"
            | "x12.eligibility_inquiry_refused"
        ):
            return _clearinghouse_sentence(type_, d)
    return None


def _clearinghouse_sentence(type_: str, d: dict[str, Any]) -> str:
    """What was asked of which payer (by its name; its clearinghouse id for events written
    before the name was kept), and what it answered when it refused to answer."""
    payer = d.get("payer_name") or d.get("payer") or "The payer"
    if type_ == "x12.eligibility_inquiry_sent":
        return f"Asked {payer} whether the member's coverage is active"
    if type_ == "x12.review_request_sent":
        return f"Sent {payer} the prior authorisation request to review"
    if type_ == "x12.eligibility_inquiry_refused":
        return (
            f"{payer} did not answer whether the member's coverage is active: "
            f"{d.get('reason')}. Verify eligibility another way, or ask again"
        )
    return (
        f"{payer} sent the prior authorisation request back unreviewed: "
        f"{d.get('reason')}. Correct it and send it again"
    )


def _claim_sentence(type_: str, d: dict[str, Any]) -> str | None:
    number = d.get("claim_number", "")
    return {
        "claim.prepared": f"Claim {number} prepared, ready to send",
        "claim.sent": f"Claim {number} sent to the payer",
        "claim.accepted": f"The payer acknowledged claim {number} and is processing it",
        "claim.rejected": f"The payer rejected claim {number}: {d.get('reason', '')}",
        "claim.status_asked": f"The payer was asked for the status of claim {number}",
        "claim.payer_status": f"The payer on claim {number}: {d.get('status', '')}",
        "claim.filing_window_missed": f"Claim {number} was not filed before its window closed",
    }.get(type_)


#: Events said the same way whatever their data (appeals, complaints, the regulator).
_FIXED_SENTENCES = {
    "authorization.upheld": "The health plan upheld its denial on appeal",
    "appeal.overturned": "Denial overturned on appeal",
    "appeal.information_requested": "The appeal reviewer asked for information",
    "appeal.information_sent": "Information sent to the appeal reviewer",
    "appeal.lapsed": "The appeal's next level was not filed in time",
    "grievance.opened": "Complaint logged",
    "grievance.acknowledged": "Complaint acknowledged",
    "grievance.resolved": "Complaint resolved",
    "regulatory.filed": "Filed with the state regulator",
}


def _document_words(kind: object) -> str:
    try:
        return KIND_LABELS[Kind(str(kind))].lower()
    except ValueError:
        return "a document"


def _parse(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


#: Data already said by the sentence, or ids and machine fields nobody reads.
_SAID = {
    "from",
    "to",
    "provider",
    "case_manager",
    "extension",
    "reason",
    "plan",
    "result",
    "priority",
    "missing",
    "related_case_numbers",
    "service_class",
    "status",
    "window_start",
    "window_end",
    "rescheduled",
    "at",
    "due_on",
    "decision",
    "cleared",
    "new",
    "sequence",
    "lines",
    "findings",
    "flags",
    "within_24h",
    "text",
    "closed",
    "subject",
    "raised_by",
    "document_kind",
    "pages",
    "claim_number",
}

#: What the sentences of the deadline watch, the work queue's ladder and the
#: clearinghouse say, and the codes of that machinery nobody reads.
_SAID_BY_TYPE = {
    "sla.breached": {"clock"},
    "sla.warning": {"clock"},
    "work.escalated": {"work", "kind", "level", "queue"},
    "eligibility.verified": {"plan_name"},
    "x12.eligibility_inquiry_sent": {"transaction", "payer", "payer_name", "internal"},
    "x12.review_request_sent": {"transaction", "payer", "payer_name", "internal"},
    "x12.review_request_refused": {"payer", "payer_name", "reason", "internal"},
    "x12.eligibility_inquiry_refused": {"payer", "payer_name", "reason", "internal"},
}


def event_words(type_: str, data: dict[str, Any], zone: str) -> tuple[str, list[tuple[str, str]]]:
    """A timeline event as a sentence and a few plain details: statuses by their labels,
    fields by their names, times in ``zone``; no ids, no enum values."""
    sentence = _sentence(type_, data, zone)
    details: list[tuple[str, str]] = []
    before, after = data.get("from"), data.get("to")
    if after and after != before:
        details.append(("Now", status_words(str(after))))
    if type_ in _WHY_APART and data.get("reason"):
        details.append(("Why", str(data["reason"])))
    if data.get("cleared"):
        details.append(("Received", _missing_words(data["cleared"])))
    said = _SAID | _SAID_BY_TYPE.get(type_, set())
    for key, value in data.items():
        if key in said or key == "id" or key.endswith("_id") or value is None:
            continue
        if value in ("", []):
            continue
        label = _DETAIL_LABELS.get(key, words(key))
        if key.endswith("_on") or key == "service_date":
            text = _day_text(value)
        elif isinstance(value, str) and re.fullmatch(r"[a-z]+(?:_[a-z0-9]+)+", value):
            text = words(value).capitalize()
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = ", ".join(words(v) if "_" in v and " " not in v else v for v in value)
        else:
            text = _detail_text(value, zone)
        details.append((label, text))
    if isinstance(data.get("flags"), list) and data["flags"]:
        details.append(("Why", ", ".join(words(f).lower() for f in data["flags"])))
    return sentence, details


#: Events whose reason is not part of their sentence.
_WHY_APART = frozenset({"referral.assigned", "referral.reassigned", "referral.unassigned"})

_DETAIL_LABELS = {
    "sha256": "Fingerprint (SHA-256)",
    "previous": "Was with",
    "ack_due_at": "Acknowledge by",
    "service_due_at": "Service due by",
    "decision_due_at": "Decision due by",
    "appeal_due_at": "Appeal by",
    "respond_by": "Answer by",
    "due_at": "Was due by",
    "on_time": "On time",
    "authorization_required": "Prior authorisation needed",
    "authorization_number": "Authorisation number",
    "service_date": "Coverage checked for",
    "remaining_errors": "Still missing",
    "serial_numbers": "Serial numbers",
    "warning": "Flagged",
    "effective_on": "Status as of",
    "control_number": "Reference to quote to the payer",
}


#: The milestones a referrer follows (never offers to other providers, declines, notes
#: or contacts): what happened to their order, who comes and when.
REFERRER_EVENTS = frozenset(
    {
        "referral.received",
        "referral.acknowledged",
        "referral.clarification_requested",
        "referral.information_supplied",
        "referral.cancelled",
        "referral.closed",
        "offer.accepted",
        "appointment.scheduled",
        "service.started_on_time",
        "service.started_late",
        "service.missed",
        "document.attached",
    }
)


def referrer_event_words(type_: str, data: dict[str, Any], zone: str) -> str:
    """A milestone as the referrer reads it: one sentence, nothing internal."""
    match type_:
        case "offer.accepted":
            return f"Provider confirmed: {data.get('provider') or 'a provider'}"
        case "service.started_on_time" | "service.started_late":
            return f"Delivered or visit done, {_when(data.get('at'), zone)}"
        case "service.missed":
            return "A visit or delivery was missed; it is being rescheduled"
        case "referral.cancelled":
            return "Cancelled" + (f": {data['reason']}" if data.get("reason") else "")
        case "referral.information_supplied":
            return "Missing information received"
    return _sentence(type_, data, zone)
