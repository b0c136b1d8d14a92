"""Report use cases: the staff home page's figures (today's volume, what is overdue,
and the weekly acknowledgement and on-time rates). Aggregates only: no member data, so
nothing here is PHI to audit.

Computing the weekly rates reads every referral of the last weeks: about 1.5 s at two
million referrals (bench/pages.py). The worker computes them every few minutes with the
rules of rules.py and keeps the result as a snapshot; the page reads the snapshot in one
query and says how old it is. Without a snapshot (a new install) the page computes live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.escalation import service as escalation_service
from careloop.identity.permissions import require
from careloop.interaction import service as interaction_service
from careloop.report import repository, rules


@dataclass(frozen=True, slots=True)
class WeekFigures:
    starts_on: date
    ack_within_24h: rules.Rate
    on_time: rules.Rate
    received: int


@dataclass(frozen=True, slots=True)
class ContactFigures:
    """The contact KPIs over the last ``rules.CONTACT_PERIOD``: first-contact resolution
    and the handling time by queue (``""``: every queue)."""

    first_contact_resolution: rules.Rate
    handling: dict[str, rules.HandlingTime]

    def as_json(self) -> dict[str, Any]:
        fcr = self.first_contact_resolution
        return {
            "fcr": [fcr.hits, fcr.counted],
            "handling": {k: [v.total.total_seconds(), v.count] for k, v in self.handling.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContactFigures:
        return cls(
            first_contact_resolution=rules.Rate(*data["fcr"]),
            handling={
                k: rules.HandlingTime(timedelta(seconds=v[0]), int(v[1]))
                for k, v in data["handling"].items()
            },
        )


@dataclass(frozen=True, slots=True)
class Dashboard:
    today: date
    received_today: int
    overdue_now: int
    weeks: list[WeekFigures]
    computed_at: datetime
    contacts: ContactFigures | None = None
    # Escalation ETAs kept over the weeks charted (DOMAIN.md §6).
    promises_kept: rules.Rate = field(default_factory=lambda: rules.Rate(0, 0))

    def as_json(self) -> dict[str, Any]:
        return {
            "today": self.today.isoformat(),
            "received_today": self.received_today,
            "overdue_now": self.overdue_now,
            "computed_at": self.computed_at.isoformat(),
            "promises_kept": [self.promises_kept.hits, self.promises_kept.counted],
            "weeks": [
                {
                    "starts_on": w.starts_on.isoformat(),
                    "ack": [w.ack_within_24h.hits, w.ack_within_24h.counted],
                    "on_time": [w.on_time.hits, w.on_time.counted],
                    "received": w.received,
                }
                for w in self.weeks
            ],
            "contacts": self.contacts.as_json() if self.contacts else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Dashboard:
        return cls(
            today=date.fromisoformat(data["today"]),
            received_today=int(data["received_today"]),
            overdue_now=int(data["overdue_now"]),
            computed_at=datetime.fromisoformat(data["computed_at"]),
            # A snapshot written before the figure existed counts nothing yet.
            promises_kept=rules.Rate(*data.get("promises_kept", (0, 0))),
            weeks=[
                WeekFigures(
                    starts_on=date.fromisoformat(w["starts_on"]),
                    ack_within_24h=rules.Rate(*w["ack"]),
                    on_time=rules.Rate(*w["on_time"]),
                    received=int(w["received"]),
                )
                for w in data["weeks"]
            ],
            contacts=ContactFigures.from_json(data["contacts"]) if data.get("contacts") else None,
        )


#: The worker recomputes the dashboard when its snapshot is older than this.
REFRESH_AFTER = timedelta(minutes=5)
#: A page falls back to computing live when the snapshot is older than this (no worker).
STALE_AFTER = timedelta(hours=1)


def _snapshot_name(zone: str) -> str:
    return f"staff_dashboard:{zone}"


def staff_dashboard(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    zone: str,
    weeks: int = rules.DEFAULT_WEEKS,
) -> Dashboard:
    """Today's volume and overdue count, and the last ``weeks`` weeks' rates, in the
    coordination centre's time zone (DOMAIN.md §8): the worker's snapshot when recent."""
    require(actor, "workqueue:read")
    snapshot = repository.snapshot(session, _snapshot_name(zone))
    if snapshot is not None and clock.now() - snapshot.computed_at <= STALE_AFTER:
        dashboard = Dashboard.from_json(snapshot.data)
        if len(dashboard.weeks) == weeks and dashboard.contacts is not None:
            return dashboard
    return compute_dashboard(session, clock=clock, zone=zone, weeks=weeks)


def refresh_dashboard(session: Session, *, clock: Clock, zone: str, force: bool = False) -> bool:
    """Recompute the snapshot when it is older than REFRESH_AFTER (the worker's pass);
    True when it did."""
    name = _snapshot_name(zone)
    snapshot = repository.snapshot(session, name)
    now = clock.now()
    if not force and snapshot is not None and now - snapshot.computed_at < REFRESH_AFTER:
        return False
    dashboard = compute_dashboard(session, clock=clock, zone=zone)
    repository.save_snapshot(session, name, computed_at=now, data=dashboard.as_json())
    return True


def compute_dashboard(
    session: Session, *, clock: Clock, zone: str, weeks: int = rules.DEFAULT_WEEKS
) -> Dashboard:
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
        computed_at=now,
        today=today,
        received_today=repository.received_count(session, day_start, day_start + timedelta(1)),
        overdue_now=repository.overdue_count(session, now),
        promises_kept=rules.kept_promise_rate(
            *escalation_service.kept_promises(session, since, until)
        ),
        weeks=[
            WeekFigures(
                starts_on=week.starts_on,
                ack_within_24h=rules.ack_rate(by_week_received[i], now),
                on_time=rules.on_time_rate(by_week_ended[i]),
                received=len(by_week_received[i]),
            )
            for i, week in enumerate(periods)
        ],
        contacts=contact_figures(session, now),
    )


def contact_figures(session: Session, now: datetime) -> ContactFigures:
    """First-contact resolution and handling time over the last CONTACT_PERIOD
    (DOMAIN.md §8), from the contacts on record (figures only, no PHI)."""
    since = now - rules.CONTACT_PERIOD
    rows = interaction_service.contact_rows(session, since, now + timedelta(seconds=1))
    facts = [
        # Plain values: report.rules knows no enums of the interaction domain.
        rules.ContactFact(
            referral_id=r.referral_id,
            inbound=r.direction.value == "inbound",
            reason=r.reason.value,
            resolved=r.outcome.value == "resolved",
            team=r.team,
            started_at=r.started_at,
            ended_at=r.ended_at,
        )
        for r in rows
    ]
    return ContactFigures(
        first_contact_resolution=rules.first_contact_resolution(facts, now, since=since),
        handling=rules.average_handling_time(facts, since=since),
    )
