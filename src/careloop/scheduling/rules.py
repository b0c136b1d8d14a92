"""Scheduling rules: windows, the deadline they must meet, outcomes, and the period of
recurring supplies. Pure: no database, no HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from careloop.core.errors import FieldError


class AppointmentKind(StrEnum):
    delivery = "delivery"
    visit = "visit"


class AppointmentStatus(StrEnum):
    # A recurring supply whose next delivery is due but not yet booked.
    due = "due"
    scheduled = "scheduled"
    delivered = "delivered"
    visit_done = "visit_done"
    missed = "missed"
    cancelled = "cancelled"


class Outcome(StrEnum):
    delivered = "delivered"
    visit_done = "visit_done"
    missed = "missed"


class MissedReason(StrEnum):
    member_not_home = "member_not_home"
    member_declined = "member_declined"
    provider_no_show = "provider_no_show"
    equipment_unavailable = "equipment_unavailable"
    weather = "weather"
    access_problem = "access_problem"
    other = "other"


#: A scheduling window is a few hours of one day, as members are told (project default).
MAX_WINDOW = timedelta(hours=12)
#: The outcome is due this long after the window ends; then the case manager chases it.
OUTCOME_GRACE = timedelta(hours=2)
#: The next delivery of a recurring supply is put in the queue this long before it is due.
RESUPPLY_LEAD = timedelta(days=3)

#: Which outcome moves which appointment status.
_OUTCOME_STATUS = {
    Outcome.delivered: AppointmentStatus.delivered,
    Outcome.visit_done: AppointmentStatus.visit_done,
    Outcome.missed: AppointmentStatus.missed,
}
#: A missed appointment is booked again (it re-opens scheduling).
SCHEDULABLE = frozenset(
    {AppointmentStatus.due, AppointmentStatus.scheduled, AppointmentStatus.missed}
)


def kind_for(service_line: str) -> AppointmentKind:
    return AppointmentKind.visit if service_line == "home_health" else AppointmentKind.delivery


def window_problems(start: datetime, end: datetime, now: datetime) -> list[FieldError]:
    errors = []
    if end <= start:
        errors.append(FieldError("window_end", "must be after the start of the window"))
    elif end - start > MAX_WINDOW:
        errors.append(
            FieldError("window_end", f"a window is at most {_hours(MAX_WINDOW)} of one day")
        )
    if end <= now:
        errors.append(FieldError("window_end", "the window is already over"))
    return errors


def _hours(td: timedelta) -> str:
    return f"{td // timedelta(hours=1)} hours"


def outcome_source() -> str:
    """Why the outcome clock is due when it is (the ``rule_source`` of its clock)."""
    return f"outcome due {_hours(OUTCOME_GRACE)} after the scheduled window (project default)"


def resupply_source() -> str:
    """Why the next delivery of a recurring supply enters the work queue when it does."""
    return f"recurring supply: book the next delivery {RESUPPLY_LEAD.days} days before it is due"


def misses_deadline(window_end: datetime, service_due_at: datetime) -> bool:
    """The member is promised the service by the deadline: the whole window must be
    before it (DOMAIN.md §4)."""
    return window_end > service_due_at


def status_after(outcome: Outcome) -> AppointmentStatus:
    return _OUTCOME_STATUS[outcome]


def on_time(done_at: datetime, service_due_at: datetime) -> bool:
    return done_at <= service_due_at


def resupply_on_time(done_at: datetime, due_on: date | None, time_zone: str) -> bool | None:
    """A resupply is on time when delivered by the end of its due day, in the member's
    time zone; None when it had no due day."""
    if due_on is None:
        return None
    return done_at <= datetime.combine(due_on, time(23, 59), tzinfo=ZoneInfo(time_zone))


def outcome_problems(
    outcome: Outcome,
    *,
    at: datetime | None,
    now: datetime,
    received_by: str | None,
    serial_numbers: Iterable[str],
    needs_serials: bool,
    reason: MissedReason | None,
    note: str | None,
    received_at: datetime | None = None,
    booked_at: datetime | None = None,
) -> list[FieldError]:
    """What an outcome lacks, each naming its field and the rule. Nothing is delivered
    or done before the case was received or before its window was booked (issue 9: a
    delivery dated 0001-01-01 was once counted as on time)."""
    errors: list[FieldError] = []
    if outcome is Outcome.missed:
        if reason is None:
            errors.append(FieldError("reason", "say why the delivery or visit was missed"))
        elif reason is MissedReason.other and not note:
            errors.append(FieldError("note", "required when the reason is 'other'"))
        return errors
    if at is None:
        errors.append(FieldError("at", "say when it was delivered or done"))
    elif at > now + timedelta(minutes=5):
        errors.append(FieldError("at", "cannot be in the future"))
    elif received_at is not None and at < _minute(received_at):
        errors.append(FieldError("at", "cannot be before the case was received"))
    elif booked_at is not None and at < _minute(booked_at):
        errors.append(FieldError("at", "cannot be before the window was booked"))
    if outcome is Outcome.delivered:
        if not received_by:
            errors.append(FieldError("received_by", "proof of delivery names who received it"))
        if needs_serials and not list(serial_numbers):
            errors.append(
                FieldError("serial_numbers", "equipment is delivered with its serial numbers")
            )
    return errors


def _minute(instant: datetime) -> datetime:
    """The minute ``instant`` falls in: the portal's form gives the time to the minute, so
    a delivery recorded in the minute its window was booked is not "before" it."""
    return instant.replace(second=0, microsecond=0)


_PERIODS = {
    "daily": timedelta(days=1),
    "day": timedelta(days=1),
    "weekly": timedelta(weeks=1),
    "week": timedelta(weeks=1),
    "biweekly": timedelta(weeks=2),
    "fortnightly": timedelta(weeks=2),
    "monthly": timedelta(days=30),
    "month": timedelta(days=30),
}
_EVERY = re.compile(r"\bevery\s+(\d{1,2})\s+(day|week|month)s?\b")
_PER = re.compile(r"\b(?:per|a|/|each|every)\s*(day|week|month)\b")


def resupply_period(frequency: str | None) -> timedelta | None:
    """How often a recurring supply is delivered, from the order's frequency text
    ("weekly", "every 2 weeks", "3 per week" is still one weekly delivery, "monthly");
    None for a one-off."""
    if not frequency:
        return None
    text = frequency.lower()
    every = _EVERY.search(text)
    if every:
        return _PERIODS[every.group(2)] * int(every.group(1))
    for word, period in _PERIODS.items():
        if re.search(rf"\b{word}\b", text) and word not in {"day", "week", "month"}:
            return period
    per = _PER.search(text)
    if per:
        return _PERIODS[per.group(1)]
    return None


def next_due(done_on: date, period: timedelta) -> date:
    return done_on + period


def resupply_reminder_at(due_on: date, time_zone: str) -> datetime:
    """When the next delivery enters the work queue: the lead time before it is due,
    at the start of the member's business day."""
    return datetime.combine(due_on - RESUPPLY_LEAD, time(8, 0), tzinfo=ZoneInfo(time_zone))
