"""SLA deadline arithmetic: business calendars, deadline rules and the default policy.

Pure rules for DESIGN.md §3 ("deadlines are data") with the figures of DOMAIN.md §4: no I/O,
no database, stdlib + ``holidays`` + ``zoneinfo`` only. Every instant taken is timezone-aware
(a naive one raises ``ValueError``) and every instant returned is UTC.

Business time is real elapsed time inside opening windows. Each open local date contributes
one window from ``opens`` to ``closes`` in local wall-clock time of the member's zone, so a
business day stays 08:00-18:00 local on both sides of a DST change. A calendar turns every
instant into a running count of business microseconds; adding is the inverse of that count
and ``elapsed`` its difference, so both are binary searches and exact to the microsecond.
"""

from __future__ import annotations

import math
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
# A calendar covers a contiguous run of local years (a deadline in late December needs the
# next one); past this span something is wrong with the input, not with the calendar.
_MAX_SPAN_YEARS = 200
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _to_us(instant: datetime, what: str) -> int:
    if instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant.isoformat()}")
    return (instant - _EPOCH) // _MICROSECOND


def _utc(instant: datetime, what: str) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {instant.isoformat()}")
    return instant.astimezone(UTC)


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _duration_us(duration: timedelta) -> int:
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    return duration // _MICROSECOND


def _zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {time_zone!r}") from None


def _check_amount(n: float, name: str) -> None:
    if not math.isfinite(n) or n < 0:
        raise ValueError(f"rule {name!r}: amount must be a finite, non-negative number, got {n}")


class CalendarKind(StrEnum):
    """Which clock a rule counts on (DOMAIN.md §4)."""

    business = "business"  # non-urgent coordination hours, see BusinessHours
    clock = "clock"  # 24 x 7: clinical escalation, nurse triage, service start


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Coordination hours: Monday-Friday 08:00-18:00 local, less public holidays.

    Defaults are DOMAIN.md §4 ("non-urgent coordination hours"); payers may override them.
    Holidays are the ``holidays`` package's public holidays for ``holiday_country`` (and
    ``holiday_subdivision``, e.g. a state), observed dates included: US federal by default.
    ``weekdays`` uses ``date.weekday()`` numbers (Monday = 0). Times are local wall-clock.
    """

    opens: time = time(8)
    closes: time = time(18)
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holiday_country: str = "US"
    holiday_subdivision: str | None = None

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times: give naive times")
        if self.opens >= self.closes:
            raise ValueError(
                f"business hours must open before they close, got opens={self.opens:%H:%M} "
                f"closes={self.closes:%H:%M}"
            )
        weekdays = frozenset(self.weekdays)
        if not weekdays or not weekdays <= frozenset(range(7)):
            raise ValueError("business weekdays must be a non-empty set of 0 (Monday) .. 6")
        object.__setattr__(self, "weekdays", weekdays)
        if not self.holiday_country:
            raise ValueError("holiday_country must be a country code such as 'US'")

    @property
    def business_day_length(self) -> timedelta:
        """Length of one business day in wall-clock terms (10 h by default)."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)


_STANDARD_HOURS = BusinessHours()


@dataclass(frozen=True, slots=True, eq=False)
class _Span:
    """Open windows of the local years first_year..last_year as UTC microseconds.

    ``before[i]``/``through[i]``: business microseconds counted from the span's start up to
    the opening/closing of window ``i``. Never mutated: the calendar swaps whole spans.
    """

    first_year: int
    last_year: int
    lo_us: int
    hi_us: int
    starts: list[int]
    ends: list[int]
    before: list[int]
    through: list[int]

    def counted(self, t_us: int) -> int:
        """Business microseconds from the span's start to ``t_us``."""
        i = bisect_right(self.starts, t_us) - 1
        if i < 0:
            return 0
        return self.before[i] + min(t_us, self.ends[i]) - self.starts[i]


