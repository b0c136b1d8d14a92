"""Appeal rules: the levels a payer lists, each level's filing and decision windows, the
outcome moves, and which intake check would have prevented each denial reason.

Pure (no database, no HTTP). Figures are DOMAIN.md §4 and §6 defaults, each configurable
in a payer's ``rules`` JSON under ``"appeal"``::

    {"appeal": {
        "appeal_window_days": 45,
        "levels": [
            {"kind": "peer_to_peer", "filing": "5 business days", "decision": "2 business days"},
            {"kind": "first_level", "filing": "45 calendar days", "decision": "30 calendar days",
             "pause_for_information": true},
            {"kind": "external_review", "filing": "120 calendar days",
             "decision": "45 calendar days"}],
        "holiday_subdivision": "NY"}}

A window is counted from the moment its level opens: calendar days end at the last second
of the member's local day (a last day on a weekend or public holiday rolls to the next
business day when the level says ``"roll_to_business_day": true``); business days count
the sla domain's coordination hours (Monday-Friday 08:00-18:00 local, less the
``holidays`` package's public holidays), so one business day is one opening window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from careloop.prior_auth.rules import DenialReason
from careloop.sla import (
    BusinessHours,
    CalendarKind,
    DeadlineRule,
    business_calendar,
    compute_due,
    extend_for_pause,
)


class LevelKind(StrEnum):
    """The rungs of a payer's appeal ladder, in their usual order."""

    reconsideration = "reconsideration"
    peer_to_peer = "peer_to_peer"
    first_level = "first_level"
    second_level = "second_level"
    external_review = "external_review"


LEVEL_LABELS = {
    LevelKind.reconsideration: "Reconsideration",
    LevelKind.peer_to_peer: "Peer-to-peer review",
    LevelKind.first_level: "First-level appeal",
    LevelKind.second_level: "Second-level appeal",
    LevelKind.external_review: "External review",
}


class AppealStatus(StrEnum):
    open = "open"  # a level is filed or may still be filed
    overturned = "overturned"  # the denial was reversed: the case is authorised
    closed = "closed"  # upheld at the last level, or the next window lapsed, with a reason


class LevelStatus(StrEnum):
    waiting = "waiting"  # a later level, not yet reached
    open_for_filing = "open_for_filing"  # its filing window runs
    filed = "filed"  # its decision window runs
    information_requested = "information_requested"  # decision window paused
    overturned = "overturned"
    upheld = "upheld"
    lapsed = "lapsed"  # the filing window closed without a filing


class Outcome(StrEnum):
    overturned = "overturned"
    upheld = "upheld"
    information_requested = "information_requested"


APPEAL_STATUS_LABELS = {
    AppealStatus.open: "Under appeal",
    AppealStatus.overturned: "Overturned: authorised",
    AppealStatus.closed: "Closed",
}

LEVEL_STATUS_LABELS = {
    LevelStatus.waiting: "Not reached",
    LevelStatus.open_for_filing: "Ready to file",
    LevelStatus.filed: "Filed, waiting for the decision",
    LevelStatus.information_requested: "Paused: the reviewer asked for information",
    LevelStatus.overturned: "Overturned",
    LevelStatus.upheld: "Upheld",
    LevelStatus.lapsed: "Not filed in time",
}


class DayKind(StrEnum):
    calendar = "calendar"
    business = "business"


@dataclass(frozen=True, slots=True)
class Window:
    """``days`` calendar or business days; ``source`` says where the figure comes from."""

    days: int
    kind: DayKind
    source: str
    roll_to_business_day: bool = False

    def __post_init__(self) -> None:
        if self.days < 1 or self.days > 3650:
            raise ValueError("a window is between 1 and 3650 days")

    @property
    def calendar(self) -> CalendarKind:
        """The sla calendar its clock counts on (a pause moves it on the same one)."""
        return CalendarKind.business if self.kind is DayKind.business else CalendarKind.clock

    def describe(self) -> str:
        return f"{self.days} {self.kind.value} day{'s' if self.days != 1 else ''}"


