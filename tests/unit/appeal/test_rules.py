"""Appeal rules: the windows (calendar and business days, time zones, holidays, pauses)
as properties, the outcome moves, the payer's ladder as configuration, and the denial
reasons mapped to the intake checks that would have prevented them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.appeal import rules
from careloop.appeal.rules import (
    AppealRules,
    AppealStatus,
    DayKind,
    LevelKind,
    LevelStatus,
    Outcome,
    Window,
)
from careloop.payer.rules import CHECKABLE_DENIALS, PayerRules
from careloop.prior_auth.rules import DenialReason
from careloop.referral import rules as referral_rules
from careloop.referral.schemas import ReferralCreate
from careloop.sla import BusinessHours, business_calendar
from tests.factories.referral import referral_payload

ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu")
PROPS = settings(max_examples=50, deadline=None)
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


def _is_business_day(day: object, hours: BusinessHours) -> bool:
    found = holidays.country_holidays("US", subdiv=hours.holiday_subdivision, years=day.year)  # type: ignore[attr-defined]
    return day.weekday() < 5 and day not in found  # type: ignore[attr-defined]


class TestCalendarWindows:
    @PROPS
    @given(instants, zones, st.integers(1, 120))
    def test_ends_at_the_last_second_of_the_local_day_n_days_later(
        self, start: datetime, zone: str, days: int
    ) -> None:
        due = rules.window_due(Window(days, DayKind.calendar, "t"), start, time_zone=zone)
        local = due.astimezone(ZoneInfo(zone))
        assert local.date() == start.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
        assert local.time() == time(23, 59, 59)
        assert due.utcoffset() == timedelta(0)
        assert due > start

    @PROPS
    @given(instants, zones, st.integers(1, 60), st.sampled_from(["NY", "CA", None]))
    def test_rolled_window_never_ends_on_a_weekend_or_holiday(
        self, start: datetime, zone: str, days: int, state: str | None
    ) -> None:
        hours = BusinessHours(holiday_subdivision=state)
        window = Window(days, DayKind.calendar, "t", roll_to_business_day=True)
        due = rules.window_due(window, start, time_zone=zone, hours=hours)
        last = due.astimezone(ZoneInfo(zone)).date()
        plain = start.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
        assert last >= plain
        assert _is_business_day(last, hours)
        # Every day skipped was a weekend or a holiday.
        day = plain
        while day < last:
            assert not _is_business_day(day, hours)
            day += timedelta(days=1)

    @PROPS
    @given(instants, instants, zones, st.integers(1, 90))
    def test_later_start_never_ends_earlier(
        self, a: datetime, b: datetime, zone: str, days: int
    ) -> None:
        window = Window(days, DayKind.calendar, "t")
        first, second = sorted((a, b))
        assert rules.window_due(window, first, time_zone=zone) <= rules.window_due(
            window, second, time_zone=zone
        )


class TestBusinessWindows:
    @PROPS
    @given(instants, zones, st.integers(1, 15), st.sampled_from(["NY", "TX", None]))
    def test_counts_exactly_n_opening_days_on_business_days(
        self, start: datetime, zone: str, days: int, state: str | None
    ) -> None:
        hours = BusinessHours(holiday_subdivision=state)
        due = rules.window_due(
            Window(days, DayKind.business, "t"), start, time_zone=zone, hours=hours
        )
        calendar = business_calendar(hours, zone)
        assert calendar.elapsed(start, due) == days * hours.business_day_length
        local = due.astimezone(ZoneInfo(zone))
        assert _is_business_day(local.date(), hours)
        assert hours.opens < local.time() <= hours.closes

    def test_friday_evening_plus_one_business_day_skips_a_monday_holiday(self) -> None:
        # Friday 2027-01-15 19:00 in New York; Monday the 18th is Martin Luther King Day.
        start = datetime(2027, 1, 15, 19, tzinfo=ZoneInfo("America/New_York"))
        due = rules.window_due(
            Window(1, DayKind.business, "t"), start, time_zone="America/New_York"
        )
        assert due.astimezone(ZoneInfo("America/New_York")) == datetime(
            2027, 1, 19, 18, tzinfo=ZoneInfo("America/New_York")
        )


class TestPauses:
    @PROPS
    @given(
        instants,
        zones,
        st.integers(1, 30),
        st.sampled_from(list(DayKind)),
        st.timedeltas(timedelta(0), timedelta(days=20)),
        st.timedeltas(timedelta(0), timedelta(days=20)),
    )
    def test_a_pause_moves_the_end_by_the_window_time_it_took(
        self,
        start: datetime,
        zone: str,
        days: int,
        kind: DayKind,
        before: timedelta,
        length: timedelta,
    ) -> None:
        window = Window(days, kind, "t")
        due = rules.window_due(window, start, time_zone=zone)
        paused, resumed = start + before, start + before + length
        moved = rules.resumed_due(window, due, paused, resumed, time_zone=zone)
        assert moved >= due
        if kind is DayKind.calendar:
            assert moved - due == length
        else:
            calendar = business_calendar(BusinessHours(), zone)
            assert calendar.elapsed(due, moved) == calendar.elapsed(paused, resumed)


class TestMoves:
    LADDER = rules.DEFAULT_LEVELS

    def test_overturned_ends_the_appeal_at_any_level(self) -> None:
        for position in (1, 2, 3):
            move = rules.outcome_move(
                Outcome.overturned, position=position, levels=self.LADDER, pauses=False
            )
            assert (move.level_status, move.appeal_status, move.next_position) == (
                LevelStatus.overturned,
                AppealStatus.overturned,
                None,
            )

    def test_upheld_opens_the_next_level_then_closes_at_the_last(self) -> None:
        first = rules.outcome_move(Outcome.upheld, position=1, levels=self.LADDER, pauses=False)
        assert (first.appeal_status, first.next_position) == (AppealStatus.open, 2)
        last = rules.outcome_move(Outcome.upheld, position=3, levels=self.LADDER, pauses=False)
        assert last.appeal_status is AppealStatus.closed
        assert last.close_reason == (
            "Denial upheld at the external review, the last level the payer offers."
        )

    def test_information_requested_pauses_only_where_the_rules_say(self) -> None:
        with pytest.raises(ValueError, match="does not pause"):
            rules.outcome_move(
                Outcome.information_requested, position=1, levels=self.LADDER, pauses=False
            )
        move = rules.outcome_move(
            Outcome.information_requested, position=1, levels=self.LADDER, pauses=True
        )
        assert move.level_status is LevelStatus.information_requested


class TestConfiguration:
    def test_defaults_are_domain_figures(self) -> None:
        ladder = AppealRules.from_config(None)
        assert [level.kind for level in ladder.levels] == [
            LevelKind.first_level,
            LevelKind.second_level,
            LevelKind.external_review,
        ]
        assert ladder.appeal_window == Window(30, DayKind.calendar, rules._DOMAIN_WINDOW)
        assert ladder.levels[2].filing.days == 120

    def test_a_payer_lists_its_own_levels_and_window(self) -> None:
        ladder = AppealRules.from_config(
            {
                "appeal_window_days": 45,
                "holiday_subdivision": "NY",
                "levels": [
                    {"kind": "peer_to_peer"},
                    {
                        "kind": "first_level",
                        "filing": "60 calendar days",
                        "decision": "10 business days",
                        "pause_for_information": True,
                        "roll": True,
                    },
                ],
            }
        )
        assert ladder.appeal_window.days == 45
        assert ladder.levels[0].decision == Window(2, DayKind.business, rules._PROJECT)
        assert ladder.levels[1].decision.kind is DayKind.business
        assert ladder.levels[1].pause_for_information
        assert ladder.levels[1].filing.roll_to_business_day
        assert ladder.hours.holiday_subdivision == "NY"

    @pytest.mark.parametrize(
        ("config", "named"),
        [
            ({"levels": []}, "appeal.levels"),
            ({"levels": [{"kind": "tertiary"}]}, "appeal.levels.0.kind"),
            ({"levels": [{"kind": "first_level", "filing": "a month"}]}, "appeal.levels.0.filing"),
            ({"levels": [{"kind": "first_level"}, {"kind": "first_level"}]}, "at most once"),
            ({"appeal_window_days": 0}, "appeal.appeal_window_days"),
            ({"holiday_subdivision": "New York"}, "appeal.holiday_subdivision"),
            ({"appeals": 1}, "unknown setting"),
        ],
    )
    def test_bad_settings_are_named(self, config: dict[str, object], named: str) -> None:
        with pytest.raises(ValueError, match=named.replace(".", r"\.")):
            AppealRules.from_config(config)

    def test_the_payer_rules_carry_the_appeal_group(self) -> None:
        payer = PayerRules.from_config({"appeal": {"appeal_window_days": 40}})
        assert AppealRules.from_config(payer.appeal).appeal_window.days == 40


class TestDenialsAtTheSource:
    def test_every_denial_reason_is_mapped(self) -> None:
        assert set(rules.PREVENTING_CHECK) == set(DenialReason)
        assert set(rules.DENIAL_LABELS) == set(DenialReason)

    def test_each_check_named_is_one_the_intake_checklist_raises(self) -> None:
        source = Path(referral_rules.__file__).read_text(encoding="utf-8")
        for check in filter(None, rules.PREVENTING_CHECK.values()):
            assert f'"{check}"' in source, check

    def test_checks_a_payer_may_turn_on_have_a_preventing_check(self) -> None:
        for reason in CHECKABLE_DENIALS:
            assert rules.preventing_check(DenialReason(reason)) is not None

    def test_frequent_denials_name_the_check_to_turn_on(self) -> None:
        seen = [DenialReason.not_medically_necessary] * 4 + [DenialReason.not_covered] * 3
        seen += [DenialReason.missing_information]
        assert rules.frequent_denials(seen) == [
            (DenialReason.not_medically_necessary, 4, "medical_necessity_undocumented"),
            (DenialReason.not_covered, 3, None),
        ]

    def test_a_payer_turns_a_frequent_denial_into_an_intake_finding(self) -> None:
        now = datetime(2026, 11, 24, 15, tzinfo=UTC)
        payload = referral_payload(now)
        payload.pop("notes", None)
        draft = ReferralCreate.model_validate(payload, strict=False)

        def codes(config: dict[str, object]) -> set[str]:
            facts = referral_rules.PayerFacts(
                named=True, found=True, name="NEHP", rules=PayerRules.from_config(config)
            )
            # The one check a payer's denials turn on (the whole checklist loads the code
            # sets, which other tests pay for).
            return {f.code for f in referral_rules._check_frequent_denials(draft, facts)}

        assert "medical_necessity_undocumented" not in codes({})
        turned_on = {"intake": {"denials_checked": ["not_medically_necessary"]}}
        assert "medical_necessity_undocumented" in codes(turned_on)
        with pytest.raises(ValueError, match=r"intake\.denials_checked"):
            PayerRules.from_config({"intake": {"denials_checked": ["out_of_network"]}})
