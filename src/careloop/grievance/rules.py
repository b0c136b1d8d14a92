"""Grievance rules: who may raise a complaint and about what, the acknowledgement and
resolution windows (per payer line of business and state), the outcomes, and the
regulators a failed internal route escalates to. Pure: no database, no HTTP.

Windows (DOMAIN.md §4, "grievance resolved"): Medicare Advantage 30 calendar days (24 hours
when expedited, 42 CFR 422.564(e),(f)); Medicaid managed care 90 calendar days (42 CFR
438.408(b)(1)). DOMAIN.md gives no acknowledgement figure: the project default is 5
calendar days, for every line. A payer's ``rules`` JSON sets its own under
``"grievance"``, and per state::

    {"grievance": {"line_of_business": "medicaid_managed_care",
                   "acknowledge": "2 business days", "resolve": "30 calendar days",
                   "pause_for_complainant": true,
                   "states": {"NY": {"resolve": "45 calendar days"}}}}
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from careloop.sla import (
    BusinessHours,
    CalendarKind,
    DeadlineRule,
    business_calendar,
    compute_due,
    extend_for_pause,
)


class Subject(StrEnum):
    provider_quality = "provider_quality"  # about the provider's care or conduct
    coordination = "coordination"  # about the coordination itself (us)


class Party(StrEnum):
    staff = "staff"
    referrer = "referrer"
    provider = "provider"
    member = "member"


class Status(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Resolution(StrEnum):
    substantiated = "substantiated"  # the complaint was founded; action taken
    not_substantiated = "not_substantiated"
    withdrawn = "withdrawn"


class LineOfBusiness(StrEnum):
    medicare_advantage = "medicare_advantage"
    medicaid_managed_care = "medicaid_managed_care"
    commercial = "commercial"


class Regulator(StrEnum):
    department_of_insurance = "department_of_insurance"
    medicaid_ombudsman = "medicaid_ombudsman"


SUBJECT_LABELS = {
    Subject.provider_quality: "The provider's care",
    Subject.coordination: "Our coordination",
}
PARTY_LABELS = {
    Party.staff: "Coordination staff",
    Party.referrer: "The referring clinician",
    Party.provider: "The provider",
    Party.member: "The member",
}
STATUS_LABELS = {
    Status.open: "Waiting for acknowledgement",
    Status.acknowledged: "Acknowledged, being looked into",
    Status.resolved: "Resolved",
}
RESOLUTION_LABELS = {
    Resolution.substantiated: "Founded: action taken",
    Resolution.not_substantiated: "Not founded",
    Resolution.withdrawn: "Withdrawn",
}
REGULATOR_LABELS = {
    Regulator.department_of_insurance: "State Department of Insurance",
    Regulator.medicaid_ombudsman: "Medicaid managed-care ombudsman",
}


class DayKind(StrEnum):
    calendar = "calendar"
    business = "business"
    hours = "hours"  # around the clock (expedited)


@dataclass(frozen=True, slots=True)
class Window:
    amount: int
    kind: DayKind
    source: str

    def __post_init__(self) -> None:
        if not 1 <= self.amount <= 3650:
            raise ValueError("a window is between 1 and 3650")

    @property
    def calendar(self) -> CalendarKind:
        return CalendarKind.business if self.kind is DayKind.business else CalendarKind.clock

    def describe(self) -> str:
        unit = "hour" if self.kind is DayKind.hours else f"{self.kind.value} day"
        return f"{self.amount} {unit}{'s' if self.amount != 1 else ''}"


_ACK_DEFAULT = Window(5, DayKind.calendar, "project default: DOMAIN.md gives no figure")
_RESOLVE = {
    LineOfBusiness.medicare_advantage: Window(30, DayKind.calendar, "42 CFR 422.564(e)"),
    LineOfBusiness.medicaid_managed_care: Window(90, DayKind.calendar, "42 CFR 438.408(b)(1)"),
    LineOfBusiness.commercial: Window(30, DayKind.calendar, "project default"),
}
_EXPEDITED = Window(24, DayKind.hours, "42 CFR 422.564(f): expedited grievance")


@dataclass(frozen=True, slots=True)
class GrievanceRules:
    line_of_business: LineOfBusiness = LineOfBusiness.commercial
    acknowledge: Window = _ACK_DEFAULT
    resolve: Window = _RESOLVE[LineOfBusiness.commercial]
    expedited_resolve: Window = _EXPEDITED
    # The resolution window stops while the complainant owes us an answer, where the
    # payer's rules say so (off by default: regulated lines extend instead of pausing).
    pause_for_complainant: bool = False
    hours: BusinessHours = field(default_factory=BusinessHours)
    states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_state(self, state: str | None) -> GrievanceRules:
        """The rules with the state's overrides applied (unknown state: unchanged)."""
        data = self.states.get((state or "").upper())
        if not data:
            return self
        out = replace(self, hours=BusinessHours(holiday_subdivision=(state or "").upper()))
        return _apply_windows(out, data, f"grievance.states.{(state or '').upper()}")

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> GrievanceRules:
        data = data or {}
        known = {"line_of_business", "acknowledge", "resolve", "pause_for_complainant", "states"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"grievance: unknown setting(s) {', '.join(sorted(unknown))}")
        rules = cls()
        if "line_of_business" in data:
            try:
                line = LineOfBusiness(str(data["line_of_business"]))
            except ValueError:
                names = ", ".join(v.value for v in LineOfBusiness)
                raise ValueError(f"grievance.line_of_business: one of {names}") from None
            rules = replace(rules, line_of_business=line, resolve=_RESOLVE[line])
        rules = _apply_windows(rules, data, "grievance")
        if "pause_for_complainant" in data:
            pause = data["pause_for_complainant"]
            if not isinstance(pause, bool):
                raise ValueError("grievance.pause_for_complainant: true or false")
            rules = replace(rules, pause_for_complainant=pause)
        states = data.get("states", {})
        if not isinstance(states, Mapping) or not all(
            isinstance(k, str) and re.fullmatch(r"[A-Z]{2}", k) and isinstance(v, Mapping)
            for k, v in states.items()
        ):
            raise ValueError("grievance.states: an object keyed by two-letter state codes")
        for state, override in states.items():
            unknown = set(override) - {"acknowledge", "resolve"}
            if unknown:
                raise ValueError(f"grievance.states.{state}: only acknowledge and resolve")
            _apply_windows(rules, override, f"grievance.states.{state}")  # validate now
        return replace(rules, states=dict(states))


