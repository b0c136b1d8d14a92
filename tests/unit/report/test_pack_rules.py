"""The pure parts of the KPI pack and the reports: a timeline folded into a case's
facts (appeals, first offers, decision times), the pack's sums and formulas, periods,
and when each scheduled report falls due in the organisation's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from careloop.report import rules
from careloop.report.fold import EventFact, fold

NY = ZoneInfo("America/New_York")
T = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _events(
    *steps: tuple[float, str, dict[str, object]], provider: int | None = None
) -> list[EventFact]:
    return [
        EventFact(i + 1, T + timedelta(hours=h), kind, "fax" if i == 0 else None, provider, data)
        for i, (h, kind, data) in enumerate(steps)
    ]


RECEIVED = (
    0,
    "referral.received",
    {
        "status": "received",
        "service_class": "complex_dme",
        "ack_due_at": (T + timedelta(days=1)).isoformat(),
        "service_due_at": (T + timedelta(days=3)).isoformat(),
    },
)


def test_a_denial_appealed_and_overturned_counts_once_as_denied_and_once_as_overturned() -> None:
    facts = fold(
        7,
        _events(
            RECEIVED,
            (1, "authorization.requested", {"authorization_id": 3, "priority": "expedited"}),
            (
                25,
                "authorization.denied",
                {"authorization_id": 3, "reason": "missing_information", "to": "denied"},
            ),
            (30, "authorization.appealed", {"authorization_id": 3, "to": "authorization_pending"}),
            (90, "authorization.approved", {"authorization_id": 3, "to": "authorized"}),
        ),
    )
    assert (facts.auth_denied, facts.auth_approved, facts.auth_overturned, facts.auth_upheld) == (
        1,
        0,
        1,
        0,
    )
    # Only the first decision counts for the decision time (24 h, expedited).
    assert (facts.auth_expedited_n, facts.auth_expedited_seconds) == (1, 24 * 3600)
    assert facts.denial_reason == "missing_information"
    assert facts.status == "authorized" and facts.is_open
    assert facts.service_line == "dme" and facts.channel == "fax"


def test_first_offer_declined_then_accepted_and_a_late_start() -> None:
    facts = fold(
        1,
        _events(
            RECEIVED,
            (2, "referral.acknowledged", {"to": "acknowledged"}),
            (3, "offer.made", {}),
            (4, "offer.declined", {}),
            (5, "offer.made", {}),
            (6, "offer.accepted", {"to": "accepted"}),
            (80, "service.started_late", {"at": (T + timedelta(hours=80)).isoformat()}),
            (400, "referral.closed", {"to": "closed"}),
        ),
    )
    assert (facts.offers_made, facts.offers_accepted, facts.first_offer_accepted) == (2, 1, False)
    assert facts.started_on_time is False and facts.ack_within_24h
    assert not facts.is_open and facts.next_due_at is None
    counters = rules.counters_of([facts], T + timedelta(days=30))
    assert counters.first_offers == 1 and counters.first_offers_accepted == 0
    assert rules.KPI_BY_KEY["on_time"].value(rules.Figures(counters)) == 0.0
    assert rules.KPI_BY_KEY["time_to_start"].value(rules.Figures(counters)) == pytest.approx(80.0)


def test_an_open_case_waits_on_its_earliest_pending_deadline_and_breaches_when_past() -> None:
    facts = fold(2, _events(RECEIVED))
    assert facts.next_due_at == T + timedelta(days=1)
    early = rules.counters_of([facts], T + timedelta(hours=2))
    late = rules.counters_of([facts], T + timedelta(days=4))
    # Not yet decided while its 24 hours and its due time run; counted as missed after.
    assert (early.ack_decided, early.on_time_decided) == (0, 0)
    assert (late.ack_decided, late.ack_hits, late.on_time_decided, late.on_time_hits) == (
        1,
        0,
        1,
        0,
    )


def test_clarification_rate_meets_its_target_only_below_eight_percent() -> None:
    kpi = rules.KPI_BY_KEY["clarification"]
    assert rules.meets_target(kpi, 0.07) is True
    assert rules.meets_target(kpi, 0.18) is False
    assert rules.meets_target(rules.KPI_BY_KEY["on_time"], 0.96) is True
    assert rules.meets_target(rules.KPI_BY_KEY["acceptance"], 0.5) is None
    assert all(k.source.startswith("DOMAIN.md") for k in rules.KPIS)


def test_periods_are_mondays_or_first_days() -> None:
    assert rules.periods("week", date(2026, 11, 4), date(2026, 11, 18)) == [
        date(2026, 11, 2),
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]
    assert rules.periods("month", date(2026, 11, 30), date(2027, 1, 2)) == [
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
    ]
    assert rules.period_end("month", date(2026, 12, 1)) == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("now", "report", "due", "period"),
    [
        # 05:59 New York on Tuesday: the daily run is still yesterday's 06:00.
        (
            datetime(2026, 11, 24, 10, 59, tzinfo=UTC),
            "daily-import",
            datetime(2026, 11, 23, 6, 0, tzinfo=NY),
            (date(2026, 11, 22), date(2026, 11, 23)),
        ),
        (
            datetime(2026, 11, 24, 11, 0, tzinfo=UTC),
            "daily-import",
            datetime(2026, 11, 24, 6, 0, tzinfo=NY),
            (date(2026, 11, 23), date(2026, 11, 24)),
        ),
        (
            datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
            "open-referrals",
            datetime(2026, 11, 23, 6, 0, tzinfo=NY),
            (date(2026, 11, 16), date(2026, 11, 23)),
        ),
        (
            datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
            "denial-audit",
            datetime(2026, 12, 1, 6, 0, tzinfo=NY),
            (date(2026, 11, 1), date(2026, 12, 1)),
        ),
    ],
)
def test_schedules_fall_due_at_six_in_the_organisations_zone(
    now: datetime, report: str, due: datetime, period: tuple[date, date]
) -> None:
    schedule = next(s for s in rules.SCHEDULES if s.report == report)
    assert rules.last_due(schedule, now, NY) == due
    assert rules.scheduled_period(schedule, due, NY) == period


def test_a_finding_reads_as_a_phrase_with_its_acronyms_in_capitals() -> None:
    assert rules.finding_words("member_phone_missing") == "Member phone missing"
    assert rules.finding_words("ordering_npi_invalid") == "Ordering NPI invalid"
    assert rules.finding_words("member_id_missing") == "Member ID missing"
