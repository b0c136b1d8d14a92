"""The pack's newer figures, pure: median and 90th percentile (PostgreSQL's
percentile_cont), timely-filing misses and complaints about the provider's care folded
from a timeline, and each formula with its DOMAIN.md source."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.report import kpis, rules
from careloop.report.fold import EventFact, fold

T = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _events(*steps: tuple[float, str, dict[str, object]]) -> list[EventFact]:
    return [
        EventFact(i + 1, T + timedelta(hours=h), kind, "portal" if i == 0 else None, None, data)
        for i, (h, kind, data) in enumerate(steps)
    ]


RECEIVED = (0, "referral.received", {"status": "received", "service_class": "standard_dme"})


def test_the_median_and_ninetieth_percentile_interpolate_between_ranks() -> None:
    assert kpis.percentile([], 0.5) is None
    assert kpis.percentile([7.0], 0.9) == 7.0
    assert kpis.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    # 10 values: the 90th percentile lies 0.1 of the way from the 9th to the 10th.
    assert kpis.percentile([float(v) for v in range(1, 11)], 0.9) == pytest.approx(9.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        kpis.percentile([1.0], 1.5)


@given(st.lists(st.floats(0, 1e7, allow_nan=False), min_size=2, max_size=60))
def test_percentiles_are_the_inclusive_quantiles_and_ordered(values: list[float]) -> None:
    ordered = sorted(values)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive")
    assert kpis.percentile(ordered, 0.5) == pytest.approx(statistics.median(ordered))
    assert kpis.percentile(ordered, 0.9) == pytest.approx(deciles[8], rel=1e-9, abs=1e-6)
    p50, p90 = kpis.percentile(ordered, 0.5), kpis.percentile(ordered, 0.9)
    assert p50 is not None and p90 is not None
    assert ordered[0] <= p50 <= p90 <= ordered[-1]


def test_a_groups_spread_is_read_in_hours() -> None:
    facts = [
        fold(1, _events(RECEIVED, (2, "referral.acknowledged", {"to": "acknowledged"}))),
        fold(2, _events(RECEIVED, (4, "referral.acknowledged", {"to": "acknowledged"}))),
        fold(3, _events(RECEIVED, (30, "referral.acknowledged", {"to": "acknowledged"}))),
        fold(4, _events(RECEIVED)),  # not acknowledged: not in the spread
    ]
    figures = rules.figures_of(facts, T + timedelta(days=3))
    median = rules.KPI_BY_KEY["time_to_ack_median"]
    p90 = rules.KPI_BY_KEY["time_to_ack_p90"]
    assert median.value(figures) == pytest.approx(4.0)
    assert p90.value(figures) == pytest.approx(4 + 0.8 * 26)
    assert median.counted(figures) == 3
    assert rules.meets_target(median, 4.0) is True
    assert rules.meets_target(p90, 24.8) is False  # the 24 h of DOMAIN.md §4
    assert rules.KPI_BY_KEY["time_to_start_median"].value(figures) is None


def test_a_breached_filing_window_and_a_founded_complaint_count_on_the_case() -> None:
    facts = fold(
        5,
        _events(
            RECEIVED,
            (100, "claim.prepared", {"claim_number": "CL-2026-000005-1"}),
            (120, "claim.prepared", {"claim_number": "CL-2026-000005-2"}),
            (880, "referral.escalated", {"reason": "claim filing window about to close"}),
            (900, "claim.filing_window_missed", {"claim_number": "CL-2026-000005-1"}),
            (901, "referral.escalated", {"reason": "The case was not acknowledged in time."}),
            (50, "grievance.opened", {"grievance_id": 8, "subject": "provider_quality"}),
            (51, "grievance.opened", {"grievance_id": 9, "subject": "coordination"}),
            (60, "grievance.resolved", {"grievance_id": 8, "resolution": "substantiated"}),
            (61, "grievance.resolved", {"grievance_id": 9, "resolution": "substantiated"}),
        ),
    )
    assert (facts.claims, facts.filing_missed) == (2, 1)
    assert (facts.grievances, facts.grievances_substantiated) == (1, 1)
    figures = rules.figures_of([facts], T + timedelta(days=60))
    assert rules.KPI_BY_KEY["filing_missed"].value(figures) == 1.0
    assert rules.KPI_BY_KEY["filing_miss_rate"].value(figures) == 0.5
    assert rules.KPI_BY_KEY["grievances"].value(figures) == 1.0
    assert rules.KPI_BY_KEY["grievances_substantiated"].value(figures) == 1.0


def test_the_scorecard_shows_complaints_and_every_figure_names_its_source() -> None:
    assert {"grievances", "grievances_substantiated"} <= set(rules.SCORECARD_KPIS)
    assert set(rules.SCORECARD_KPIS) <= set(rules.KPI_BY_KEY)
    assert all(k.source.startswith("DOMAIN.md") for k in rules.KPIS)
    assert len({k.key for k in rules.KPIS}) == len(rules.KPIS)
    assert len({k.title for k in rules.KPIS}) == len(rules.KPIS)