def _apply_windows(rules: GrievanceRules, data: Mapping[str, Any], key: str) -> GrievanceRules:
    if "acknowledge" in data:
        rules = replace(rules, acknowledge=parse_window(data["acknowledge"], f"{key}.acknowledge"))
    if "resolve" in data:
        rules = replace(rules, resolve=parse_window(data["resolve"], f"{key}.resolve"))
    return rules


_WINDOW_TEXT = re.compile(r"^\s*(\d{1,4})\s+(calendar days?|business days?|hours?)\s*$")


def parse_window(text: object, key: str) -> Window:
    """``"5 calendar days"``, ``"2 business days"`` or ``"24 hours"``."""
    match = _WINDOW_TEXT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{key}: write '5 calendar days', '2 business days' or '24 hours'")
    amount = int(match.group(1))
    if not 1 <= amount <= 3650:
        raise ValueError(f"{key}: between 1 and 3650")
    word = match.group(2).split()[0]
    kind = DayKind.hours if word.startswith("hour") else DayKind(word)
    return Window(amount, kind, "payer rule")


def window_due(
    window: Window, start: datetime, *, time_zone: str, hours: BusinessHours | None = None
) -> datetime:
    """When ``window`` closes for a grievance received at ``start`` (UTC back): calendar
    days end at the last second of the member's local day, business days count the
    coordination hours less public holidays, hours count around the clock."""
    if start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    hours = hours or BusinessHours()
    if window.kind is DayKind.hours:
        return compute_due(
            DeadlineRule.hours(window.amount, name="grievance", source=window.source),
            start,
            time_zone=time_zone,
        )
    if window.kind is DayKind.business:
        rule = DeadlineRule.business_days(
            window.amount, name="grievance", source=window.source, hours=hours
        )
        return compute_due(rule, start, time_zone=time_zone, hours=hours)
    zone = ZoneInfo(time_zone)
    business_calendar(hours, time_zone)  # an unknown zone or holiday region fails here
    last_day = start.astimezone(zone).date() + timedelta(days=window.amount)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def resumed_due(
    window: Window,
    due_at: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    *,
    time_zone: str,
    hours: BusinessHours | None = None,
) -> datetime:
    """A paused window's new end: later by the window's own time the pause took."""
    rule = DeadlineRule("pause", timedelta(0), window.calendar, window.source)
    return extend_for_pause(
        rule, due_at, paused_at, resumed_at, time_zone=time_zone, hours=hours or BusinessHours()
    )


def resolve_window(rules: GrievanceRules, *, expedited: bool) -> Window:
    return rules.expedited_resolve if expedited else rules.resolve


def window_source(window: Window, what: str, rules: GrievanceRules) -> str:
    line = rules.line_of_business.value.replace("_", " ")
    return f"grievance {what} within {window.describe()} ({line}: {window.source})"


# ---- what a party may raise ------------------------------------------------------------


def problems(subject: Subject, provider_id: int | None) -> list[tuple[str, str]]:
    """A complaint about a provider's care names the provider (the case's, by default)."""
    if subject is Subject.provider_quality and provider_id is None:
        return [
            (
                "provider_id",
                "a complaint about a provider's care needs the provider: the case has none "
                "assigned, so name one",
            )
        ]
    return []


# ---- regulatory escalation -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegulatorContact:
    state: str
    regulator: Regulator
    name: str
    phone: str
    web: str
    verified: bool


def read_contacts(text: str) -> dict[tuple[str, Regulator], RegulatorContact]:
    """The shipped table of regulators per state (state, regulator, name, phone, web,
    verified)."""
    out: dict[tuple[str, Regulator], RegulatorContact] = {}
    for row in csv.DictReader(io.StringIO(text)):
        contact = RegulatorContact(
            state=row["state"].strip().upper(),
            regulator=Regulator(row["regulator"].strip()),
            name=row["name"].strip(),
            phone=row["phone"].strip(),
            web=row["web"].strip(),
            verified=row["verified"].strip().lower() == "yes",
        )
        out[(contact.state, contact.regulator)] = contact
    return out


@dataclass(frozen=True, slots=True)
class Attempt:
    """One earlier try through the internal routes: a contact, an escalation or a
    grievance, with its time and what it was."""

    at: datetime
    kind: str
    what: str


def attempts_in_order(attempts: Iterable[Attempt]) -> list[Attempt]:
    return sorted(attempts, key=lambda a: (a.at, a.kind, a.what))


def escalation_problems(attempts: list[Attempt]) -> str | None:
    """A regulatory filing follows internal routes that failed: at least one earlier
    escalation or grievance on the case."""
    if not any(a.kind in ("escalation", "grievance") for a in attempts):
        return (
            "Escalate to a supervisor or open a grievance first: a regulator expects the "
            "internal routes to have been tried."
        )
    return None


@dataclass(frozen=True, slots=True)
class ScorecardCounts:
    """What a provider's scorecard shows of grievances about its care."""

    opened: int
    substantiated: int
    open_now: int