@dataclass(frozen=True, slots=True)
class LevelRule:
    kind: LevelKind
    filing: Window
    decision: Window
    # The decision window stops while the reviewer waits on information we owe (the
    # payer's rules say whether it does; regulated lines usually extend instead).
    pause_for_information: bool = False


def _cal(days: int, source: str) -> Window:
    return Window(days, DayKind.calendar, source)


_DOMAIN_WINDOW = "DOMAIN.md §4: appeal window commonly 30-45 days, shorter default"
_DOMAIN_DECIDED = "DOMAIN.md §4: appeal decided within 30 calendar days (pre-service)"
_DOMAIN_NEXT = "DOMAIN.md §4: next level within 120 days of the plan's decision"
_PROJECT = "project default (no DOMAIN.md figure)"

#: The ladder when the payer lists none: two internal levels, then external review.
DEFAULT_LEVELS: tuple[LevelRule, ...] = (
    LevelRule(LevelKind.first_level, _cal(30, _DOMAIN_WINDOW), _cal(30, _DOMAIN_DECIDED)),
    LevelRule(LevelKind.second_level, _cal(30, _PROJECT), _cal(30, _DOMAIN_DECIDED)),
    LevelRule(LevelKind.external_review, _cal(120, _DOMAIN_NEXT), _cal(45, _PROJECT)),
)

#: Default windows of a level a payer names without figures.
DEFAULT_LEVEL_WINDOWS: Mapping[LevelKind, tuple[Window, Window]] = {
    LevelKind.reconsideration: (_cal(30, _DOMAIN_WINDOW), _cal(30, _DOMAIN_DECIDED)),
    LevelKind.peer_to_peer: (
        Window(5, DayKind.business, _PROJECT),
        Window(2, DayKind.business, _PROJECT),
    ),
    LevelKind.first_level: (_cal(30, _DOMAIN_WINDOW), _cal(30, _DOMAIN_DECIDED)),
    LevelKind.second_level: (_cal(30, _PROJECT), _cal(30, _DOMAIN_DECIDED)),
    LevelKind.external_review: (_cal(120, _DOMAIN_NEXT), _cal(45, _PROJECT)),
}


@dataclass(frozen=True, slots=True)
class AppealRules:
    """A payer's appeal ladder. The first level's filing window is the appeal window a
    denial opens (DOMAIN.md §4: payer-specific, commonly 30-45 days; 30 by default so
    nobody is told a date the payer will not honour)."""

    levels: tuple[LevelRule, ...] = DEFAULT_LEVELS
    hours: BusinessHours = field(default_factory=BusinessHours)

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("appeal.levels: list at least one level")
        kinds = [level.kind for level in self.levels]
        if len(set(kinds)) != len(kinds):
            raise ValueError("appeal.levels: each kind of level at most once")

    @property
    def appeal_window(self) -> Window:
        return self.levels[0].filing

    def level(self, position: int) -> LevelRule:
        """The level at 1-based ``position``."""
        return self.levels[position - 1]

    @classmethod
    def from_config(cls, data: Mapping[str, Any] | None) -> AppealRules:
        """The payer's ``appeal`` group, validated; errors name the setting."""
        data = data or {}
        known = {"appeal_window_days", "levels", "holiday_subdivision"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"appeal: unknown setting(s) {', '.join(sorted(unknown))}")
        levels = DEFAULT_LEVELS
        if "levels" in data:
            raw = data["levels"]
            if not isinstance(raw, list) or not raw:
                raise ValueError("appeal.levels: a non-empty list of levels")
            levels = tuple(_read_level(item, i) for i, item in enumerate(raw))
        if "appeal_window_days" in data:
            days = data["appeal_window_days"]
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
                raise ValueError("appeal.appeal_window_days: a whole number of days, 1-365")
            first = levels[0]
            levels = (
                replace(first, filing=Window(days, DayKind.calendar, "payer's appeal window")),
                *levels[1:],
            )
        hours = BusinessHours()
        if "holiday_subdivision" in data:
            sub = data["holiday_subdivision"]
            if not isinstance(sub, str) or not re.fullmatch(r"[A-Z]{2}", sub):
                raise ValueError("appeal.holiday_subdivision: a two-letter state code")
            hours = BusinessHours(holiday_subdivision=sub)
        return cls(levels=levels, hours=hours)


