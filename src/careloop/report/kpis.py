"""The KPI pack (DOMAIN.md §8): every figure's formula over a group of cases' facts, its
target and its source. Pure: the repository hands in plain sums and values.

Two kinds of figure:

- sums (``Counters``): counts and totals that add up across groups and periods; every
  rate and mean of the pack is a ratio of them;
- spreads (``Spread``): the median and 90th percentile of a duration (DOMAIN.md §8 time
  to service: "median and 90th percentile hours from receipt to delivery / first
  visit"). These do not add up: each group's is computed from its own cases' values.

Percentiles are PostgreSQL's ``percentile_cont``: linear interpolation between the two
closest ranks (``percentile``), so the pack in SQL and the pack replayed in Python agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from careloop.referral.rules import ACK_KPI_WINDOW
from careloop.report.fold import CaseFacts

#: The acknowledgement KPI's window: the referral domain's figure (DOMAIN.md §8).
ACK_WITHIN = ACK_KPI_WINDOW
ON_TIME_TARGET = 0.95
ACK_TARGET = 1.0
#: The clarification rate the source sets as the goal (DOMAIN.md §2 step 3, §8).
CLARIFICATION_TARGET = 0.08
#: DOMAIN.md §2 step 2, §4: acknowledged within the first business day; the KPI counts
#: 24 hours. The median and the 90th percentile are held to the same figure.
ACK_HOURS_TARGET = 24.0


def acknowledged_within_24h(
    received_at: datetime, acknowledged_at: datetime | None, now: datetime
) -> bool | None:
    """True / False once decided; None while the 24 hours are still running."""
    if acknowledged_at is not None and acknowledged_at - received_at <= ACK_WITHIN:
        return True
    if now - received_at > ACK_WITHIN:
        return False
    return None


@dataclass(frozen=True, slots=True)
class Counters:
    """The sums a group of cases gives (one period, one payer / provider / line); every
    rate and mean of the pack is a ratio of these. The repository computes the same sums
    in SQL (``repository.kpi_counters``); ``counters_of`` is the same in Python."""

    referrals: int = 0
    ack_decided: int = 0
    ack_hits: int = 0
    ack_n: int = 0
    ack_seconds: float = 0.0
    start_n: int = 0
    start_seconds: float = 0.0
    on_time_decided: int = 0
    on_time_hits: int = 0
    offers_made: int = 0
    offers_accepted: int = 0
    first_offers: int = 0
    first_offers_accepted: int = 0
    clarified: int = 0
    auth_approved: int = 0
    auth_denied: int = 0
    auth_appealed: int = 0
    auth_overturned: int = 0
    auth_upheld: int = 0
    auth_standard_n: int = 0
    auth_standard_seconds: float = 0.0
    auth_expedited_n: int = 0
    auth_expedited_seconds: float = 0.0
    claims: int = 0
    filing_missed: int = 0
    grievances: int = 0
    grievances_substantiated: int = 0


COUNTER_FIELDS = tuple(Counters.__dataclass_fields__)


def add_counters(a: Counters, b: Counters) -> Counters:
    return Counters(*(getattr(a, f) + getattr(b, f) for f in COUNTER_FIELDS))


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and 90th percentile, in seconds, of the time from receipt to
    acknowledgement and to service start of a group's cases (None: none to count)."""

    ack_p50: float | None = None
    ack_p90: float | None = None
    start_p50: float | None = None
    start_p90: float | None = None


