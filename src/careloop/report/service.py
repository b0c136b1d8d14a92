"""Report use cases: the staff home page's figures (today's volume, what is overdue,
and the weekly acknowledgement and on-time rates). Aggregates only: no member data, so
nothing here is PHI to audit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.identity.permissions import require
from careloop.report import repository, rules


@dataclass(frozen=True, slots=True)
class WeekFigures:
    starts_on: date
    ack_within_24h: rules.Rate
    on_time: rules.Rate
    received: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    today: date
    received_today: int
    overdue_now: int
    weeks: list[WeekFigures]


def staff_dashboard(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    zone: str,
    weeks: int = rules.DEFAULT_WEEKS,
) -> Dashboard:
    """Today's volume and overdue count, and the last ``weeks`` weeks' rates, in the
    coordination centre's time zone (DOMAIN.md §8)."""
    require(actor, "workqueue:read")
    now = clock.now()
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    periods = rules.weeks_ending(today, tz, weeks)
    since, until = periods[0].start, periods[-1].end
    received = repository.received_and_acknowledged(session, since)
    ended = repository.ended_service_starts(session, since, until)
    by_week_received = rules.split_by_week(received, periods)
    by_week_ended = rules.split_by_week(ended, periods)
    day_start = datetime.combine(today, time.min, tz)
    return Dashboard(
        today=today,
        received_today=repository.received_count(session, day_start, day_start + timedelta(1)),
        overdue_now=repository.overdue_count(session, now),
        weeks=[
            WeekFigures(
                starts_on=week.starts_on,
                ack_within_24h=rules.ack_rate(by_week_received[i], now),
                on_time=rules.on_time_rate(by_week_ended[i]),
                received=len(by_week_received[i]),
            )
            for i, week in enumerate(periods)
        ],
    )
