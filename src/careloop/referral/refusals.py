"""Submissions refused at the door (DOMAIN.md §2 step 1, §7 the daily referral import):
a referral that never became a case because it could not be read as one (a JSON body
or a FHIR Bundle that does not parse or lacks what a case needs, a faxed file that is
not a readable document, a row of a bulk file) is recorded in the audit trail, action
``intake.refused``, outcome refused, with its channel and, per problem, the field and
the rule it broke.

Nothing the sender wrote is kept: the field's path with list positions removed
(``items.code``) and a rule from a fixed vocabulary (the bulk import's: ``required``,
``unknown_field``, ``date``, ``invalid_value``, ...), so the record holds no more than
audit already keeps (who sent it, when, from where)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.audit.rules import AuditOutcome
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import DomainError, FieldError

ACTION = "intake.refused"
#: The channels a refusal is recorded for (the referral's own channels, and the JSON API,
#: whose body names its channel only once it is read).
CHANNELS = ("api", "portal", "fhir", "fax", "batch")
#: Reasons kept per refusal (a body with hundreds of bad fields is one refusal).
MAX_REASONS = 20
_POSITION = re.compile(r"\[\d+\]|(?<=\.)\d+(?=\.|$)|^\d+\.")
#: A validation message of the JSON API (web.problems), as the rule it names.
_MESSAGE_RULES = (
    ("is required", "required"),
    ("is not a field", "unknown_field"),
    ("must be a date", "date"),
    ("must include a time zone", "date"),
)
#: FHIR issue types (OperationOutcome.issue.code), as the same rules.
_FHIR_RULES = {
    "required": "required",
    "structure": "not_readable",
    "not-supported": "unsupported_media_type",
    "value": "invalid_value",
    "invalid": "invalid_value",
    "code-invalid": "unknown_code",
    "too-long": "too_long",
}


@dataclass(frozen=True, slots=True)
class Refusal:
    at: datetime
    channel: str
    reasons: list[tuple[str, str]]


def generic_field(path: str) -> str:
    """``items.0.code`` / ``Bundle.entry[2].resource`` without list positions."""
    return _POSITION.sub("", path).replace("..", ".").strip(".")


def rule_of_message(message: str) -> str:
    for start, rule in _MESSAGE_RULES:
        if message.startswith(start):
            return rule
    return "invalid_value"


def reasons_of_error(exc: DomainError) -> list[tuple[str, str]]:
    """Each field problem of a refusal as (field, rule); the error's own code when it
    names no field (a body that is not JSON, too large, of another media type)."""
    errors: Sequence[FieldError] = exc.errors or []
    if not errors:
        return [(generic_field(exc.field or ""), exc.code)]
    return [(generic_field(e.field), rule_of_message(e.message)) for e in errors]


def reasons_of_fhir(issues: Sequence[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """(issue type, expression) of an OperationOutcome's errors as (field, rule)."""
    return [
        (generic_field(expression or ""), _FHIR_RULES.get(code, code.replace("-", "_")))
        for code, expression in issues
    ]


def record(
    session: Session,
    actor: Actor,
    channel: str,
    reasons: Sequence[tuple[str, str]],
    *,
    clock: Clock,
    rolled_back: bool,
) -> None:
    """Record one refused submission. ``rolled_back``: the use case fails and rolls
    back (the JSON API, FHIR), so the record is written after the rollback; otherwise
    it joins the current transaction (a bulk file's batch, a fax upload's page)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    kept = sorted({(f[:200], r[:60]) for f, r in reasons})[:MAX_REASONS]
    detail = {"channel": channel, "reasons": [list(pair) for pair in kept]}
    if rolled_back:
        audit.record_denied(
            session, actor, ACTION, clock=clock, outcome=AuditOutcome.refused, detail=detail
        )
    else:
        audit.record(
            session, actor, ACTION, clock=clock, outcome=AuditOutcome.refused, detail=detail
        )


def record_rows(
    session: Session,
    actor: Actor,
    rows: Sequence[Sequence[tuple[str, str]]],
    *,
    clock: Clock,
) -> None:
    """Record each refused row of a bulk file (one statement for the batch)."""
    audit.record_many(
        session,
        actor,
        ACTION,
        [
            (
                None,
                None,
                {
                    "channel": "batch",
                    "reasons": [
                        list(p) for p in sorted({(generic_field(f), r) for f, r in reasons})
                    ][:MAX_REASONS],
                },
            )
            for reasons in rows
        ],
        clock=clock,
        outcome=AuditOutcome.refused,
    )


def refused_between(session: Session, start: datetime, end: datetime) -> list[Refusal]:
    """The submissions refused at the door in [start, end), oldest first."""
    out = []
    for at, detail in audit.refused_between(session, ACTION, start, end):
        data = detail or {}
        reasons = [
            (str(pair[0]), str(pair[1]))
            for pair in data.get("reasons", [])
            if isinstance(pair, list) and len(pair) == 2
        ]
        out.append(Refusal(at, str(data.get("channel", "")), reasons))
    return out
