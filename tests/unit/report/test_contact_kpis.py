"""The contact KPIs of DOMAIN.md §8: first-contact resolution and average handling time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from careloop.report import rules
from careloop.report.rules import ContactFact

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def contact(
    at: datetime,
    *,
    case: int | None = 1,
    reason: str = "status_check",
    inbound: bool = True,
    resolved: bool = True,
    team: str = "case_management",
    minutes: float = 6,
) -> ContactFact:
    return ContactFact(case, inbound, reason, resolved, team, at, at + timedelta(minutes=minutes))


class TestFirstContactResolution:
    def test_resolved_with_no_repeat_after_seven_days_counts(self) -> None:
        rate = rules.first_contact_resolution([contact(NOW - 8 * DAY)], NOW)
        assert (rate.hits, rate.counted) == (1, 1)

    def test_not_decided_while_the_window_runs(self) -> None:
        rate = rules.first_contact_resolution([contact(NOW - 2 * DAY)], NOW)
        assert rate.counted == 0
        assert rate.value is None

    def test_a_repeat_on_the_same_case_and_topic_within_seven_days_is_a_miss(self) -> None:
        first, repeat = contact(NOW - 20 * DAY), contact(NOW - 15 * DAY)
        rate = rules.first_contact_resolution([first, repeat], NOW)
        assert (rate.hits, rate.counted) == (1, 2)  # the repeat itself was resolved

    def test_a_repeat_on_another_topic_or_case_or_later_is_not_one(self) -> None:
        first = contact(NOW - 20 * DAY)
        others = [
            contact(NOW - 19 * DAY, reason="scheduling"),
            contact(NOW - 19 * DAY, case=2),
            contact(NOW - 12 * DAY),
            contact(NOW - 19 * DAY, inbound=False),
        ]
        rate = rules.first_contact_resolution([first, *others], NOW)
        assert (rate.hits, rate.counted) == (4, 4)

    def test_a_follow_up_is_a_miss_at_once(self) -> None:
        rate = rules.first_contact_resolution([contact(NOW - DAY, resolved=False)], NOW)
        assert (rate.hits, rate.counted) == (0, 1)

    def test_outbound_contacts_are_not_counted(self) -> None:
        rate = rules.first_contact_resolution([contact(NOW - 9 * DAY, inbound=False)], NOW)
        assert rate.counted == 0

    def test_since_limits_the_counted_contacts_not_the_repeats(self) -> None:
        rows = [contact(NOW - 30 * DAY), contact(NOW - 25 * DAY)]
        rate = rules.first_contact_resolution(rows, NOW, since=NOW - 28 * DAY)
        assert (rate.hits, rate.counted) == (1, 1)

    @given(
        st.lists(
            st.builds(
                contact,
                st.integers(min_value=0, max_value=60 * 24 * 40).map(
                    lambda m: NOW - timedelta(minutes=m)
                ),
                case=st.sampled_from([None, 1, 2]),
                reason=st.sampled_from(["status_check", "scheduling"]),
                inbound=st.booleans(),
                resolved=st.booleans(),
            ),
            max_size=30,
        )
    )
    def test_a_share_of_the_decided_inbound_contacts(self, rows: list[ContactFact]) -> None:
        rate = rules.first_contact_resolution(rows, NOW)
        assert 0 <= rate.hits <= rate.counted <= sum(c.inbound for c in rows)
        # A further unresolved contact can only lower the share, never raise it.
        worse = rules.first_contact_resolution([*rows, contact(NOW, resolved=False)], NOW)
        if rate.value is not None and worse.value is not None:
            assert worse.value <= rate.value


class TestAverageHandlingTime:
    def test_mean_by_queue_and_overall(self) -> None:
        rows = [
            contact(NOW, minutes=4, team="intake"),
            contact(NOW, minutes=8, team="intake"),
            contact(NOW, minutes=12),
        ]
        aht = rules.average_handling_time(rows)
        assert aht["intake"].mean == timedelta(minutes=6)
        assert aht["case_management"].mean == timedelta(minutes=12)
        assert (aht[""].mean, aht[""].count) == (timedelta(minutes=8), 3)

    def test_nothing_when_there_were_no_contacts(self) -> None:
        assert rules.average_handling_time([]) == {}

    @given(st.lists(st.integers(min_value=0, max_value=600), min_size=1, max_size=40))
    def test_the_mean_lies_between_the_shortest_and_the_longest(self, minutes: list[int]) -> None:
        mean = rules.average_handling_time([contact(NOW, minutes=m) for m in minutes])[""].mean
        assert mean is not None
        assert timedelta(minutes=min(minutes)) <= mean <= timedelta(minutes=max(minutes))

    def test_words(self) -> None:
        assert rules.duration_words(timedelta(minutes=6, seconds=30)) == "6 min 30 s"
        assert rules.duration_words(timedelta(seconds=40)) == "40 s"
        assert rules.duration_words(timedelta(minutes=65)) == "1 h 05 min"
