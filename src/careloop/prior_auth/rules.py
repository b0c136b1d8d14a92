"""Prior authorisation rules: priorities, decision and appeal deadlines, what a decision
must carry, and when an authorisation is flagged. Pure: no database, no HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from careloop.core.errors import FieldError
from careloop.payer.rules import AuthorizationRules
from careloop.referral.enums import Urgency


class Priority(StrEnum):
    expedited = "expedited"
    standard = "standard"


class AuthorizationStatus(StrEnum):
    requested = "requested"
    pended = "pended"
    approved = "approved"
    partially_approved = "partially_approved"
    denied = "denied"
    appealed = "appealed"


class Outcome(StrEnum):
    approved = "approved"
    partially_approved = "partially_approved"
    pended = "pended"
    denied = "denied"


class DenialReason(StrEnum):
    """Coded denial reasons, each with its standard claim adjustment reason code (CARC)."""

    missing_information = "missing_information"
    not_medically_necessary = "not_medically_necessary"
    not_covered = "not_covered"
    prior_authorization_absent = "prior_authorization_absent"
    out_of_network = "out_of_network"
    timely_filing_expired = "timely_filing_expired"


CARC = {
    DenialReason.missing_information: "16",
    DenialReason.not_medically_necessary: "50",
    DenialReason.not_covered: "96",
    DenialReason.prior_authorization_absent: "197",
    DenialReason.out_of_network: "242",
    DenialReason.timely_filing_expired: "29",
}

#: Statuses a reviewer may decide from; a denied request needs an appeal first.
DECIDABLE = frozenset({AuthorizationStatus.requested, AuthorizationStatus.appealed})
FINAL = frozenset({AuthorizationStatus.approved, AuthorizationStatus.partially_approved})


def priority_of(urgency: Urgency, discharge_at: datetime | None) -> Priority:
    """Urgent and discharge-dependent cases ask for an expedited review."""
    if urgency is not Urgency.routine or discharge_at is not None:
        return Priority.expedited
    return Priority.standard


def decision_window(priority: Priority, rules: AuthorizationRules) -> timedelta:
    if priority is Priority.expedited:
        return rules.expedited_decision
    return rules.standard_decision


def decision_source(priority: Priority, rules: AuthorizationRules) -> str:
    window = decision_window(priority, rules)
    hours = int(window.total_seconds() // 3600)
    figure = f"{hours} hours" if hours < 48 or hours % 24 else f"{hours // 24} days"
    return f"{priority.value} prior-authorisation decision within {figure} (payer rule)"


def appeal_source(rules: AuthorizationRules) -> str:
    return f"appeal within {rules.appeal_window.days} days of the denial (payer's appeal window)"


def expiry_source(rules: AuthorizationRules) -> str:
    return f"flag {rules.expiry_warning.days} days before the authorisation ends (payer rule)"


def appeal_due(decided_at: datetime, rules: AuthorizationRules, time_zone: str) -> datetime:
    """The last instant to file an appeal: the end of the member's local day, the
    appeal window after the denial (DOMAIN.md §4: payer-specific, commonly 30-45 days)."""
    zone = ZoneInfo(time_zone)
    last_day = decided_at.astimezone(zone).date() + rules.appeal_window
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=zone)


def expiry_warning_at(valid_to: date, rules: AuthorizationRules, time_zone: str) -> datetime:
    """When an authorisation about to end is flagged: ``expiry_warning`` before the start
    of its last day, in the member's time zone."""
    return datetime.combine(valid_to, time(8, 0), tzinfo=ZoneInfo(time_zone)) - (
        rules.expiry_warning
    )


@dataclass(frozen=True, slots=True)
class DecidedItem:
    line: int
    units_requested: int
    units_approved: int


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    authorization_number: str | None
    valid_from: date | None
    valid_to: date | None
    items: Sequence[tuple[int, int]]  # (line, units approved)
    missing_information: str | None
    denial_reason: DenialReason | None
    peer_to_peer_contact: str | None


def decision_problems(decision: Decision, requested: dict[int, int]) -> list[FieldError]:
    """What a decision lacks, each naming its field and the rule."""
    d = decision
    errors: list[FieldError] = []
    if d.outcome in (Outcome.approved, Outcome.partially_approved):
        errors += _approval_problems(d, requested)
    elif d.outcome is Outcome.pended:
        if not d.missing_information:
            errors.append(
                FieldError("missing_information", "say what is missing when pending a request")
            )
    else:
        if d.denial_reason is None:
            errors.append(FieldError("denial_reason", "a denial needs its coded reason"))
        if not d.peer_to_peer_contact:
            errors.append(
                FieldError(
                    "peer_to_peer_contact",
                    "a denial names the peer-to-peer review contact (name and phone)",
                )
            )
    return errors


def _approval_problems(d: Decision, requested: dict[int, int]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not d.authorization_number:
        errors.append(FieldError("authorization_number", "an approval carries its number"))
    if d.valid_from is None:
        errors.append(FieldError("valid_from", "an approval says from when it is valid"))
    if d.valid_to is None:
        errors.append(FieldError("valid_to", "an approval says until when it is valid"))
    if d.valid_from and d.valid_to and d.valid_to < d.valid_from:
        errors.append(FieldError("valid_to", "must be on or after the first day it is valid"))
    approved = dict(d.items)
    for index, (line, units) in enumerate(d.items):
        if line not in requested:
            errors.append(FieldError(f"items.{index}.line", f"line {line} was not requested"))
        elif units > requested[line]:
            errors.append(
                FieldError(
                    f"items.{index}.units_approved",
                    f"cannot exceed the {requested[line]} units requested",
                )
            )
    if errors:
        return errors
    full = all(approved.get(line, units) == units for line, units in requested.items())
    if d.outcome is Outcome.approved and not full:
        errors.append(FieldError("outcome", "fewer units than requested is a partial approval"))
    if d.outcome is Outcome.partially_approved and full:
        errors.append(
            FieldError("outcome", "every unit requested is approved: that is an approval")
        )
    if d.outcome is Outcome.partially_approved and not any(units_approved(d, requested).values()):
        errors.append(FieldError("items", "a partial approval approves at least one unit"))
    return errors


def units_approved(d: Decision, requested: dict[int, int]) -> dict[int, int]:
    """Units per line: as decided, and for an approval the lines not named in full."""
    given = dict(d.items)
    return {line: given.get(line, units) for line, units in requested.items()}


def flags(
    *,
    status: AuthorizationStatus,
    valid_to: date | None,
    today: date,
    units: Sequence[tuple[int, int]],  # (approved, used)
    rules: AuthorizationRules,
) -> list[str]:
    """``expiring`` within the warning window, ``expired``, ``units_low`` when no more
    than the warning share of approved units is left, ``units_exhausted`` at none."""
    if status not in FINAL:
        return []
    out: list[str] = []
    if valid_to is not None:
        if valid_to < today:
            out.append("expired")
        elif valid_to - today <= rules.expiry_warning:
            out.append("expiring")
    approved = sum(a for a, _ in units)
    left = sum(max(a - u, 0) for a, u in units)
    if approved and left == 0:
        out.append("units_exhausted")
    elif approved and left <= approved * rules.units_warning_share:
        out.append("units_low")
    return out
