"""KPI formulas (DOMAIN.md §8). Pure: the repository hands in plain rows.

- Acknowledgement within 24 h: share of referrals acknowledged at most 24 hours after
  receipt (target ~100 %). A referral counts once its 24 hours have passed or it has been
  acknowledged: one received an hour ago is not yet a failure.
- On-time delivery / start: share of service-start deadlines met by their due time
  among those that ended (met or breached) (target > 95 %).
- First-contact resolution: share of inbound contacts resolved with no repeat contact on
  the same case and topic within 7 days (DOMAIN.md §8; the source's "aim for first-contact
  resolution"). See ``first_contact_resolution``.
- Average handling time: mean of ended_at - started_at per contact, by queue (DOMAIN.md
  §8: "talk + hold + after-call work per contact, by queue"; the portal's contact panel
  starts its timer when opened and stops it on submit, so after-call work is inside).
- Kept promises: share of the ETAs supervisors committed on escalations that were kept
  (resolved by the ETA) among those decided, kept or missed (DOMAIN.md §6: a committed
  resolution ETA).
"""

from __future__ import annotations

from collections import defaultdict
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


# ---- contacts (DOMAIN.md §8) ------------------------------------------------------------------

#: A repeat contact on the same case and topic within this long means the first was not
#: resolved (DOMAIN.md §8: "within 7 days").
FCR_REPEAT_WINDOW = timedelta(days=7)
#: The period the staff home page reports contacts over.
CONTACT_PERIOD = timedelta(days=28)


@dataclass(frozen=True, slots=True)
class ContactFact:
    """What the contact KPIs need of one contact (no PHI)."""

    referral_id: int | None
    inbound: bool
    reason: str
    resolved: bool
    team: str
    started_at: datetime
    ended_at: datetime


def first_contact_resolution(
    contacts: Sequence[ContactFact],
    now: datetime,
    *,
    since: datetime | None = None,
    window: timedelta = FCR_REPEAT_WINDOW,
) -> Rate:
    """Share of inbound contacts (started at or after ``since``) resolved on that
    contact with no repeat inbound contact on the same case and reason within ``window``
    after it (DOMAIN.md §8).

    A contact counts once it is decided: at once when it ended with a follow-up or a
    repeat came, otherwise once its window has passed (one resolved an hour ago is not
    yet a success), as the acknowledgement KPI waits for its 24 hours. A repeat is the
    party getting in touch again (inbound); our own calls back are not repeats. A contact
    on no case has no case to repeat on: its own outcome decides."""
    starts: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for c in contacts:
        if c.inbound and c.referral_id is not None:
            starts[(c.referral_id, c.reason)].append(c.started_at)
    hits = counted = 0
    for c in contacts:
        if not c.inbound or (since is not None and c.started_at < since):
            continue
        repeated = c.referral_id is not None and any(
            c.started_at < other <= c.started_at + window
            for other in starts[(c.referral_id, c.reason)]
        )
        if c.resolved and not repeated and now - c.started_at <= window:
            continue  # still undecided
        counted += 1
        hits += c.resolved and not repeated
    return Rate(hits, counted)


@dataclass(frozen=True, slots=True)
class HandlingTime:
    """Mean handling time of ``count`` contacts; ``mean`` is None when there were none."""

    total: timedelta
    count: int

    @property
    def mean(self) -> timedelta | None:
        return self.total / self.count if self.count else None


def average_handling_time(
    contacts: Iterable[ContactFact], *, since: datetime | None = None
) -> dict[str, HandlingTime]:
    """Mean of ended_at - started_at per contact, by queue (team), with every queue
    together under ``""`` (DOMAIN.md §8)."""
    totals: dict[str, timedelta] = defaultdict(timedelta)
    counts: dict[str, int] = defaultdict(int)
    for c in contacts:
        if since is not None and c.started_at < since:
            continue
        length = max(c.ended_at - c.started_at, timedelta(0))
        for key in (c.team, ""):
            totals[key] += length
            counts[key] += 1
    return {key: HandlingTime(totals[key], counts[key]) for key in counts}


def duration_words(value: timedelta) -> str:
    """``6 min 30 s``; ``1 h 05 min`` past the hour."""
    seconds = round(value.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def kept_promise_rate(kept: int, missed: int) -> Rate:
    """Escalation ETAs kept out of those decided (a promise still running is not counted)."""
    if kept < 0 or missed < 0:
        raise ValueError("counts cannot be negative")
    return Rate(kept, kept + missed)