SPREAD_FIELDS = tuple(f.name for f in fields(Spread))
#: Each spread's column of the facts and its quantile.
SPREAD_OF = {
    "ack_p50": ("ack_seconds", 0.5),
    "ack_p90": ("ack_seconds", 0.9),
    "start_p50": ("start_seconds", 0.5),
    "start_p90": ("start_seconds", 0.9),
}


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of values sorted ascending, interpolated linearly between the
    two closest ranks (PostgreSQL's ``percentile_cont``); None for no values."""
    if not ordered:
        return None
    if not 0.0 <= q <= 1.0:
        raise ValueError("a quantile lies between 0 and 1")
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    low = ordered[below]
    return low + (ordered[above] - low) * (position - below)


def spread_of(ack_seconds: Iterable[float], start_seconds: Iterable[float]) -> Spread:
    """A group's spread from its cases' durations (None values are left out)."""
    acks = sorted(s for s in ack_seconds if s is not None)
    starts = sorted(s for s in start_seconds if s is not None)
    return Spread(
        ack_p50=percentile(acks, 0.5),
        ack_p90=percentile(acks, 0.9),
        start_p50=percentile(starts, 0.5),
        start_p90=percentile(starts, 0.9),
    )


@dataclass(frozen=True, slots=True)
class Figures:
    """What a group's figures are computed from: its sums and its spread."""

    counters: Counters
    spread: Spread = Spread()


def on_time_decided(facts: CaseFacts, now: datetime) -> bool:
    """A case counts for on-time start once it started, or once its due time passed while
    it is still open with nothing started (a breach); a case cancelled before it started
    is not counted (DOMAIN.md §8: fulfilled service lines by their due time)."""
    if facts.started_on_time is not None:
        return True
    return facts.is_open and facts.service_due_at is not None and facts.service_due_at < now


def _seconds(later: datetime | None, earlier: datetime) -> float:
    return (later - earlier).total_seconds() if later else 0.0


def counters_of(facts: Iterable[CaseFacts], now: datetime) -> Counters:
    """The pack's sums over cases, straight from their facts (the replay's side)."""
    sums: dict[str, float] = {f: 0.0 for f in COUNTER_FIELDS}
    for f in facts:
        if f.received_at is None:
            continue
        decided = acknowledged_within_24h(f.received_at, f.acknowledged_at, now)
        add = {
            "referrals": 1,
            "ack_decided": int(decided is not None),
            "ack_hits": int(bool(decided)),
            "ack_n": int(f.acknowledged_at is not None),
            "ack_seconds": _seconds(f.acknowledged_at, f.received_at),
            "start_n": int(f.started_at is not None),
            "start_seconds": _seconds(f.started_at, f.received_at),
            "on_time_decided": int(on_time_decided(f, now)),
            "on_time_hits": int(f.started_on_time is True),
            "first_offers": int(f.first_offer_accepted is not None),
            "first_offers_accepted": int(f.first_offer_accepted is True),
            "clarified": int(f.needed_clarification),
        }
        for name in (
            "offers_made",
            "offers_accepted",
            "auth_approved",
            "auth_denied",
            "auth_appealed",
            "auth_overturned",
            "auth_upheld",
            "auth_standard_n",
            "auth_standard_seconds",
            "auth_expedited_n",
            "auth_expedited_seconds",
            "claims",
            "filing_missed",
            "grievances",
            "grievances_substantiated",
        ):
            add[name] = getattr(f, name)
        for key, value in add.items():
            sums[key] += value
    return counters_from(sums)


def figures_of(facts: Sequence[CaseFacts], now: datetime) -> Figures:
    """A group's sums and spread straight from its cases' facts (the replay's side)."""
    acks, starts = [], []
    for f in facts:
        if f.received_at is None:
            continue
        if f.acknowledged_at is not None:
            acks.append(_seconds(f.acknowledged_at, f.received_at))
        if f.started_at is not None:
            starts.append(_seconds(f.started_at, f.received_at))
    return Figures(counters_of(facts, now), spread_of(acks, starts))


def counters_from(values: dict[str, Any]) -> Counters:
    """Counters from named sums (SQL rows, Python sums); seconds stay fractional."""
    return Counters(
        **{
            name: float(values.get(name) or 0.0)
            if name.endswith("seconds")
            else int(values.get(name) or 0)
            for name in COUNTER_FIELDS
        }  # type: ignore[arg-type]
    )


def spread_from(values: dict[str, Any]) -> Spread:
    """A spread from named values (SQL rows); None stays None."""
    return Spread(
        **{
            name: None if values.get(name) is None else float(values[name])
            for name in SPREAD_FIELDS
        }
    )


@dataclass(frozen=True, slots=True)
class Kpi:
    """One figure of the pack: how it is computed (``value`` of a group's figures, and
    how many it counted), its target and where the definition comes from."""

    key: str
    title: str
    unit: str  # "rate", "hours" or "count"
    source: str
    value: Callable[[Figures], float | None]
    counted: Callable[[Figures], int]
    target: float | None = None
    higher_is_better: bool = True


def _ratio(hits: int, counted: int) -> float | None:
    return hits / counted if counted else None


def _mean_hours(seconds: float, count: int) -> float | None:
    return seconds / count / 3600 if count else None


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _rate(
    key: str,
    title: str,
    source: str,
    hits: Callable[[Counters], int],
    counted: Callable[[Counters], int],
    target: float | None = None,
    *,
    higher_is_better: bool = True,
) -> Kpi:
    return Kpi(
        key,
        title,
        "rate",
        source,
        lambda f: _ratio(hits(f.counters), counted(f.counters)),
        lambda f: counted(f.counters),
        target,
        higher_is_better,
    )


def _count(key: str, title: str, source: str, of: Callable[[Counters], int], *, up: bool) -> Kpi:
    return Kpi(
        key,
        title,
        "count",
        source,
        lambda f: float(of(f.counters)),
        lambda f: of(f.counters),
        higher_is_better=up,
    )


def _mean(
    key: str,
    title: str,
    source: str,
    seconds: Callable[[Counters], float],
    n: Callable[[Counters], int],
    target: float | None = None,
) -> Kpi:
    return Kpi(
        key,
        title,
        "hours",
        source,
        lambda f: _mean_hours(seconds(f.counters), n(f.counters)),
        lambda f: n(f.counters),
        target,
        higher_is_better=False,
    )


def _quantile(
    key: str,
    title: str,
    source: str,
    spread: str,
    n: Callable[[Counters], int],
    target: float | None,
) -> Kpi:
    return Kpi(
        key,
        title,
        "hours",
        source,
        lambda f: _hours(getattr(f.spread, spread)),
        lambda f: n(f.counters),
        target,
        higher_is_better=False,
    )


_PA = "DOMAIN.md §4 public prior-authorisation metrics (CMS-0057-F)"
_ACK = "DOMAIN.md §2 step 2, §4 acknowledgement (first business day; KPI 24 h)"
_START = "DOMAIN.md §8 time to service: median and 90th percentile hours"
_FILING = "DOMAIN.md §4, §7 timely filing of a claim (30-180 days by contract)"
_GRIEVANCE = "DOMAIN.md §5 track record (complaints), §6 grievance"

KPIS: tuple[Kpi, ...] = (
    _rate(
        "ack_24h",
        "Acknowledged within 24 hours",
        "DOMAIN.md §8 acknowledgement within 24 h",
        lambda c: c.ack_hits,
        lambda c: c.ack_decided,
        ACK_TARGET,
    ),
    _mean(
        "time_to_ack",
        "Time to acknowledgement (hours, mean)",
        "DOMAIN.md §2 step 2, §4 acknowledgement",
        lambda c: c.ack_seconds,
        lambda c: c.ack_n,
    ),
    _quantile(
        "time_to_ack_median",
        "Time to acknowledgement (hours, median)",
        _ACK,
        "ack_p50",
        lambda c: c.ack_n,
        ACK_HOURS_TARGET,
    ),
    _quantile(
        "time_to_ack_p90",
        "Time to acknowledgement (hours, 90th percentile)",
        _ACK,
        "ack_p90",
        lambda c: c.ack_n,
        ACK_HOURS_TARGET,
    ),
    _mean(
        "time_to_start",
        "Time to service start (hours, mean)",
        "DOMAIN.md §8 time to service",
        lambda c: c.start_seconds,
        lambda c: c.start_n,
    ),
    # No single target: DOMAIN.md §4 sets 24-72 h for standard equipment and basic home
    # health, 7-14 days for complex equipment; split by service line to compare.
    _quantile(
        "time_to_start_median",
        "Time to service start (hours, median)",
        _START,
        "start_p50",
        lambda c: c.start_n,
        None,
    ),
    _quantile(
        "time_to_start_p90",
        "Time to service start (hours, 90th percentile)",
        _START,
        "start_p90",
        lambda c: c.start_n,
        None,
    ),
    _rate(
        "on_time",
        "Delivered or started on time",
        "DOMAIN.md §8 on-time delivery / start",
        lambda c: c.on_time_hits,
        lambda c: c.on_time_decided,
        ON_TIME_TARGET,
    ),
    _rate(
        "acceptance",
        "Offers accepted",
        "DOMAIN.md §8 referral acceptance rate",
        lambda c: c.offers_accepted,
        lambda c: c.offers_made,
    ),
    _rate(
        "first_offer_acceptance",
        "First offers accepted",
        "DOMAIN.md §8 referral acceptance rate (first-offer acceptance)",
        lambda c: c.first_offers_accepted,
        lambda c: c.first_offers,
    ),
    _rate(
        "clarification",
        "Referrals needing clarification",
        "DOMAIN.md §8 clarification rate",
        lambda c: c.clarified,
        lambda c: c.referrals,
        CLARIFICATION_TARGET,
        higher_is_better=False,
    ),
    _rate(
        "denial_rate",
        "Authorisations denied",
        "DOMAIN.md §2 step 5, §6 denial",
        lambda c: c.auth_denied,
        lambda c: c.auth_approved + c.auth_denied,
        higher_is_better=False,
    ),
    _rate(
        "overturn_rate",
        "Appeals won (denial overturned)",
        "DOMAIN.md §6 appeal outcome upheld / overturned",
        lambda c: c.auth_overturned,
        lambda c: c.auth_overturned + c.auth_upheld,
    ),
    _count("pa_approved", "Prior authorisations approved", _PA, lambda c: c.auth_approved, up=True),
    _count("pa_denied", "Prior authorisations denied", _PA, lambda c: c.auth_denied, up=False),
    _count(
        "pa_approved_after_appeal",
        "Prior authorisations approved after appeal",
        _PA,
        lambda c: c.auth_overturned,
        up=True,
    ),
    _mean(
        "pa_time_standard",
        "Decision time, standard requests (hours, mean)",
        "DOMAIN.md §4 CMS-0057-F: 7 calendar days standard",
        lambda c: c.auth_standard_seconds,
        lambda c: c.auth_standard_n,
        7 * 24.0,
    ),
    _mean(
        "pa_time_expedited",
        "Decision time, expedited requests (hours, mean)",
        "DOMAIN.md §4 CMS-0057-F: 72 h expedited",
        lambda c: c.auth_expedited_seconds,
        lambda c: c.auth_expedited_n,
        72.0,
    ),
    # A claim misses its window when its filing clock breaches (still unanswered when
    # the window is about to close, claim.tasks) or it is sent after the window: that
    # one's clock falls due at once and breaches on the worker's next pass.
    _count(
        "filing_missed",
        "Claims that missed their filing window",
        _FILING,
        lambda c: c.filing_missed,
        up=False,
    ),
    _rate(
        "filing_miss_rate",
        "Claims that missed their filing window (share of claims)",
        _FILING,
        lambda c: c.filing_missed,
        lambda c: c.claims,
        higher_is_better=False,
    ),
    # Complaints about a provider's care or conduct (not those about the coordination).
    _count(
        "grievances",
        "Complaints about the provider's care",
        _GRIEVANCE,
        lambda c: c.grievances,
        up=False,
    ),
    _count(
        "grievances_substantiated",
        "Complaints about the provider's care found justified",
        _GRIEVANCE,
        lambda c: c.grievances_substantiated,
        up=False,
    ),
)
KPI_BY_KEY = {k.key: k for k in KPIS}
#: The provider scorecard's figures (DOMAIN.md §5 track record: on-time, acceptance,
#: complaints; denials).
SCORECARD_KPIS = (
    "on_time",
    "acceptance",
    "first_offer_acceptance",
    "denial_rate",
    "grievances",
    "grievances_substantiated",
)
#: What the pack can be split by. Cases carry payer, provider and service line; the
#: contact figures (first-contact resolution, handling time) are split by team.
DIMENSIONS = ("all", "payer", "provider", "service_line")
GRAINS = ("week", "month")


def meets_target(kpi: Kpi, value: float | None) -> bool | None:
    if kpi.target is None or value is None:
        return None
    return value >= kpi.target if kpi.higher_is_better else value <= kpi.target


def periods(grain: str, start: date, end: date) -> list[date]:
    """The first days of every week (Monday) or month from ``start``'s to ``end``'s."""
    if grain not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}")
    out: list[date] = []
    if grain == "week":
        day = start - timedelta(days=start.weekday())
        while day <= end:
            out.append(day)
            day += timedelta(weeks=1)
        return out
    day = start.replace(day=1)
    while day <= end:
        out.append(day)
        day = (day + timedelta(days=32)).replace(day=1)
    return out


def period_end(grain: str, first: date) -> date:
    """The day after the period that starts on ``first``."""
    if grain == "week":
        return first + timedelta(weeks=1)
    return (first + timedelta(days=32)).replace(day=1)
