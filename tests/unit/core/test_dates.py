"""The plausible ranges of dates and times (core.dates), at and across their edges,
with the extreme UTC offsets that once overflowed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from careloop.core.dates import (
    DEFAULT_DATE_RULES,
    DateKind,
    DateRange,
    DateRules,
    FilterTime,
    RecordDate,
    ServiceDate,
    ServiceTime,
    date_problem,
    judged_at,
)

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
SERVICE = DEFAULT_DATE_RULES.service
offsets = st.sampled_from(
    [
        timezone(timedelta(hours=14)),
        timezone(timedelta(hours=-12)),
        timezone(timedelta(hours=5, minutes=45)),
        UTC,
    ]
)


class Body(BaseModel):
    model_config = ConfigDict(strict=True)
    start: ServiceDate | None = None
    at: ServiceTime | None = None
    signed: RecordDate | None = None
    since: FilterTime | None = None


@given(
    at=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
    )
)
def test_a_service_time_is_accepted_exactly_inside_its_range(at: datetime) -> None:
    problem = date_problem(at, DateKind.service, now=NOW)
    inside = NOW - SERVICE.back <= at <= NOW + SERVICE.ahead
    assert (problem is None) == inside
    if problem:
        assert problem.startswith("is out of range")


@given(
    day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
)
def test_a_service_date_is_accepted_exactly_inside_its_range(day: date) -> None:
    problem = date_problem(day, DateKind.service, now=NOW)
    inside = (NOW - SERVICE.back).date() <= day <= (NOW + SERVICE.ahead).date()
    assert (problem is None) == inside


@given(shift=st.timedeltas(min_value=timedelta(seconds=-5), max_value=timedelta(seconds=5)))
def test_the_edges_are_inclusive_to_the_second(shift: timedelta) -> None:
    for edge, outward in ((NOW - SERVICE.back, -1), (NOW + SERVICE.ahead, 1)):
        at = edge + shift
        outside = shift * outward > timedelta(0)
        assert (date_problem(at, DateKind.service, now=NOW) is not None) == outside


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))),
        date(1, 1, 1),
        date(9999, 12, 31),
    ],
)
@pytest.mark.parametrize("kind", list(DateKind))
def test_year_1_and_9999_are_refused_without_overflow_whatever_the_kind(
    value: date, kind: DateKind
) -> None:
    for now in (NOW, None):
        problem = date_problem(value, kind, now=now)
        assert problem is not None and "1 Jan 1900" in problem


def test_the_message_names_the_rule_and_its_bounds() -> None:
    problem = date_problem(NOW + timedelta(days=800), DateKind.service, now=NOW)
    assert problem == (
        "is out of range: a case's dates and times must fall between 23 Nov 2025 and "
        "24 Nov 2028 (366 days before to 731 days after today)"
    )


def test_records_and_filters_have_their_own_ranges() -> None:
    old = date(2000, 1, 1)
    assert date_problem(old, DateKind.service, now=NOW) is not None
    assert date_problem(old, DateKind.record, now=NOW) is None
    assert date_problem(date(1960, 1, 1), DateKind.record, now=NOW) is not None
    assert date_problem(date(1960, 1, 1), DateKind.filter, now=NOW) is None


def test_the_figures_are_configurable() -> None:
    strict = DateRules(
        service=DateRange(back=timedelta(days=30), ahead=timedelta(days=90), label="service")
    )
    at = NOW - timedelta(days=31)
    assert date_problem(at, DateKind.service, now=NOW) is None
    assert date_problem(at, DateKind.service, now=NOW, rules=strict) is not None


class TestTypes:
    def test_the_types_judge_against_the_clock_they_are_given(self) -> None:
        late = {"at": "2028-12-01T10:00:00+14:00"}
        assert Body.model_validate_json(b'{"at": "2028-12-01T10:00:00+14:00"}').at is not None
        with judged_at(NOW), pytest.raises(ValidationError) as raised:
            Body.model_validate(late, strict=False)
        assert raised.value.errors()[0]["loc"] == ("at",)
        with judged_at(NOW + timedelta(days=400)):
            assert Body.model_validate(late, strict=False).at is not None

    def test_judged_at_none_applies_only_the_absolute_years(self) -> None:
        with judged_at(NOW), judged_at(None):
            assert Body.model_validate({"start": "2020-01-01"}, strict=False).start
        with judged_at(NOW), pytest.raises(ValidationError):
            Body.model_validate({"start": "2020-01-01"}, strict=False)

    @pytest.mark.parametrize(
        "body",
        [
            b'{"at": "0001-01-01T00:00:00+14:00"}',
            b'{"at": "9999-12-31T23:59:59-12:00"}',
            b'{"start": "0001-01-01"}',
            b'{"signed": "9999-12-31"}',
            b'{"since": "0001-01-01T00:00:00+14:00"}',
        ],
    )
    def test_extreme_years_are_a_field_error_with_or_without_a_clock(self, body: bytes) -> None:
        for now in (NOW, None):
            with judged_at(now), pytest.raises(ValidationError) as raised:
                Body.model_validate_json(body)
            assert "out of range" in raised.value.errors()[0]["msg"]