_WINDOW_TEXT = re.compile(r"^\s*(\d{1,4})\s+(calendar|business)\s+days?\s*$")


def parse_window(text: object, key: str, source: str = "payer rule") -> Window:
    """``"30 calendar days"`` or ``"5 business days"``."""
    match = _WINDOW_TEXT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{key}: write the window as '30 calendar days' or '5 business days'")
    days = int(match.group(1))
    if not 1 <= days <= 3650:
        raise ValueError(f"{key}: between 1 and 3650 days")
    return Window(days, DayKind(match.group(2)), source)


def _read_level(item: object, index: int) -> LevelRule:
    key = f"appeal.levels.{index}"
    if not isinstance(item, Mapping):
        raise ValueError(f"{key}: an object with kind, filing and decision")
    unknown = set(item) - {"kind", "filing", "decision", "pause_for_information", "roll"}
    if unknown:
        raise ValueError(f"{key}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}")
    try:
        kind = LevelKind(str(item.get("kind")))
    except ValueError:
        names = ", ".join(k.value for k in LevelKind)
        raise ValueError(f"{key}.kind: one of {names}") from None
    filing, decision = DEFAULT_LEVEL_WINDOWS[kind]
    roll = item.get("roll", False)
    if not isinstance(roll, bool):
        raise ValueError(f"{key}.roll: true or false")
    if "filing" in item:
        filing = parse_window(item["filing"], f"{key}.filing")
    if "decision" in item:
        decision = parse_window(item["decision"], f"{key}.decision")
    pause = item.get("pause_for_information", False)
    if not isinstance(pause, bool):
        raise ValueError(f"{key}.pause_for_information: true or false")
    return LevelRule(
        kind,
        replace(filing, roll_to_business_day=roll),
        replace(decision, roll_to_business_day=roll),
        pause,
    )


# ---- windows ---------------------------------------------------------------------------

_END_OF_DAY = time(23, 59, 59)


