"""Escalation rules: who owns it, when the ETA is due, kept or missed, what a good
request is (DOMAIN.md §4 ladder, §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.escalation import rules
from careloop.escalation.rules import Candidate, EscalationPolicy, Promise
from careloop.report.rules import kept_promise_rate

NY = "America/New_York"
#: Tuesday 24 November 2026, 09:00 in New York.
TUESDAY_9 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


class TestSupervisor:
    def test_least_loaded_then_lowest_id(self) -> None:
        people = [
            Candidate(3, "c@x.test", 2),
            Candidate(1, "a@x.test", 1),
            Candidate(2, "b@x.test", 1),
        ]
        picked = rules.pick_supervisor(people, team="intake", payer_code=None)
        assert picked is not None and picked.user_id == 1

    def test_a_pool_per_team_and_payer_beats_the_team_pool(self) -> None:
        policy = EscalationPolicy(
            supervisors=MappingProxyType(
                {("intake", "7"): ("C@x.test",), ("intake", None): ("a@x.test",)}
            )
        )
        people = [Candidate(1, "a@x.test", 0), Candidate(3, "c@x.test", 9)]
        assert (
            rules.pick_supervisor(people, team="intake", payer_code="7", policy=policy) == people[1]
        )
        assert (
            rules.pick_supervisor(people, team="intake", payer_code="8", policy=policy) == people[0]
        )
        assert rules.pick_supervisor([], team="intake", payer_code=None) is None

    @given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=20))
    def test_nobody_picked_holds_more_than_anyone_else(self, loads: list[int]) -> None:
        people = [Candidate(i + 1, f"{i}@x.test", n) for i, n in enumerate(loads)]
        picked = rules.pick_supervisor(people, team="case_management", payer_code=None)
        assert picked is not None and picked.open_escalations == min(loads)


class TestWindows:
    def test_one_business_hour_on_a_tuesday_morning(self) -> None:
        assert rules.commit_due(TUESDAY_9, time_zone=NY) == TUESDAY_9 + timedelta(hours=1)

    def test_after_hours_the_hour_starts_next_morning(self) -> None:
        friday_evening = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)  # 18:30 in New York
        # Monday 30 November 08:00 New York + 1 h.
        assert rules.commit_due(friday_evening, time_zone=NY) == datetime(
            2026, 11, 30, 14, 0, tzinfo=UTC
        )

    def test_the_ladder_climbs_after_four_business_hours(self) -> None:
        assert rules.climb_due(TUESDAY_9, time_zone=NY) == TUESDAY_9 + timedelta(hours=4)

    def test_kept_on_the_minute_missed_after(self) -> None:
        assert rules.promise_of(TUESDAY_9, TUESDAY_9) is Promise.kept
        assert rules.promise_of(TUESDAY_9, TUESDAY_9 + timedelta(seconds=1)) is Promise.missed


class TestRequests:
    @pytest.mark.parametrize(
        "address", ["sam@example.org", "a.b+c@mail.example.co.uk", "jo@xn--bcher-kva.example"]
    )
    def test_addresses_people_type(self, address: str) -> None:
        assert rules.is_email(address)

    @pytest.mark.parametrize(
        "address",
        ["sam at home", "sam@", "@example.org", "sam@example", "Sam <sam@example.org>", ""],
    )
    def test_not_addresses(self, address: str) -> None:
        assert not rules.is_email(address)

    def test_an_eta_must_be_future_and_zoned(self) -> None:
        assert rules.eta_problems(TUESDAY_9 + timedelta(minutes=1), now=TUESDAY_9) == []
        (past,) = rules.eta_problems(TUESDAY_9, now=TUESDAY_9)
        assert past.field == "eta" and "future" in past.message
        (naive,) = rules.eta_problems(datetime(2026, 11, 25, 9, 0), now=TUESDAY_9)
        assert naive.field == "eta"

    def test_who_asked_must_be_reachable(self) -> None:
        assert rules.requester_problems(name="Sam", email=None, phone="555-0100") == []
        fields = [p.field for p in rules.requester_problems(name=" ", email=None, phone=None)]
        assert fields == ["requested_by.name", "requested_by.email"]


class TestWords:
    def test_times_in_the_members_zone_in_plain_words(self) -> None:
        assert rules.in_words(TUESDAY_9, NY) == "Tuesday 24 November 2026 at 09:00 (New York time)"
        assert rules.short_when(TUESDAY_9, NY) == "Tue 24 Nov, 09:00"

    def test_contact_prefers_the_direct_line(self) -> None:
        assert rules.supervisor_contact("1-860-555-0177", "4499") == "1-860-555-0177"
        assert rules.supervisor_contact(None, "4499") == "extension 4499"
        assert rules.supervisor_contact(None, None) is None


class TestKeptRate:
    def test_counts_only_decided_promises(self) -> None:
        assert kept_promise_rate(0, 0).value is None
        assert kept_promise_rate(3, 1).value == 0.75

    @given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
    def test_between_zero_and_one(self, kept: int, missed: int) -> None:
        rate = kept_promise_rate(kept, missed)
        assert rate.value is None or 0 <= rate.value <= 1

    def test_refuses_negative_counts(self) -> None:
        with pytest.raises(ValueError):
            kept_promise_rate(-1, 2)
