"""KPI formulas (DOMAIN.md §8). Pure: the repository hands in plain rows.

- Acknowledgement within 24 h: share of referrals acknowledged at most 24 hours after
  receipt (target ~100 %). A referral counts once its 24 hours have passed or it has been
  acknowledged: one received an hour ago is not yet a failure.
- On-time delivery / start: share of service-start deadlines met by their due time
  among those that ended (met or breached) (target > 95 %).
- Kept promises: share of the ETAs supervisors committed on escalations that were kept
  (resolved by the ETA) among those decided, kept or missed (DOMAIN.md §6: a committed
  resolution ETA).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from careloop.referral.rules import ACK_KPI_WINDOW

#: The acknowledgement KPI's window: the referral domain's figure (DOMAIN.md §8).
ACK_WITHIN = ACK_KPI_WINDOW
#: Weeks of history the staff home page charts.
DEFAULT_WEEKS = 8
ON_TIME_TARGET = 0.95
ACK_TARGET = 1.0


@dataclass(frozen=True, slots=True)
class Rate:
    """``hits`` out of ``counted``; ``value`` is None when nothing was counted."""

    hits: int
    counted: int

    @property
    def value(self) -> float | None:
        return self.hits / self.counted if self.counted else None


@dataclass(frozen=True, slots=True)
class Week:
    starts_on: date
    start: datetime
    end: datetime


def weeks_ending(today: date, zone: ZoneInfo, count: int) -> list[Week]:
    """The last ``count`` weeks (Monday to Sunday, local), oldest first, the current
    week last (it is still running)."""
    monday = today - timedelta(days=today.weekday())
    out = []
    for back in range(count - 1, -1, -1):
        first = monday - timedelta(weeks=back)
        start = datetime.combine(first, time.min, zone)
        end = datetime.combine(first + timedelta(days=7), time.min, zone)
        out.append(Week(first, start, end))
    return out


def acknowledged_within_24h(
    received_at: datetime, acknowledged_at: datetime | None, now: datetime
) -> bool | None:
    """True / False once decided; None while the 24 hours are still running."""
    if acknowledged_at is not None and acknowledged_at - received_at <= ACK_WITHIN:
        return True
    if now - received_at > ACK_WITHIN:
        return False
    return None


def ack_rate(rows: Iterable[tuple[datetime, datetime | None]], now: datetime) -> Rate:
    hits = counted = 0
    for received_at, acknowledged_at in rows:
        decided = acknowledged_within_24h(received_at, acknowledged_at, now)
        if decided is None:
            continue
        counted += 1
        hits += decided
    return Rate(hits, counted)


def on_time_rate(rows: Iterable[tuple[datetime, datetime | None]]) -> Rate:
    """Rows are (due_at, met_at) of ended service-start clocks; met_at None = breached."""
    hits = counted = 0
    for due_at, met_at in rows:
        counted += 1
        hits += met_at is not None and met_at <= due_at
    return Rate(hits, counted)


def in_week(at: datetime, week: Week) -> bool:
    return week.start <= at < week.end


def split_by_week(
    rows: Sequence[tuple[datetime, datetime | None]], weeks: Sequence[Week]
) -> list[list[tuple[datetime, datetime | None]]]:
    """Rows whose first value is an instant, grouped by the week it falls in."""
    groups: list[list[tuple[datetime, datetime | None]]] = [[] for _ in weeks]
    for row in rows:
        for index, week in enumerate(weeks):
            if in_week(row[0], week):
                groups[index].append(row)
                break
    return groups


def kept_promise_rate(kept: int, missed: int) -> Rate:
    """Escalation ETAs kept out of those decided (a promise still running is not counted)."""
    if kept < 0 or missed < 0:
        raise ValueError("counts cannot be negative")
    return Rate(kept, kept + missed)
