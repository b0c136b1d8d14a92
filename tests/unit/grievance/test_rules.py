"""Grievance rules: acknowledgement and resolution windows per line of business and state
(calendar and business days, hours, time zones, holidays, pauses) as properties, the
configuration, and the regulators' table."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.grievance import rules
from careloop.grievance.rules import (
    Attempt,
    DayKind,
    GrievanceRules,
    LineOfBusiness,
    Regulator,
    Subject,
    Window,
)
from careloop.sla import BusinessHours, business_calendar

ZONES = ("America/New_York", "America/Denver", "America/Los_Angeles", "America/Anchorage")
PROPS = settings(max_examples=50, deadline=None)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)


class TestWindows:
    @PROPS
    @given(instants, st.sampled_from(ZONES), st.integers(1, 120))
    def test_calendar_days_end_with_the_local_day(
        self, start: datetime, zone: str, days: int
    ) -> None:
        due = rules.window_due(Window(days, DayKind.calendar, "t"), start, time_zone=zone)
        local = due.astimezone(ZoneInfo(zone))
        assert local.date() - start.astimezone(ZoneInfo(zone)).date() == timedelta(days=days)
        assert local.time() == time(23, 59, 59)

    @PROPS
    @given(instants, st.sampled_from(ZONES), st.integers(1, 10), st.sampled_from(["CA", None]))
    def test_business_days_count_opening_hours_less_holidays(
        self, start: datetime, zone: str, days: int, state: str | None
    ) -> None:
        hours = BusinessHours(holiday_subdivision=state)
        due = rules.window_due(
            Window(days, DayKind.business, "t"), start, time_zone=zone, hours=hours
        )
        assert business_calendar(hours, zone).elapsed(start, due) == days * timedelta(hours=10)

    @PROPS
    @given(instants, st.sampled_from(ZONES), st.integers(1, 72))
    def test_hours_run_around_the_clock_across_time_changes(
        self, start: datetime, zone: str, amount: int
    ) -> None:
        due = rules.window_due(Window(amount, DayKind.hours, "t"), start, time_zone=zone)
        assert due - start == timedelta(hours=amount)

    @PROPS
    @given(
        instants,
        st.sampled_from(ZONES),
        st.sampled_from(list(DayKind)),
        st.timedeltas(timedelta(0), timedelta(days=10)),
        st.timedeltas(timedelta(0), timedelta(days=10)),
    )
    def test_a_pause_is_given_back_on_the_window_calendar(
        self, start: datetime, zone: str, kind: DayKind, before: timedelta, length: timedelta
    ) -> None:
        window = Window(5, kind, "t")
        due = rules.window_due(window, start, time_zone=zone)
        moved = rules.resumed_due(
            window, due, start + before, start + before + length, time_zone=zone
        )
        if kind is DayKind.business:
            calendar = business_calendar(BusinessHours(), zone)
            assert calendar.elapsed(due, moved) == calendar.elapsed(
                start + before, start + before + length
            )
        else:
            assert moved - due == length


class TestConfiguration:
    def test_defaults_per_line_of_business(self) -> None:
        default = GrievanceRules.from_config(None)
        assert default.acknowledge == Window(
            5, DayKind.calendar, "project default: DOMAIN.md gives no figure"
        )
        medicaid = GrievanceRules.from_config({"line_of_business": "medicaid_managed_care"})
        assert (medicaid.resolve.amount, medicaid.resolve.source) == (90, "42 CFR 438.408(b)(1)")
        medicare = GrievanceRules.from_config({"line_of_business": "medicare_advantage"})
        assert medicare.resolve.amount == 30
        expedited = rules.resolve_window(medicare, expedited=True)
        assert (expedited.amount, expedited.kind) == (24, DayKind.hours)

    def test_a_state_overrides_the_payer(self) -> None:
        payer = GrievanceRules.from_config(
            {
                "line_of_business": "medicaid_managed_care",
                "acknowledge": "2 business days",
                "states": {"NY": {"resolve": "45 calendar days"}},
            }
        )
        ny = payer.for_state("ny")
        assert (ny.resolve.amount, ny.acknowledge.kind) == (45, DayKind.business)
        assert ny.hours.holiday_subdivision == "NY"
        assert payer.for_state("CT") is payer
        assert ny.line_of_business is LineOfBusiness.medicaid_managed_care

    @pytest.mark.parametrize(
        ("config", "named"),
        [
            ({"line_of_business": "hmo"}, "grievance.line_of_business"),
            ({"resolve": "a month"}, "grievance.resolve"),
            ({"acknowledge": "0 calendar days"}, "grievance.acknowledge"),
            ({"states": {"New York": {}}}, "grievance.states"),
            ({"states": {"NY": {"line_of_business": "x"}}}, "grievance.states.NY"),
            ({"states": {"NY": {"resolve": "soon"}}}, "grievance.states.NY.resolve"),
            ({"pause_for_complainant": "yes"}, "grievance.pause_for_complainant"),
            ({"windows": 1}, "unknown setting"),
        ],
    )
    def test_bad_settings_are_named(self, config: dict[str, object], named: str) -> None:
        with pytest.raises(ValueError, match=named.replace(".", r"\.")):
            GrievanceRules.from_config(config)


class TestRegulatoryEscalation:
    def test_the_shipped_table_is_marked_illustrative(self) -> None:
        text = resources.files("careloop.grievance").joinpath("data/regulators.csv").read_text()
        contacts = rules.read_contacts(text)
        assert len({state for state, _ in contacts}) >= 5
        assert (("NY", Regulator.medicaid_ombudsman)) in contacts
        for contact in contacts.values():
            assert contact.web.startswith("https://")
            assert contact.verified or "illustrative" in contact.name

    def test_internal_routes_come_first(self) -> None:
        at = datetime(2026, 11, 24, tzinfo=UTC)
        assert rules.escalation_problems([Attempt(at, "contact", "called")]) is not None
        assert rules.escalation_problems([Attempt(at, "escalation", "to a supervisor")]) is None

    def test_attempts_are_listed_in_time_order(self) -> None:
        at = datetime(2026, 11, 24, tzinfo=UTC)
        later = Attempt(at + timedelta(hours=1), "contact", "b")
        first = Attempt(at, "grievance", "a")
        assert rules.attempts_in_order([later, first]) == [first, later]

    def test_a_complaint_about_a_provider_names_it(self) -> None:
        assert rules.problems(Subject.provider_quality, None)[0][0] == "provider_id"
        assert rules.problems(Subject.provider_quality, 7) == []
        assert rules.problems(Subject.coordination, None) == []
