"""SLA deadline arithmetic: business calendars, deadline rules, policy (DOMAIN.md §4)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.sla import (
    DEFAULT_SLA_POLICY,
    BusinessCalendar,
    BusinessHours,
    CalendarKind,
    DeadlineRule,
    ServiceClass,
    SlaPolicy,
    business_calendar,
    compute_due,
    discharge_escalation,
    extend_for_pause,
    format_duration,
    remaining,
    service_deadline,
)

NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
NY = ZoneInfo(NEW_YORK)
STANDARD = BusinessHours()
ACK = DEFAULT_SLA_POLICY.acknowledgement
BUSINESS_DAY = timedelta(hours=10)
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def ny(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A wall-clock instant in New York."""
    return datetime(year, month, day, hour, minute, second, tzinfo=NY)


def calendar(time_zone: str = NEW_YORK) -> BusinessCalendar:
    return business_calendar(STANDARD, time_zone)


def business_rule(duration: timedelta) -> DeadlineRule:
    return DeadlineRule("test", duration, CalendarKind.business, "test")


# An independent oracle: walk local days one by one, straight from zoneinfo and holidays.


@cache
def us_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("US", years=year))


def reference_windows(start: datetime, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        if day.weekday() < 5 and day not in us_holidays(day.year):
            opens = datetime.combine(day, time(8), tzinfo=zone).astimezone(UTC)
            closes = datetime.combine(day, time(18), tzinfo=zone).astimezone(UTC)
            yield opens, closes
        day += timedelta(days=1)


def reference_add(start: datetime, duration: timedelta, zone: ZoneInfo) -> datetime:
    left = duration
    for opens, closes in reference_windows(start, zone):
        begin = max(opens, start)
        if begin < closes:
            if left <= closes - begin:
                return begin + left
            left -= closes - begin
    raise AssertionError("unreachable")


def reference_elapsed(start: datetime, end: datetime, zone: ZoneInfo) -> timedelta:
    total = timedelta(0)
    for opens, closes in reference_windows(start, zone):
        if opens >= end:
            return total
        total += max(timedelta(0), min(closes, end) - max(opens, start))
    raise AssertionError("unreachable")


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and an instant in 2025-2028, often exactly on a local opening or closing."""
    time_zone = draw(st.sampled_from(ZONES))
    day = draw(st.dates(date(2025, 1, 1), date(2028, 12, 31)))
    wall = draw(
        st.one_of(
            st.sampled_from([time(8), time(18), time(0)]),
            st.times(),
        )
    )
    return time_zone, datetime.combine(day, wall, tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


positive_durations = st.one_of(
    st.integers(1, 30 * 10 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us)),
    st.integers(1, 300).map(lambda h: timedelta(hours=h)),
    st.integers(1, 30).map(lambda n: n * BUSINESS_DAY),
)


class TestBusinessHours:
    def test_opens_weekdays_0800_to_1800_when_defaults_used(self) -> None:
        assert (STANDARD.opens, STANDARD.closes) == (time(8), time(18))
        assert STANDARD.weekdays == frozenset(range(5))
        assert (STANDARD.holiday_country, STANDARD.holiday_subdivision) == ("US", None)
        assert STANDARD.business_day_length == timedelta(hours=10)

    def test_raises_when_opening_is_not_before_closing(self) -> None:
        with pytest.raises(ValueError, match="open before they close"):
            BusinessHours(opens=time(18), closes=time(9))

    @pytest.mark.parametrize("weekdays", [frozenset(), frozenset({7})])
    def test_raises_when_weekdays_empty_or_out_of_range(self, weekdays: frozenset[int]) -> None:
        with pytest.raises(ValueError, match="weekdays"):
            BusinessHours(weekdays=weekdays)


class TestBusinessCalendar:
    def test_is_open_when_inside_a_weekday_window(self) -> None:
        assert calendar().is_open(ny(2026, 11, 20, 8))
        assert calendar().is_open(ny(2026, 11, 20, 17, 59, 59))

    @pytest.mark.parametrize(
        "instant",
        [
            ny(2026, 11, 20, 18),  # closing time itself
            ny(2026, 11, 20, 7, 59),
            ny(2026, 11, 21, 12),  # Saturday
            ny(2026, 11, 26, 12),  # Thanksgiving
            ny(2026, 7, 3, 12),  # Independence Day observed (Friday)
        ],
    )
    def test_is_closed_when_outside_hours_weekend_or_holiday(self, instant: datetime) -> None:
        assert not calendar().is_open(instant)

    def test_next_open_is_monday_morning_when_asked_friday_evening(self) -> None:
        assert calendar().next_open(ny(2026, 11, 20, 18)) == ny(2026, 11, 23, 8)

    def test_next_open_is_the_instant_when_already_open(self) -> None:
        assert calendar().next_open(ny(2026, 11, 20, 9, 30)) == ny(2026, 11, 20, 9, 30)

    def test_returns_utc_when_given_local_instants(self) -> None:
        assert calendar().add(ny(2026, 11, 20, 9), timedelta(hours=1)).tzinfo is UTC
        assert calendar().next_open(ny(2026, 11, 21, 9)).tzinfo is UTC

    def test_returns_start_unchanged_when_duration_is_zero(self) -> None:
        saturday = ny(2026, 11, 21, 10)
        assert calendar().add(saturday, timedelta(0)) == saturday

    def test_raises_when_duration_is_negative(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            calendar().add(ny(2026, 11, 20, 9), timedelta(hours=-1))

    def test_raises_when_instant_is_naive(self) -> None:
        naive = datetime(2026, 11, 20, 9)
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar().add(naive, timedelta(hours=1))
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar().is_open(naive)
        with pytest.raises(ValueError, match="timezone-aware"):
            calendar().elapsed(ny(2026, 11, 20, 9), naive)

    def test_raises_when_time_zone_is_unknown(self) -> None:
        with pytest.raises(ValueError, match="unknown time zone"):
            business_calendar(STANDARD, "America/Atlantis")

    def test_raises_when_holiday_country_is_unknown(self) -> None:
        with pytest.raises(ValueError, match="holiday calendar"):
            business_calendar(BusinessHours(holiday_country="XX"), NEW_YORK)

    def test_returns_the_same_calendar_when_asked_twice(self) -> None:
        assert business_calendar(BusinessHours(), NEW_YORK) is calendar()

    def test_elapsed_is_zero_when_end_is_not_after_start(self) -> None:
        assert calendar().elapsed(ny(2026, 11, 20, 12), ny(2026, 11, 20, 9)) == timedelta(0)

    def test_elapsed_skips_weekend_when_spanning_friday_to_monday(self) -> None:
        elapsed = calendar().elapsed(ny(2026, 11, 20, 17), ny(2026, 11, 23, 9))
        assert elapsed == timedelta(hours=2)

    def test_due_differs_by_zone_when_same_instant_in_new_york_and_los_angeles(self) -> None:
        instant = datetime(2026, 3, 4, 20, tzinfo=UTC)  # Wed 15:00 in New York, 12:00 in LA
        five_hours = timedelta(hours=5)
        assert calendar(NEW_YORK).add(instant, five_hours) == ny(2026, 3, 5, 10)
        la = ZoneInfo(LOS_ANGELES)
        assert calendar(LOS_ANGELES).add(instant, five_hours) == datetime(2026, 3, 4, 17, tzinfo=la)
        evening = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
        assert not calendar(NEW_YORK).is_open(evening)
        assert calendar(LOS_ANGELES).is_open(evening)

    @pytest.mark.parametrize(
        ("monday", "friday"),
        [(date(2026, 3, 2), date(2026, 3, 13)), (date(2026, 10, 26), date(2026, 11, 6))],
        ids=["spring-forward", "fall-back"],
    )
    def test_business_day_is_ten_local_hours_when_week_crosses_dst(
        self, monday: date, friday: date
    ) -> None:
        day = monday
        while day <= friday:
            if day.weekday() < 5:
                opens = datetime.combine(day, time(8), tzinfo=NY)
                closes = datetime.combine(day, time(18), tzinfo=NY)
                assert calendar().elapsed(opens, closes) == BUSINESS_DAY
                assert calendar().add(opens, BUSINESS_DAY) == closes
            day += timedelta(days=1)
        span = calendar().elapsed(
            datetime.combine(monday, time(0), tzinfo=NY),
            datetime.combine(friday, time(23), tzinfo=NY),
        )
        assert span == 10 * BUSINESS_DAY

    def test_opens_at_different_utc_hour_when_dst_changes(self) -> None:
        assert calendar().next_open(ny(2026, 3, 6, 0)) == datetime(2026, 3, 6, 13, tzinfo=UTC)
        assert calendar().next_open(ny(2026, 3, 9, 0)) == datetime(2026, 3, 9, 12, tzinfo=UTC)
        assert calendar().next_open(ny(2026, 10, 30, 0)) == datetime(2026, 10, 30, 12, tzinfo=UTC)
        assert calendar().next_open(ny(2026, 11, 2, 0)) == datetime(2026, 11, 2, 13, tzinfo=UTC)

    def test_counts_real_hours_when_window_spans_a_dst_change(self) -> None:
        night = BusinessHours(opens=time(0), closes=time(5), weekdays=frozenset({6}))
        cal = business_calendar(night, NEW_YORK)
        assert cal.elapsed(ny(2026, 3, 8, 0), ny(2026, 3, 8, 12)) == timedelta(hours=4)
        assert cal.elapsed(ny(2026, 11, 1, 0), ny(2026, 11, 1, 12)) == timedelta(hours=6)

    def test_loads_next_year_when_deadline_crosses_new_year(self) -> None:
        fresh = BusinessCalendar(STANDARD, NEW_YORK)
        assert fresh.add(ny(2027, 12, 30, 16), BUSINESS_DAY) == ny(2028, 1, 3, 16)
        assert fresh.add(ny(2025, 12, 31, 17), BUSINESS_DAY) == ny(2026, 1, 2, 17)

    def test_uses_state_holidays_when_subdivision_configured(self) -> None:
        patriots_day = ny(2026, 4, 20, 10)
        massachusetts = BusinessHours(holiday_subdivision="MA")
        assert calendar().is_open(patriots_day)
        assert not business_calendar(massachusetts, NEW_YORK).is_open(patriots_day)


class TestComputeDue:
    def test_ack_due_monday_1700_when_received_friday_1700(self) -> None:
        assert compute_due(ACK, ny(2026, 11, 20, 17), time_zone=NEW_YORK) == ny(2026, 11, 23, 17)

    def test_ack_due_monday_1800_when_received_saturday_1000(self) -> None:
        assert compute_due(ACK, ny(2026, 11, 21, 10), time_zone=NEW_YORK) == ny(2026, 11, 23, 18)

    def test_ack_due_friday_1800_when_received_on_thanksgiving_morning(self) -> None:
        assert compute_due(ACK, ny(2026, 11, 26, 9), time_zone=NEW_YORK) == ny(2026, 11, 27, 18)

    def test_ack_skips_new_years_day_when_received_new_years_eve_afternoon(self) -> None:
        # Thursday 2026-12-31: two hours left, Friday 2027-01-01 is New Year's Day.
        assert compute_due(ACK, ny(2026, 12, 31, 16), time_zone=NEW_YORK) == ny(2027, 1, 4, 16)

    def test_ack_skips_observed_new_year_when_received_friday_2027_12_31(self) -> None:
        # New Year's Day 2028 is a Saturday, observed on Friday 2027-12-31.
        assert compute_due(ACK, ny(2027, 12, 31, 16), time_zone=NEW_YORK) == ny(2028, 1, 3, 18)

    def test_counts_ten_hours_per_day_when_rule_is_business_days(self) -> None:
        rule = DeadlineRule.business_days(15, name="test", source="test")
        assert rule.duration == 15 * BUSINESS_DAY
        # 2026-06-19 (Juneteenth, a Friday) is skipped.
        assert compute_due(rule, ny(2026, 6, 1, 8), time_zone=NEW_YORK) == ny(2026, 6, 22, 18)

    @pytest.mark.parametrize(
        ("start", "due_wall"),
        [(ny(2026, 3, 7, 10), ny(2026, 3, 10, 11)), (ny(2026, 10, 31, 10), ny(2026, 11, 3, 9))],
        ids=["spring-forward", "fall-back"],
    )
    def test_clock_rule_is_72_real_hours_when_spanning_dst(
        self, start: datetime, due_wall: datetime
    ) -> None:
        rule = DEFAULT_SLA_POLICY.service_start[ServiceClass.standard_dme]
        due = compute_due(rule, start, time_zone=NEW_YORK)
        assert due - start == timedelta(hours=72)
        assert due == due_wall
        assert due.tzinfo is UTC

    def test_complex_dme_due_in_14_days_when_default_policy(self) -> None:
        rule = DEFAULT_SLA_POLICY.service_start[ServiceClass.complex_dme]
        due = compute_due(rule, ny(2026, 11, 20, 17), time_zone=NEW_YORK)
        assert due == ny(2026, 12, 4, 17)


class TestRemaining:
    def test_is_negative_business_time_when_overdue(self) -> None:
        due = ny(2026, 11, 20, 17)
        left = remaining(ACK, ny(2026, 11, 23, 10, 10), due, time_zone=NEW_YORK)
        assert left == -timedelta(hours=3, minutes=10)
        assert format_duration(-left) == "3 h 10 min"

    def test_is_wall_time_when_clock_rule(self) -> None:
        rule = DeadlineRule.hours(72, name="test", source="test")
        left = remaining(rule, ny(2026, 11, 21, 10), ny(2026, 11, 23, 8), time_zone=NEW_YORK)
        assert left == timedelta(hours=46)

    def test_is_business_time_when_business_rule_not_yet_due(self) -> None:
        left = remaining(ACK, ny(2026, 11, 20, 17), ny(2026, 11, 23, 9), time_zone=NEW_YORK)
        assert left == timedelta(hours=2)


class TestExtendForPause:
    def test_restarts_remaining_business_time_when_resumed(self) -> None:
        due = extend_for_pause(
            ACK, ny(2026, 11, 23, 12), ny(2026, 11, 20, 16), ny(2026, 11, 23, 9), time_zone=NEW_YORK
        )
        assert due == ny(2026, 11, 23, 15)  # 2 h Friday + 4 h Monday left, from 09:00

    def test_moves_by_wall_time_when_clock_rule(self) -> None:
        rule = DeadlineRule.hours(72, name="test", source="test")
        due = extend_for_pause(
            rule,
            ny(2026, 11, 23, 12),
            ny(2026, 11, 20, 16),
            ny(2026, 11, 21, 16),
            time_zone=NEW_YORK,
        )
        assert due == ny(2026, 11, 24, 12)

    def test_keeps_lateness_when_paused_after_due(self) -> None:
        resumed = ny(2026, 11, 23, 10)
        due = extend_for_pause(
            ACK, ny(2026, 11, 20, 12), ny(2026, 11, 20, 14), resumed, time_zone=NEW_YORK
        )
        assert remaining(ACK, resumed, due, time_zone=NEW_YORK) == -timedelta(hours=2)

    def test_leaves_due_unchanged_when_pause_is_outside_business_hours(self) -> None:
        due_at = ny(2026, 11, 23, 12)
        due = extend_for_pause(
            ACK, due_at, ny(2026, 11, 21, 9), ny(2026, 11, 22, 20), time_zone=NEW_YORK
        )
        assert due == due_at

    def test_raises_when_resumed_before_paused(self) -> None:
        with pytest.raises(ValueError, match="resume"):
            extend_for_pause(
                ACK,
                ny(2026, 11, 23, 12),
                ny(2026, 11, 20, 16),
                ny(2026, 11, 20, 15),
                time_zone=NEW_YORK,
            )


class TestSlaPolicy:
    def test_uses_domain_section_4_figures_when_defaults(self) -> None:
        policy = DEFAULT_SLA_POLICY
        assert (policy.acknowledgement.duration, policy.acknowledgement.calendar) == (
            BUSINESS_DAY,
            CalendarKind.business,
        )
        starts = {c: (r.duration, r.calendar) for c, r in policy.service_start.items()}
        assert starts == {
            ServiceClass.standard_dme: (timedelta(hours=72), CalendarKind.clock),
            ServiceClass.home_health: (timedelta(hours=72), CalendarKind.clock),
            ServiceClass.infusion: (timedelta(hours=72), CalendarKind.clock),
            ServiceClass.complex_dme: (timedelta(days=14), CalendarKind.clock),
        }
        assert policy.discharge_escalation_window.duration == timedelta(hours=24)
        assert policy.business_hours == STANDARD

    def test_names_domain_section_4_as_source_when_defaults(self) -> None:
        rules = [
            DEFAULT_SLA_POLICY.acknowledgement,
            DEFAULT_SLA_POLICY.discharge_escalation_window,
            *DEFAULT_SLA_POLICY.service_start.values(),
        ]
        assert all(rule.source.startswith("DOMAIN.md §4") for rule in rules)
        infusion = DEFAULT_SLA_POLICY.service_start[ServiceClass.infusion]
        assert "grouped with standard services" in infusion.source

    def test_applies_payer_overrides_when_given_documented_example(self) -> None:
        policy = DEFAULT_SLA_POLICY.with_overrides(
            {
                "acknowledgement": {"hours": 8, "calendar": "business"},
                "service_start": {"complex_dme": {"days": 10}},
                "discharge_escalation_hours": 12,
                "business_hours": {"opens": "09:00", "closes": "17:00"},
            }
        )
        assert policy.acknowledgement.duration == timedelta(hours=8)
        assert policy.acknowledgement.calendar is CalendarKind.business
        assert policy.acknowledgement.source.startswith("payer configuration (default: DOMAIN.md")
        complex_dme = policy.service_start[ServiceClass.complex_dme]
        assert (complex_dme.duration, complex_dme.calendar) == (timedelta(days=10), "clock")
        assert policy.service_start[ServiceClass.standard_dme].source.startswith("DOMAIN.md")
        assert policy.discharge_escalation_window.duration == timedelta(hours=12)
        assert (policy.business_hours.opens, policy.business_hours.closes) == (time(9), time(17))

    def test_returns_equal_policy_when_overrides_empty(self) -> None:
        assert DEFAULT_SLA_POLICY.with_overrides({}) == DEFAULT_SLA_POLICY

    def test_keeps_one_business_day_when_business_hours_change(self) -> None:
        policy = DEFAULT_SLA_POLICY.with_overrides(
            {"business_hours": {"opens": "09:00", "closes": "17:00"}}
        )
        assert policy.acknowledgement.duration == timedelta(hours=8)
        assert policy.acknowledgement.source == ACK.source

    def test_counts_business_days_when_days_on_business_calendar(self) -> None:
        policy = DEFAULT_SLA_POLICY.with_overrides(
            {
                "acknowledgement": {"days": 2},
                "service_start": {"complex_dme": {"business_days": 5}},
            }
        )
        assert policy.acknowledgement.duration == 2 * BUSINESS_DAY
        complex_dme = policy.service_start[ServiceClass.complex_dme]
        assert (complex_dme.duration, complex_dme.calendar) == (5 * BUSINESS_DAY, "business")

    def test_reads_weekday_names_when_weekdays_overridden(self) -> None:
        policy = DEFAULT_SLA_POLICY.with_overrides(
            {"business_hours": {"weekdays": ["monday", "Saturday", 2]}}
        )
        assert policy.business_hours.weekdays == frozenset({0, 2, 5})

    @pytest.mark.parametrize(
        ("data", "key"),
        [
            ({"acknowledgment": {"hours": 8}}, "'acknowledgment'"),
            ({"service_start": {"wheelchair": {"days": 3}}}, "'service_start.wheelchair'"),
            ({"service_start": [1]}, "'service_start'"),
            ({"acknowledgement": 8}, "'acknowledgement'"),
            ({"acknowledgement": {"hours": "eight"}}, "'acknowledgement.hours'"),
            ({"acknowledgement": {"hours": -1}}, "'acknowledgement.hours'"),
            ({"acknowledgement": {"hours": 1e300}}, "'acknowledgement.hours'"),
            ({"acknowledgement": {"hours": 8, "days": 1}}, "'acknowledgement'"),
            ({"acknowledgement": {"minutes": 8}}, "'acknowledgement.minutes'"),
            ({"acknowledgement": {"hours": 8, "calendar": "weekly"}}, "'acknowledgement.calendar'"),
            (
                {"service_start": {"complex_dme": {"business_days": 5, "calendar": "clock"}}},
                "'service_start.complex_dme'",
            ),
            ({"discharge_escalation_hours": True}, "'discharge_escalation_hours'"),
            ({"business_hours": {"opens": "9am"}}, "'business_hours.opens'"),
            ({"business_hours": {"opens": "18:00", "closes": "09:00"}}, "'business_hours'"),
            ({"business_hours": {"weekdays": ["funday"]}}, "'business_hours.weekdays'"),
            ({"business_hours": {"holiday_country": "XX"}}, "'business_hours'"),
            ({"business_hours": {"holiday_subdivision": "ZZ"}}, "'business_hours'"),
            ({"business_hours": {"lunch": "12:00"}}, "'business_hours.lunch'"),
        ],
    )
    def test_raises_naming_the_key_when_override_is_invalid(
        self, data: dict[str, object], key: str
    ) -> None:
        with pytest.raises(ValueError, match=key):
            DEFAULT_SLA_POLICY.with_overrides(data)

    def test_raises_when_a_service_class_has_no_rule(self) -> None:
        with pytest.raises(ValueError, match="infusion"):
            SlaPolicy(
                service_start={
                    c: r
                    for c, r in DEFAULT_SLA_POLICY.service_start.items()
                    if c is not ServiceClass.infusion
                }
            )

    def test_raises_when_discharge_window_is_business_time(self) -> None:
        with pytest.raises(ValueError, match="clock rule"):
            SlaPolicy(discharge_escalation_window=ACK)


class TestServiceDeadline:
    def test_is_72_hours_after_receipt_when_no_discharge(self) -> None:
        due = service_deadline(
            DEFAULT_SLA_POLICY, ServiceClass.home_health, ny(2026, 11, 20, 17), time_zone=NEW_YORK
        )
        assert due == ny(2026, 11, 23, 17)

    @pytest.mark.parametrize(
        ("discharge_at", "expected"),
        [
            (ny(2026, 11, 21, 12), ny(2026, 11, 21, 12)),  # sooner: the discharge caps it
            (ny(2026, 11, 25, 12), ny(2026, 11, 23, 17)),  # later: the rule decides
            (ny(2026, 11, 19, 12), ny(2026, 11, 19, 12)),  # already past: still caps it
        ],
        ids=["discharge-sooner", "discharge-later", "discharge-passed"],
    )
    def test_never_later_than_discharge_when_discharge_known(
        self, discharge_at: datetime, expected: datetime
    ) -> None:
        due = service_deadline(
            DEFAULT_SLA_POLICY,
            ServiceClass.standard_dme,
            ny(2026, 11, 20, 17),
            time_zone=NEW_YORK,
            discharge_at=discharge_at,
        )
        assert due == expected
        assert due.tzinfo is UTC


class TestDischargeEscalation:
    def test_gives_time_left_when_discharge_less_than_24_hours_away(self) -> None:
        reason = discharge_escalation(
            DEFAULT_SLA_POLICY, ny(2026, 11, 20, 9), ny(2026, 11, 20, 14, 20, 30)
        )
        assert reason == "hospital discharge in 5 h 20 min (less than 24 h away)"

    @pytest.mark.parametrize("discharge_at", [ny(2026, 11, 20, 8), ny(2026, 11, 20, 9)])
    def test_says_passed_when_discharge_time_not_in_future(self, discharge_at: datetime) -> None:
        reason = discharge_escalation(DEFAULT_SLA_POLICY, ny(2026, 11, 20, 9), discharge_at)
        assert reason == "hospital discharge time has already passed"

    def test_is_none_when_discharge_24_hours_or_more_away(self) -> None:
        assert (
            discharge_escalation(DEFAULT_SLA_POLICY, ny(2026, 11, 20, 9), ny(2026, 11, 21, 9))
            is None
        )

    def test_uses_payer_window_when_overridden(self) -> None:
        policy = DEFAULT_SLA_POLICY.with_overrides({"discharge_escalation_hours": 12})
        assert discharge_escalation(policy, ny(2026, 11, 20, 9), ny(2026, 11, 20, 22)) is None
        reason = discharge_escalation(policy, ny(2026, 11, 20, 9), ny(2026, 11, 20, 20))
        assert reason == "hospital discharge in 11 h (less than 12 h away)"


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("duration", "words"),
        [
            (timedelta(0), "0 min"),
            (timedelta(seconds=30), "less than 1 min"),
            (timedelta(minutes=45), "45 min"),
            (timedelta(hours=3, minutes=10, seconds=59), "3 h 10 min"),
            (timedelta(hours=3), "3 h"),
            (timedelta(days=2, hours=4, minutes=30), "2 d 4 h"),
            (timedelta(days=1, minutes=5), "1 d"),
            (-timedelta(hours=3, minutes=10), "-3 h 10 min"),
        ],
    )
    def test_reads_plainly_when_formatted(self, duration: timedelta, words: str) -> None:
        assert format_duration(duration) == words


class TestBusinessCalendarProperties:
    @PROPERTY_SETTINGS
    @given(zone_and_instant(), positive_durations)
    def test_lands_in_open_hours_of_an_open_day_when_adding(
        self, start: tuple[str, datetime], duration: timedelta
    ) -> None:
        time_zone, instant = start
        local = calendar(time_zone).add(instant, duration).astimezone(ZoneInfo(time_zone))
        assert local.weekday() < 5
        assert local.date() not in us_holidays(local.year)
        assert time(8) < local.time() <= time(18)

    @PROPERTY_SETTINGS
    @given(zone_and_instant(), positive_durations)
    def test_matches_day_by_day_walk_when_adding(
        self, start: tuple[str, datetime], duration: timedelta
    ) -> None:
        time_zone, instant = start
        expected = reference_add(instant, duration, ZoneInfo(time_zone))
        assert calendar(time_zone).add(instant, duration) == expected

    @PROPERTY_SETTINGS
    @given(zone_and_instant(), st.timedeltas(timedelta(0), timedelta(days=45)))
    def test_matches_day_by_day_walk_when_measuring_elapsed(
        self, start: tuple[str, datetime], gap: timedelta
    ) -> None:
        time_zone, instant = start
        expected = reference_elapsed(instant, instant + gap, ZoneInfo(time_zone))
        assert calendar(time_zone).elapsed(instant, instant + gap) == expected

    @PROPERTY_SETTINGS
    @given(zone_and_instant(), positive_durations, positive_durations)
    def test_never_earlier_when_duration_grows(
        self, start: tuple[str, datetime], a: timedelta, b: timedelta
    ) -> None:
        time_zone, instant = start
        cal = calendar(time_zone)
        assert cal.add(instant, min(a, b)) <= cal.add(instant, max(a, b))

    @PROPERTY_SETTINGS
    @given(zone_and_instant(), positive_durations)
    def test_elapsed_gives_back_duration_when_measuring_an_add(
        self, start: tuple[str, datetime], duration: timedelta
    ) -> None:
        time_zone, instant = start
        cal = calendar(time_zone)
        assert cal.elapsed(instant, cal.add(instant, duration)) == duration

    @PROPERTY_SETTINGS
    @given(zone_and_instant(), positive_durations, positive_durations)
    def test_adds_in_steps_like_at_once_when_durations_split(
        self, start: tuple[str, datetime], a: timedelta, b: timedelta
    ) -> None:
        time_zone, instant = start
        cal = calendar(time_zone)
        assert cal.add(cal.add(instant, a), b) == cal.add(instant, a + b)

    @PROPERTY_SETTINGS
    @given(
        zone_and_instant(),
        positive_durations,
        st.timedeltas(timedelta(0), timedelta(days=60)),
        st.timedeltas(timedelta(0), timedelta(days=20)),
        st.sampled_from([CalendarKind.business, CalendarKind.clock]),
    )
    def test_never_moves_due_earlier_when_paused(
        self,
        start: tuple[str, datetime],
        duration: timedelta,
        pause_after: timedelta,
        pause: timedelta,
        kind: CalendarKind,
    ) -> None:
        time_zone, received = start
        rule = DeadlineRule("test", duration, kind, "test")
        due_at = compute_due(rule, received, time_zone=time_zone)
        paused_at = received + pause_after
        resumed_at = paused_at + pause
        new_due = extend_for_pause(rule, due_at, paused_at, resumed_at, time_zone=time_zone)
        assert new_due >= due_at
        unpaused = extend_for_pause(rule, due_at, paused_at, paused_at, time_zone=time_zone)
        assert unpaused == due_at

    @PROPERTY_SETTINGS
    @given(
        zone_and_instant(),
        positive_durations,
        st.timedeltas(timedelta(0), timedelta(days=60)),
        st.timedeltas(timedelta(0), timedelta(days=20)),
    )
    def test_restarts_time_left_at_pause_when_paused_before_due(
        self,
        start: tuple[str, datetime],
        duration: timedelta,
        pause_after: timedelta,
        pause: timedelta,
    ) -> None:
        time_zone, received = start
        cal = calendar(time_zone)
        due_at = cal.add(received, duration)
        paused_at = received + pause_after
        resumed_at = paused_at + pause
        left_at_pause = cal.elapsed(paused_at, due_at)
        if left_at_pause > timedelta(0) and cal.elapsed(paused_at, resumed_at) > timedelta(0):
            new_due = extend_for_pause(
                business_rule(duration), due_at, paused_at, resumed_at, time_zone=time_zone
            )
            assert new_due == cal.add(resumed_at, left_at_pause)

    @PROPERTY_SETTINGS
    @given(
        zone_and_instant(),
        positive_durations,
        st.sampled_from([CalendarKind.business, CalendarKind.clock]),
    )
    def test_nothing_remains_when_now_is_due_at(
        self, start: tuple[str, datetime], duration: timedelta, kind: CalendarKind
    ) -> None:
        time_zone, received = start
        rule = DeadlineRule("test", duration, kind, "test")
        due_at = compute_due(rule, received, time_zone=time_zone)
        assert remaining(rule, due_at, due_at, time_zone=time_zone) == timedelta(0)
        assert remaining(rule, received, due_at, time_zone=time_zone) == duration
