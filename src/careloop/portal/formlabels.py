"""The words each case-page form shows beside its inputs, in one place.

A form reads its labels from here (``form_labels`` in the templates), and a refusal's
summary at the top of the page names the fields in the same words, even when the form
that was sent is no longer on the page (the case moved on while it was open): a user
reads "Closing note (optional): must be at most 500 characters", never an input's name.
"""

from __future__ import annotations

import re

#: By form kind: each input (its name after the form's prefix) and its label.
LABELS: dict[str, dict[str, str]] = {
    "close": {"note": "Closing note (optional)"},
    "assignee": {"email": "Give the case to", "note": "Why (optional)"},
    "cancel": {"reason": "Reason for cancelling"},
    "decision": {
        "outcome": "Decision",
        "authorization_number": "Authorisation number",
        "valid_from": "Valid from",
        "valid_to": "Valid to",
        "missing_information": "What is missing",
        "denial_reason": "Coded reason",
        "peer_to_peer_contact": "Peer-to-peer contact (name and phone)",
        "note": "Note (optional)",
    },
    "information": {"note": "What was sent to the reviewer"},
    "appeal": {"rationale": "Clinical rationale (notes and measures attached)"},
    "schedule": {
        "day": "Day",
        "start": "From",
        "end": "To",
        "late_reason": "Reason, if the window ends after the service deadline",
    },
    "outcome": {
        "outcome": "Outcome",
        "at": "When (delivered or done)",
        "received_by": "Received by (delivery)",
        "serial_numbers": "Serial numbers (equipment; one per line)",
        "reason": "Why it was missed",
        "note": "Note (required when the reason is 'other')",
    },
    "level": {"rationale": "Clinical rationale for this level (leave blank to reuse the first)"},
    "appeal_outcome": {
        "outcome": "Decision",
        "authorization_number": "Authorisation number",
        "valid_from": "Valid from",
        "valid_to": "Valid to",
        "note": "Note (the reason given)",
    },
    "gres": {"resolution": "Outcome", "note": "What was found and done"},
    "grievance": {
        "subject": "About",
        "raised_by": "Raised by",
        "raised_by_name": "Their name",
        "details": "The complaint, in their words",
    },
    "regulator": {
        "regulator": "Regulator",
        "summary": "What is complained of and what was tried",
        "reference": "Their complaint number (if given)",
    },
    "document": {
        "kind": "What it is",
        "file": "File (PDF, PNG, JPEG or TIFF, up to 20 MB)",
        "signed_on": "Date the order was signed (for a signed order)",
    },
    "escalate": {
        "reason": "Why",
        "severity": "How urgent",
        "requested_by.kind": "Who asked",
        "requested_by.name": "Their name",
        "requested_by.email": "Their e-mail",
        "requested_by.phone": "Their phone",
        "supervisor_user_id": "Supervisor",
        "details": "What is wrong",
    },
    "commit": {"eta": "Promise a resolution by (member's local time)"},
    "resolve": {"resolution": "What was done"},
}
_NUMBERED = re.compile(r"^(.*?)[_-](?:\d+|new)$")
_UNITS = re.compile(r"^units\.(\d+)$")


def kind_of(prefix: str) -> str:
    """``decision_7`` → ``decision``, ``commit-3`` → ``commit``, ``schedule_new`` →
    ``schedule`` (a form shown once per row names its row after its kind)."""
    numbered = _NUMBERED.match(prefix)
    return numbered.group(1) if numbered else prefix


def form_labels(kind: str, prefix: str) -> dict[str, str]:
    """The labels of a form of this kind, by input name (``prefix.name``)."""
    return {f"{prefix}.{name}": words for name, words in LABELS.get(kind, {}).items()}


def label(kind: str, field: str) -> str:
    """The words a form of this kind shows for the input ``prefix.name`` (a numbered
    units input, its line; an input the form does not show, its name in words)."""
    name = field.split(".", 1)[1] if "." in field else field
    if (words := LABELS.get(kind, {}).get(name)) is not None:
        return words
    if units := _UNITS.match(name):
        return f"Units approved, line {units.group(1)}"
    return name.replace(".", " ").replace("_", " ").capitalize()
