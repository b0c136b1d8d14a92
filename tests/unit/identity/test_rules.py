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


def session_end(
    *, idle: timedelta, age: timedelta, second_factor_done: bool = True
) -> rules.SessionEnd | None:
    created_at = NOW - age
    return rules.session_end(
        now=NOW,
        created_at=created_at,
        last_seen_at=NOW - idle,
        expires_at=rules.session_expiry(created_at),
        second_factor_done=second_factor_done,
    )


def test_session_lives_while_used_within_the_idle_and_absolute_limits() -> None:
    just_inside = rules.SESSION_IDLE - timedelta(seconds=1)
    assert session_end(idle=just_inside, age=rules.SESSION_ABSOLUTE - timedelta(seconds=1)) is None


def test_session_ends_when_idle_for_the_idle_limit() -> None:
    assert session_end(idle=rules.SESSION_IDLE, age=timedelta(hours=1)) is rules.SessionEnd.idle


def test_session_ends_at_the_absolute_limit_however_active() -> None:
    ended = session_end(idle=timedelta(0), age=rules.SESSION_ABSOLUTE)
    assert ended is rules.SessionEnd.absolute


def test_half_signed_in_session_ends_when_the_second_step_window_passes() -> None:
    age = rules.SECOND_STEP_WINDOW
    assert session_end(idle=timedelta(0), age=age, second_factor_done=False) is (
        rules.SessionEnd.second_step
    )
    assert session_end(idle=timedelta(0), age=age) is None