class BusinessCalendar:
    """Opening windows of one set of ``BusinessHours`` in one IANA time zone.

    Obtain through ``business_calendar()`` (cached). Holidays and windows are computed per
    local year on first need and kept; a calendar is safe to share between threads.
    Opening or closing times that fall in a DST gap or fold (possible only for hours set
    around 01:00-03:00) resolve with ``fold=0``, the UTC offset in force before the change.
    """

    def __init__(self, hours: BusinessHours, time_zone: str) -> None:
        self.hours = hours
        self.time_zone = time_zone
        self._zone = _zone(time_zone)
        try:
            holidays.country_holidays(hours.holiday_country, subdiv=hours.holiday_subdivision)
        except NotImplementedError as error:
            raise ValueError(f"no holiday calendar for this country/subdivision: {error}") from None
        self._lock = threading.Lock()
        self._year_windows: dict[int, list[tuple[int, int]]] = {}
        self._span: _Span | None = None

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.hours!r}, {self.time_zone!r})"

    @property
    def business_day_length(self) -> timedelta:
        return self.hours.business_day_length

    def is_open(self, instant: datetime) -> bool:
        """True when ``instant`` lies in an opening window (closing time itself is closed)."""
        t = _to_us(instant, "instant")
        span = self._covering(t)
        i = bisect_right(span.starts, t) - 1
        return i >= 0 and t < span.ends[i]

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` itself if open, else the next opening time."""
        t = _to_us(instant, "instant")
        span = self._covering(t)
        while True:
            i = bisect_right(span.starts, t) - 1
            if i >= 0 and t < span.ends[i]:
                return _from_us(t)
            if i + 1 < len(span.starts):
                return _from_us(span.starts[i + 1])
            span = self._covering_years(span.first_year, span.last_year + 1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of business time has elapsed after ``start``.

        Time outside opening windows does not count. A positive duration that ends exactly
        as a window closes returns the closing time (Saturday 10:00 plus one business day is
        Monday 18:00, not Tuesday 08:00). A zero duration returns ``start`` unchanged.
        """
        s = _to_us(start, "start")
        d = _duration_us(duration)
        if d == 0:
            return _from_us(s)
        span = self._covering(s)
        while True:
            target = span.counted(s) + d
            if span.through and target <= span.through[-1]:
                break
            span = self._covering_years(span.first_year, span.last_year + 1)
        j = bisect_left(span.through, target)
        return _from_us(span.starts[j] + target - span.before[j])

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants; zero when ``end`` is not after ``start``.

        The exact inverse of ``add``: ``elapsed(s, add(s, d)) == d``.
        """
        s = _to_us(start, "start")
        e = _to_us(end, "end")
        if e <= s:
            return timedelta(0)
        span = self._covering(s, e)
        return timedelta(microseconds=span.counted(e) - span.counted(s))

    def _covering(self, *instants_us: int) -> _Span:
        span = self._span
        if span is not None and all(span.lo_us <= t < span.hi_us for t in instants_us):
            return span
        years = [_from_us(t).astimezone(self._zone).year for t in instants_us]
        return self._covering_years(min(years), max(years))

    def _covering_years(self, first_year: int, last_year: int) -> _Span:
        with self._lock:
            span = self._span
            if span is not None:
                if span.first_year <= first_year and last_year <= span.last_year:
                    return span
                first_year = min(first_year, span.first_year)
                last_year = max(last_year, span.last_year)
            if last_year - first_year >= _MAX_SPAN_YEARS:
                raise ValueError(
                    f"business calendar asked to span {first_year}-{last_year}: "
                    f"more than {_MAX_SPAN_YEARS} years, check the instants and durations"
                )
            span = self._build_span(first_year, last_year)
            self._span = span
            return span

    def _build_span(self, first_year: int, last_year: int) -> _Span:
        starts: list[int] = []
        ends: list[int] = []
        before: list[int] = []
        through: list[int] = []
        total = 0
        for year in range(first_year, last_year + 1):
            for open_us, close_us in self._windows_of(year):
                starts.append(open_us)
                ends.append(close_us)
                before.append(total)
                total += close_us - open_us
                through.append(total)
        lo = _to_us(datetime(first_year, 1, 1, tzinfo=self._zone), "span start")
        hi = _to_us(datetime(last_year + 1, 1, 1, tzinfo=self._zone), "span end")
        return _Span(first_year, last_year, lo, hi, starts, ends, before, through)

    def _windows_of(self, year: int) -> list[tuple[int, int]]:
        windows = self._year_windows.get(year)
        if windows is not None:
            return windows
        closed = self._holidays_of(year)
        opens = self.hours.opens.replace(fold=0)
        closes = self.hours.closes.replace(fold=0)
        windows = []
        day = date(year, 1, 1)
        while day.year == year:
            if day.weekday() in self.hours.weekdays and day not in closed:
                open_us = _to_us(datetime.combine(day, opens, tzinfo=self._zone), "open")
                close_us = _to_us(datetime.combine(day, closes, tzinfo=self._zone), "close")
                if close_us > open_us:
                    windows.append((open_us, close_us))
            day += _ONE_DAY
        self._year_windows[year] = windows
        return windows

    def _holidays_of(self, year: int) -> frozenset[date]:
        # Observed days can land in a neighbouring year (New Year's Day 2028, a Saturday, is
        # observed on Friday 2027-12-31), so load the neighbours and keep this year's dates.
        found = holidays.country_holidays(
            self.hours.holiday_country,
            subdiv=self.hours.holiday_subdivision,
            years=(year - 1, year, year + 1),
        )
        return frozenset(day for day in found if day.year == year)


@lru_cache(maxsize=256)
def business_calendar(hours: BusinessHours, time_zone: str) -> BusinessCalendar:
    """The shared calendar for ``hours`` in ``time_zone`` (an IANA name such as
    ``America/New_York``); raises ``ValueError`` for an unknown zone or holiday region."""
    return BusinessCalendar(hours, time_zone)


@dataclass(frozen=True, slots=True)
class DeadlineRule:
    """A promise with a time on it: how long, on which calendar, and who says so.

    ``source`` names where the figure comes from (DOMAIN.md §4, a payer contract, ...), so a
    work queue or an audit can explain every deadline.
    """

    name: str
    duration: timedelta
    calendar: CalendarKind
    source: str

    def __post_init__(self) -> None:
        if self.duration < timedelta(0):
            raise ValueError(f"rule {self.name!r}: duration must not be negative")

    @classmethod
    def business_days(
        cls,
        n: float,
        *,
        name: str,
        source: str,
        hours: BusinessHours = _STANDARD_HOURS,
    ) -> DeadlineRule:
        """``n`` business days, i.e. ``n`` times the business day length of ``hours``."""
        _check_amount(n, name)
        return cls(name, n * hours.business_day_length, CalendarKind.business, source)

    @classmethod
    def hours(cls, n: float, *, name: str, source: str) -> DeadlineRule:
        """``n`` hours around the clock."""
        _check_amount(n, name)
        return cls(name, timedelta(hours=n), CalendarKind.clock, source)

    @classmethod
    def days(cls, n: float, *, name: str, source: str) -> DeadlineRule:
        """``n`` days of 24 real hours, around the clock."""
        _check_amount(n, name)
        return cls(name, timedelta(days=n), CalendarKind.clock, source)


def compute_due(
    rule: DeadlineRule,
    start: datetime,
    *,
    time_zone: str,
    hours: BusinessHours = _STANDARD_HOURS,
) -> datetime:
    """When ``rule`` falls due for a clock started at ``start`` (UTC).

    Business rules count opening hours of the member's ``time_zone``. Clock rules count
    absolute elapsed time: 72 hours is 72 real hours even across a DST change (local wall
    time may then read 71 or 73 hours later), because clinical clocks measure exposure, not
    the time printed on a wall clock.
    """
    if rule.calendar is CalendarKind.clock:
        return _utc(start, "start") + rule.duration
    return business_calendar(hours, time_zone).add(start, rule.duration)


def remaining(
    rule: DeadlineRule,
    now: datetime,
    due_at: datetime,
    *,
    time_zone: str,
    hours: BusinessHours = _STANDARD_HOURS,
) -> timedelta:
    """Rule time left until ``due_at``: negative when overdue ("3 h 10 min late").

    Counted on the rule's calendar, so an overdue business clock does not grow more overdue
    over a weekend.
    """
    late = _to_us(now, "now") > _to_us(due_at, "due_at")
    if rule.calendar is CalendarKind.clock:
        return due_at - now
    calendar = business_calendar(hours, time_zone)
    return -calendar.elapsed(due_at, now) if late else calendar.elapsed(now, due_at)


def extend_for_pause(
    rule: DeadlineRule,
    due_at: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    *,
    time_zone: str,
    hours: BusinessHours = _STANDARD_HOURS,
) -> datetime:
    """The new ``due_at`` after a pause, pushed later by the rule time the pause took.

    A clock paused (waiting on a clinician's clarification, say) and resumed must not
    breach because of the pause (DESIGN.md §3). Clock rules move by the wall time paused.
    Business rules move by the business time inside the pause:
    ``add(due_at, elapsed(paused_at, resumed_at))``. When the clock was not yet due at the
    pause this equals ``add(resumed_at, elapsed(paused_at, due_at))`` (the business time
    left at the pause, restarted on resume) exactly, since both solve
    ``counted(new_due) = counted(due_at) + counted(resumed_at) - counted(paused_at)``. Unlike
    that form it also keeps a clock paused after its due time exactly as late as it was, and
    a zero-length pause leaves ``due_at`` untouched.
    """
    if _to_us(resumed_at, "resumed_at") < _to_us(paused_at, "paused_at"):
        raise ValueError("a clock cannot resume before it was paused")
    if rule.calendar is CalendarKind.clock:
        return _utc(due_at, "due_at") + (resumed_at - paused_at)
    calendar = business_calendar(hours, time_zone)
    return calendar.add(due_at, calendar.elapsed(paused_at, resumed_at))


class ServiceClass(StrEnum):
    """What a referral asks for; decides its service-start rule (DOMAIN.md §4)."""

    standard_dme = "standard_dme"
    complex_dme = "complex_dme"
    home_health = "home_health"
    infusion = "infusion"


_PAYER_SOURCE = "payer configuration"


def _default_service_start() -> Mapping[ServiceClass, DeadlineRule]:
    def upper_72_h(service_class: ServiceClass, what: str) -> DeadlineRule:
        return DeadlineRule.hours(
            72, name=f"service_start.{service_class}", source=f"DOMAIN.md §4: {what}"
        )

    return MappingProxyType(
        {
            ServiceClass.standard_dme: upper_72_h(
                ServiceClass.standard_dme, "standard DME delivered within 24-72 hours (upper bound)"
            ),
            ServiceClass.home_health: upper_72_h(
                ServiceClass.home_health, "basic home health first visit within 24-72 hours"
            ),
            ServiceClass.infusion: upper_72_h(
                ServiceClass.infusion,
                "no infusion figure; grouped with standard services, start within 24-72 hours",
            ),
            ServiceClass.complex_dme: DeadlineRule.days(
                14,
                name=f"service_start.{ServiceClass.complex_dme}",
                source="DOMAIN.md §4: complex specialty equipment, custom orthotics within 7-14 "
                "days (evaluation, fabrication, delivery; upper bound)",
            ),
        }
    )


_DEFAULT_ACKNOWLEDGEMENT = DeadlineRule.business_days(
    1,
    name="acknowledgement",
    source="DOMAIN.md §4: acknowledgement within the first business day after receipt",
)
_DEFAULT_DISCHARGE_WINDOW = DeadlineRule.hours(
    24,
    name="discharge_escalation_window",
    source="DOMAIN.md §4: a hospital discharge less than 24 hours away escalates immediately",
)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """The configurable SLA figures of one payer / service line (DOMAIN.md §4 defaults)."""

    acknowledgement: DeadlineRule = _DEFAULT_ACKNOWLEDGEMENT
    service_start: Mapping[ServiceClass, DeadlineRule] = field(
        default_factory=_default_service_start, hash=False
    )
    discharge_escalation_window: DeadlineRule = _DEFAULT_DISCHARGE_WINDOW
    business_hours: BusinessHours = _STANDARD_HOURS

    def __post_init__(self) -> None:
        missing = [str(c) for c in ServiceClass if c not in self.service_start]
        if missing:
            raise ValueError(f"service_start has no rule for: {', '.join(missing)}")
        if self.discharge_escalation_window.calendar is not CalendarKind.clock:
            raise ValueError("discharge_escalation_window counts real time: use a clock rule")
        object.__setattr__(self, "service_start", MappingProxyType(dict(self.service_start)))

    def with_overrides(self, data: Mapping[str, object]) -> SlaPolicy:
        """This policy with a payer's JSON overrides applied, for example::

            {"acknowledgement": {"hours": 8, "calendar": "business"},
             "service_start": {"complex_dme": {"days": 10}},
             "discharge_escalation_hours": 12,
             "business_hours": {"opens": "09:00", "closes": "17:00"}}

        A rule takes exactly one of ``hours``, ``days`` (business days on a business
        calendar) or ``business_days``, and optionally ``calendar``; without it the rule keeps
        its calendar. When the business hours change, business rules that are not overridden
        and count whole business days keep their count of days (one business day of 09:00-17:00
        is 8 h). Raises ``ValueError`` naming the offending key.
        """
        _reject_unknown(data, _POLICY_KEYS, "")
        hours = self.business_hours
        if "business_hours" in data:
            hours = _read_business_hours(self.business_hours, data["business_hours"])
        rescale = hours != self.business_hours

        def rule(current: DeadlineRule, key: str, raw: object) -> DeadlineRule:
            if raw is not None:
                return _read_rule(current, raw, key, hours)
            return _rescaled(current, self.business_hours, hours) if rescale else current

        service_overrides = _as_mapping(data.get("service_start", {}), "service_start")
        _reject_unknown(service_overrides, frozenset(ServiceClass), "service_start.")
        service_start = {
            c: rule(r, f"service_start.{c}", service_overrides.get(c))
            for c, r in self.service_start.items()
        }
        window = self.discharge_escalation_window
        if "discharge_escalation_hours" in data:
            amount = _read_amount(data["discharge_escalation_hours"], "discharge_escalation_hours")
            window = DeadlineRule.hours(amount, name=window.name, source=_payer_source(window))
        return SlaPolicy(
            acknowledgement=rule(
                self.acknowledgement, "acknowledgement", data.get("acknowledgement")
            ),
            service_start=service_start,
            discharge_escalation_window=window,
            business_hours=hours,
        )


DEFAULT_SLA_POLICY = SlaPolicy()

_POLICY_KEYS = frozenset(
    {"acknowledgement", "service_start", "discharge_escalation_hours", "business_hours"}
)
_RULE_KEYS = frozenset({"hours", "days", "business_days", "calendar"})
_CALENDAR_NAMES = frozenset(kind.value for kind in CalendarKind)
_BUSINESS_HOURS_KEYS = frozenset(
    {"opens", "closes", "weekdays", "holiday_country", "holiday_subdivision"}
)


def service_deadline(
    policy: SlaPolicy,
    service_class: ServiceClass,
    received_at: datetime,
    *,
    time_zone: str,
    discharge_at: datetime | None = None,
) -> datetime:
    """When service must start: the class's rule from receipt, never after the discharge.

    A member going home needs the equipment or visit at discharge, so the deadline is the
    earlier of the rule's due time and ``discharge_at``. A discharge already in the past
    still caps it: the deadline is then already missed, which is the truth the work queue
    must show.
    """
    due = compute_due(
        policy.service_start[service_class],
        received_at,
        time_zone=time_zone,
        hours=policy.business_hours,
    )
    if discharge_at is None:
        return due
    return min(due, _utc(discharge_at, "discharge_at"))


def discharge_escalation(policy: SlaPolicy, now: datetime, discharge_at: datetime) -> str | None:
    """Why a referral escalates immediately because of its discharge, or ``None``.

    DOMAIN.md §4: a hospital discharge less than 24 hours away (the policy's window)
    escalates immediately; so does one whose time has already passed.
    """
    left = _utc(discharge_at, "discharge_at") - _utc(now, "now")
    if left <= timedelta(0):
        return "hospital discharge time has already passed"
    window = policy.discharge_escalation_window.duration
    if left >= window:
        return None
    return f"hospital discharge in {format_duration(left)} (less than {_format_hours(window)} away)"


def format_duration(td: timedelta) -> str:
    """Plain words for a duration: "45 min", "3 h 10 min", "2 d 4 h".

    Whole minutes, rounded down; at most two units (days drop the minutes); a negative
    duration gets a leading "-"; anything under a minute reads "less than 1 min".
    """
    if td < timedelta(0):
        return f"-{format_duration(-td)}"
    if td == timedelta(0):
        return "0 min"
    if td < timedelta(minutes=1):
        return "less than 1 min"
    hours_, rest = divmod(td.seconds, 3600)
    minutes = rest // 60
    if td.days:
        return f"{td.days} d" + (f" {hours_} h" if hours_ else "")
    if hours_:
        return f"{hours_} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def _format_hours(td: timedelta) -> str:
    # Thresholds read best in the unit the rule was written in ("less than 24 h away").
    if td % timedelta(hours=1) == timedelta(0):
        return f"{td // timedelta(hours=1)} h"
    return format_duration(td)


def _payer_source(default: DeadlineRule) -> str:
    if default.source.startswith(_PAYER_SOURCE):
        return default.source
    return f"{_PAYER_SOURCE} (default: {default.source})"


def _rescaled(rule: DeadlineRule, old: BusinessHours, new: BusinessHours) -> DeadlineRule:
    if rule.calendar is not CalendarKind.business:
        return rule
    days, rest = divmod(rule.duration, old.business_day_length)
    if rest or not days:
        return rule
    return replace(rule, duration=days * new.business_day_length)


def _reject_unknown(data: Mapping[str, object], allowed: frozenset[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise ValueError(
                f"unknown SLA override key '{prefix}{key}'; expected one of "
                f"{', '.join(prefix + k for k in sorted(allowed))}"
            )


def _as_mapping(raw: object, key: str) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        # ValueError, not TypeError: this is bad payer configuration data, not a caller bug.
        raise ValueError(f"SLA override {key!r} must be an object, got {type(raw).__name__}")
    return raw


def _read_amount(raw: object, key: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"SLA override {key!r} must be a number, got {raw!r}")
    if not math.isfinite(raw) or raw < 0:
        raise ValueError(f"SLA override {key!r} must be a finite, non-negative number, got {raw}")
    return raw


def _read_rule(current: DeadlineRule, raw: object, key: str, hours: BusinessHours) -> DeadlineRule:
    spec = _as_mapping(raw, key)
    _reject_unknown(spec, _RULE_KEYS, f"{key}.")
    units = [unit for unit in ("hours", "days", "business_days") if unit in spec]
    if len(units) != 1:
        raise ValueError(f"SLA override {key!r} needs exactly one of hours, days, business_days")
    unit = units[0]
    amount = _read_amount(spec[unit], f"{key}.{unit}")
    calendar = current.calendar if unit != "business_days" else CalendarKind.business
    if "calendar" in spec:
        raw_calendar = spec["calendar"]
        if not isinstance(raw_calendar, str) or raw_calendar not in _CALENDAR_NAMES:
            raise ValueError(
                f"SLA override '{key}.calendar' must be 'business' or 'clock', got {raw_calendar!r}"
            )
        calendar = CalendarKind(raw_calendar)
        if unit == "business_days" and calendar is CalendarKind.clock:
            raise ValueError(f"SLA override {key!r}: business_days needs the business calendar")
    try:
        if unit == "hours":
            duration = timedelta(hours=amount)
        elif calendar is CalendarKind.business:
            duration = amount * hours.business_day_length
        else:
            duration = timedelta(days=amount)
    except OverflowError:
        raise ValueError(f"SLA override '{key}.{unit}' is too large: {amount}") from None
    return DeadlineRule(current.name, duration, calendar, _payer_source(current))


def _read_business_hours(current: BusinessHours, raw: object) -> BusinessHours:
    spec = _as_mapping(raw, "business_hours")
    _reject_unknown(spec, _BUSINESS_HOURS_KEYS, "business_hours.")
    opens = _read_time(spec["opens"], "business_hours.opens") if "opens" in spec else None
    closes = _read_time(spec["closes"], "business_hours.closes") if "closes" in spec else None
    weekdays = _read_weekdays(spec["weekdays"]) if "weekdays" in spec else None
    country = spec.get("holiday_country", current.holiday_country)
    if not isinstance(country, str) or not country:
        raise ValueError("SLA override 'business_hours.holiday_country' must be a country code")
    subdivision = spec.get("holiday_subdivision", current.holiday_subdivision)
    if subdivision is not None and not isinstance(subdivision, str):
        raise ValueError("SLA override 'business_hours.holiday_subdivision' must be a code")
    try:
        hours = BusinessHours(
            opens=opens or current.opens,
            closes=closes or current.closes,
            weekdays=weekdays or current.weekdays,
            holiday_country=country,
            holiday_subdivision=subdivision,
        )
        holidays.country_holidays(country, subdiv=subdivision)
    except (ValueError, NotImplementedError) as error:
        raise ValueError(f"SLA override 'business_hours': {error}") from None
    return hours


def _read_time(raw: object, key: str) -> time:
    if not isinstance(raw, str) or not _HH_MM.match(raw):
        raise ValueError(f"SLA override {key!r} must be a local time like '09:00', got {raw!r}")
    return time.fromisoformat(raw)


def _read_weekdays(raw: object) -> frozenset[int]:
    key = "business_hours.weekdays"
    if not isinstance(raw, list | tuple) or not raw:
        raise ValueError(f"SLA override {key!r} must be a non-empty list of weekdays")
    days: set[int] = set()
    for item in raw:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        elif isinstance(item, str) and item.lower() in _WEEKDAY_NAMES:
            days.add(_WEEKDAY_NAMES.index(item.lower()))
        else:
            raise ValueError(
                f"SLA override {key!r}: {item!r} is not a weekday (0 = Monday .. 6, or a name)"
            )
    return frozenset(days)
