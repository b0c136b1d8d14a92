"""Plausible ranges for every date and time a caller sends (issue 9; RELIABILITY.md §2 B
rows 15 and 19).

A service date, a discharge, an appointment window or an outcome is a moment of a case
that is being coordinated now: the defaults accept one year back and two years ahead of
the moment the request is heard (the project's figures: a year covers a late-entered
delivery and the 12-month timely-filing limit of 42 CFR 424.44; two years cover a
long rental or an authorisation valid to the end of next year). Records with a long
life (a signed order, a credential, a network contract) accept 30 years either side.
Whatever the kind, no date leaves the years 1900-2999: beyond them an offset of +14:00
or -12:00 no longer converts to UTC (year 1 and 9999 overflow), and nothing of a case
can be dated there.

The checks run where the request's fields are validated (pydantic annotated types,
below). The moment they are judged against is the request's clock, set by the entry
point with :func:`judged_at`; without one (a filter in a URL, a model built in code)
only the absolute years apply. Out of range is a ValueError whose message names the
rule and the bounds, which the edges render as a 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


class DateKind(StrEnum):
    service = "service"
    record = "record"
    filter = "filter"


@dataclass(frozen=True, slots=True)
class DateRange:
    """How far before and after now a kind of date may lie."""

    back: timedelta
    ahead: timedelta
    label: str


@dataclass(frozen=True, slots=True)
class DateRules:
    """The plausible ranges; the defaults are the project's (module docstring)."""

    earliest: date = date(1900, 1, 1)
    latest: date = date(2999, 12, 31)
    service: DateRange = DateRange(
        back=timedelta(days=366), ahead=timedelta(days=731), label="a case's dates and times"
    )
    record: DateRange = DateRange(
        back=timedelta(days=30 * 366), ahead=timedelta(days=30 * 366), label="record dates"
    )

    def range_of(self, kind: DateKind) -> DateRange | None:
        if kind is DateKind.service:
            return self.service
        if kind is DateKind.record:
            return self.record
        return None


DEFAULT_DATE_RULES = DateRules()


@dataclass(frozen=True, slots=True)
class _Judgement:
    now: datetime
    rules: DateRules


_judged_at: ContextVar[_Judgement | None] = ContextVar("careloop_dates_judged_at", default=None)


@contextmanager
def judged_at(now: datetime | None, rules: DateRules = DEFAULT_DATE_RULES) -> Iterator[None]:
    """Judge the dates validated inside this block against ``now`` (the request's clock);
    ``None`` applies only the absolute years (a case's stored draft, re-read a year
    later, is not judged again against today)."""
    token = _judged_at.set(None if now is None else _Judgement(now, rules))
    try:
        yield
    finally:
        _judged_at.reset(token)


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def date_problem(
    value: date | datetime,
    kind: DateKind,
    *,
    now: datetime | None = None,
    rules: DateRules = DEFAULT_DATE_RULES,
) -> str | None:
    """Why ``value`` is not a plausible ``kind`` of date at ``now``, or None.

    Aware datetimes are compared as instants without converting them to UTC (the
    conversion of year 1 or 9999 with an extreme offset overflows)."""
    day = value.date() if isinstance(value, datetime) else value
    if not rules.earliest <= day <= rules.latest:
        return (
            f"is out of range: dates must fall between {_day(rules.earliest)} "
            f"and {_day(rules.latest)}"
        )
    window = rules.range_of(kind)
    if now is None or window is None:
        return None
    low, high = now - window.back, now + window.ahead
    if isinstance(value, datetime):
        outside = value < low or value > high
    else:
        outside = value < low.date() or value > high.date()
    if outside:
        return (
            f"is out of range: {window.label} must fall between {_day(low.date())} and "
            f"{_day(high.date())} ({window.back.days} days before to {window.ahead.days} "
            "days after today)"
        )
    return None


def _checker(kind: DateKind) -> AfterValidator:
    def check(value: date) -> date:
        judgement = _judged_at.get()
        problem = date_problem(
            value,
            kind,
            now=judgement.now if judgement else None,
            rules=judgement.rules if judgement else DEFAULT_DATE_RULES,
        )
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


#: The day a service starts, an authorisation is valid from or to.
ServiceDate = Annotated[date, _checker(DateKind.service)]
#: A discharge, an appointment window, a delivery or visit (with its UTC offset).
ServiceTime = Annotated[AwareDatetime, _checker(DateKind.service)]
#: A signature, a credential's attestation or expiry, a network contract's dates.
RecordDate = Annotated[date, _checker(DateKind.record)]
#: A list filter's date or time (with its offset: a naive time names no instant): any
#: day of the years CareLoop can hold.
FilterDate = Annotated[date, _checker(DateKind.filter)]
FilterTime = Annotated[AwareDatetime, _checker(DateKind.filter)]
