"""The failed-sign-in window (identity.rules.failure_wait): a sliding window, refused
while ``limit`` failures lie inside it, open again when the limit-th newest ages out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careloop.identity import rules

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


def wait(*minutes_ago: float) -> timedelta | None:
    failures = [NOW - timedelta(minutes=m) for m in minutes_ago]
    return rules.failure_wait(NOW, failures, limit=3, window=WINDOW)


def test_no_wait_when_fewer_failures_than_the_limit() -> None:
    assert wait(1, 2) is None


def test_wait_ends_when_the_limit_th_newest_failure_leaves_the_window() -> None:
    assert wait(1, 2, 5) == timedelta(minutes=10)
    assert wait(1, 2, 5, 6, 7) == timedelta(minutes=10)


def test_no_wait_when_the_older_failures_lie_outside_the_window() -> None:
    assert wait(1, 2, 15) is None
    assert wait(1, 2, 20) is None