def window_due(
    window: Window, start: datetime, *, time_zone: str, hours: BusinessHours | None = None
) -> datetime:
    """When ``window`` closes for a level opened at ``start`` (an aware instant; UTC back).

    Calendar days: the end of the member's local day ``days`` after the start day (rolled
    past weekends and public holidays when the window says so). Business days: ``days``
    opening windows of the coordination hours counted from ``start`` (sla's business
    calendar), so a window opened on Friday evening with one business day closes on
    Monday at closing time, or Tuesday when Monday is a holiday.
    """
    if start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    hours = hours or BusinessHours()
    zone = ZoneInfo(time_zone)
    if window.kind is DayKind.business:
        rule = DeadlineRule.business_days(
            window.days, name="appeal window", source=window.source, hours=hours
        )
        return compute_due(rule, start, time_zone=time_zone, hours=hours)
    last_day = start.astimezone(zone).date() + timedelta(days=window.days)
    if window.roll_to_business_day:
        calendar = business_calendar(hours, time_zone)
        while not calendar.is_open(datetime.combine(last_day, hours.opens, tzinfo=zone)):
            last_day += timedelta(days=1)
    return datetime.combine(last_day, _END_OF_DAY, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def resumed_due(
    window: Window,
    due_at: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    *,
    time_zone: str,
    hours: BusinessHours | None = None,
) -> datetime:
    """A paused window's new closing time: later by the window's own time the pause took
    (wall time for calendar days, opening hours for business days), as the sla clock
    service moves it when it resumes."""
    rule = DeadlineRule("pause", timedelta(0), window.calendar, window.source)
    return extend_for_pause(
        rule, due_at, paused_at, resumed_at, time_zone=time_zone, hours=hours or BusinessHours()
    )


def window_source(level: LevelRule, what: str) -> str:
    window = level.filing if what == "filing" else level.decision
    verb = "file" if what == "filing" else "decision"
    return (
        f"{LEVEL_LABELS[level.kind].lower()}: {verb} within {window.describe()} ({window.source})"
    )


# ---- moves ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Move:
    """What an outcome does: the level's new status, the appeal's, the next level to open
    (1-based position) and the reason a closed appeal gives."""

    level_status: LevelStatus
    appeal_status: AppealStatus
    next_position: int | None
    close_reason: str | None


def outcome_move(
    outcome: Outcome, *, position: int, levels: Sequence[LevelRule], pauses: bool
) -> Move:
    """Overturned ends the appeal (the case is authorised); upheld opens the next level
    or, at the last, closes the appeal with the reason; information requested pauses the
    decision window when the level's rules say so."""
    if outcome is Outcome.overturned:
        return Move(LevelStatus.overturned, AppealStatus.overturned, None, None)
    if outcome is Outcome.information_requested:
        if not pauses:
            raise ValueError("this level's decision window does not pause for information")
        return Move(LevelStatus.information_requested, AppealStatus.open, None, None)
    if position < len(levels):
        return Move(LevelStatus.upheld, AppealStatus.open, position + 1, None)
    last = LEVEL_LABELS[levels[position - 1].kind].lower()
    return Move(
        LevelStatus.upheld,
        AppealStatus.closed,
        None,
        f"Denial upheld at the {last}, the last level the payer offers.",
    )


#: The statuses a level may record an outcome from.
DECIDABLE = frozenset({LevelStatus.filed, LevelStatus.information_requested})


# ---- denial reasons and the intake check that would have prevented them ----------------

#: Each denial reason and the intake finding (referral/rules.py checklist code) that
#: catches it at the source, where one exists. The opt-in checks (``denials_checked`` in
#: a payer's intake rules) are the ones a payer turns on for its frequent denials.
PREVENTING_CHECK: Mapping[DenialReason, str | None] = {
    DenialReason.missing_information: "signed_order_missing",
    DenialReason.not_medically_necessary: "medical_necessity_undocumented",
    DenialReason.not_covered: None,  # eligibility verification, before the request
    DenialReason.prior_authorization_absent: None,  # a step of the case, not of intake
    DenialReason.out_of_network: None,  # matching offers in-network providers only
    DenialReason.timely_filing_expired: "signed_order_expired",
}

DENIAL_LABELS = {
    DenialReason.missing_information: "missing information",
    DenialReason.not_medically_necessary: "not medically necessary",
    DenialReason.not_covered: "not a covered service",
    DenialReason.prior_authorization_absent: "prior authorisation absent",
    DenialReason.out_of_network: "provider out of network",
    DenialReason.timely_filing_expired: "timely filing expired",
}


def preventing_check(reason: DenialReason) -> str | None:
    return PREVENTING_CHECK[reason]


def frequent_denials(
    reasons: Sequence[DenialReason], *, threshold: int = 3
) -> list[tuple[DenialReason, int, str | None]]:
    """Denial reasons seen at least ``threshold`` times, most frequent first, with the
    intake check a payer's rules could turn on to catch them at the source."""
    counts: dict[DenialReason, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    frequent = [(r, n, PREVENTING_CHECK[r]) for r, n in counts.items() if n >= threshold]
    return sorted(frequent, key=lambda t: (-t[1], t[0].value))
