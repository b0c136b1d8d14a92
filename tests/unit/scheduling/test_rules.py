"""Scheduling rules: windows, deadlines, outcomes and the period of recurring supplies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from careloop.scheduling import rules
from careloop.scheduling.rules import MissedReason, Outcome

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "days"),
    [
        ("weekly", 7),
        ("Dressings weekly", 7),
        ("every 2 weeks", 14),
        ("3 per week", 7),
        ("1 box a month", 30),
        ("monthly", 30),
        ("daily", 1),
        ("once", None),
        ("", None),
        (None, None),
    ],
)
def test_resupply_period_from_the_order_text(frequency: str | None, days: int | None) -> None:
    period = rules.resupply_period(frequency)
    assert period == (timedelta(days=days) if days is not None else None)


def test_window_must_be_forward_short_and_not_over() -> None:
    start = NOW + timedelta(hours=20)
    assert rules.window_problems(start, start + timedelta(hours=3), NOW) == []
    backwards = rules.window_problems(start, start - timedelta(hours=1), NOW)
    assert [p.field for p in backwards] == ["window_end"]
    long = rules.window_problems(start, start + timedelta(hours=13), NOW)
    assert "12 hours" in long[0].message
    over = rules.window_problems(NOW - timedelta(hours=5), NOW - timedelta(hours=1), NOW)
    assert [p.message for p in over] == ["the window is already over"]


def test_whole_window_must_be_before_the_deadline() -> None:
    due = NOW + timedelta(hours=24)
    assert not rules.misses_deadline(due, due)
    assert rules.misses_deadline(due + timedelta(minutes=1), due)


def test_outcome_needs_proof_of_delivery_and_serials_for_equipment() -> None:
    def problems(outcome: Outcome, **kw: object) -> list[str]:
        values: dict[str, object] = {
            "at": NOW,
            "now": NOW,
            "received_by": None,
            "serial_numbers": [],
            "needs_serials": True,
            "reason": None,
            "note": None,
        }
        values.update(kw)
        return [p.field for p in rules.outcome_problems(outcome, **values)]  # type: ignore[arg-type]

    assert problems(Outcome.delivered) == ["received_by", "serial_numbers"]
    assert problems(Outcome.delivered, received_by="Son", serial_numbers=["SN1"]) == []
    assert problems(
        Outcome.delivered, at=NOW + timedelta(hours=1), received_by="x", serial_numbers=["S"]
    ) == ["at"]
    assert problems(Outcome.visit_done, at=None) == ["at"]
    assert problems(Outcome.missed) == ["reason"]
    assert problems(Outcome.missed, reason=MissedReason.other) == ["note"]
    assert problems(Outcome.missed, reason=MissedReason.member_not_home) == []


def test_an_outcome_in_the_minute_the_window_was_booked_is_not_before_it() -> None:
    """The form gives minutes: booked at 11:39:27 and delivered "11:39" is accepted."""
    booked = datetime(2026, 12, 3, 16, 39, 27, tzinfo=UTC)
    kw: dict[str, object] = {
        "now": booked,
        "received_by": "Son",
        "serial_numbers": ["SN1"],
        "needs_serials": True,
        "reason": None,
        "note": None,
        "received_at": booked - timedelta(seconds=20),
        "booked_at": booked,
    }
    same_minute = booked.replace(second=0)
    assert rules.outcome_problems(Outcome.delivered, at=same_minute, **kw) == []  # type: ignore[arg-type]
    earlier = [
        p.field
        for p in rules.outcome_problems(  # type: ignore[arg-type]
            Outcome.delivered, at=same_minute - timedelta(minutes=1), **kw
        )
    ]
    assert earlier == ["at"]


def test_resupply_enters_the_queue_days_before_it_is_due() -> None:
    at = rules.resupply_reminder_at(date(2026, 12, 8), "America/New_York")
    assert at.date() == date(2026, 12, 5) and at.hour == 8


def test_resupply_is_on_time_until_the_end_of_its_local_due_day() -> None:
    due_on = date(2026, 12, 8)
    zone = "America/New_York"
    # 23:30 in New York on the due day is 04:30 UTC the next day.
    assert rules.resupply_on_time(datetime(2026, 12, 9, 4, 30, tzinfo=UTC), due_on, zone)
    assert not rules.resupply_on_time(datetime(2026, 12, 9, 5, 30, tzinfo=UTC), due_on, zone)
    assert rules.resupply_on_time(NOW, None, zone) is None


def test_clock_sources_state_the_figures_of_the_rules() -> None:
    assert rules.outcome_source() == (
        "outcome due 2 hours after the scheduled window (project default)"
    )
    assert rules.resupply_source() == (
        "recurring supply: book the next delivery 3 days before it is due"
    )
