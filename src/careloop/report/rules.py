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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from careloop.referral.rules import ACK_KPI_WINDOW
from careloop.report.fold import CaseFacts, EventFact, fold, month_of, week_of

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
    until: datetime | None = None,
    window: timedelta = FCR_REPEAT_WINDOW,
) -> Rate:
    """Share of inbound contacts (started in [``since``, ``until``)) resolved on that
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
        if until is not None and c.started_at >= until:
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


# ---- words and sets the reports use ---------------------------------------------------------

#: The channels a referral arrives by (DOMAIN.md §2 step 1), in the order reports list them.
CHANNELS = ("portal", "fhir", "fax", "email", "phone", "batch")
CHANNEL_WORDS = {
    "portal": "Portal form",
    "fhir": "Hospital system (FHIR)",
    "fax": "Fax",
    "email": "E-mail",
    "phone": "Phone",
    "batch": "Bulk file",
}
SERVICE_LINE_WORDS = {
    "dme": "Medical equipment",
    "home_health": "Home health",
    "infusion": "Home infusion",
}
#: Denial reasons an intake check catches at submission (DOMAIN.md §2 step 3: "catching
#: problems at the moment of submission is the single biggest lever"): missing
#: information is the checklist of §3; an absent authorisation is the eligibility
#: check's "authorisation required" finding; out of network is the payer's network
#: checked before an offer. Medical necessity and coverage are the payer's judgement.
PREVENTABLE_DENIALS = frozenset(
    {"missing_information", "prior_authorization_absent", "out_of_network"}
)


# ---- the KPI pack (DOMAIN.md §8) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Counters:
    """The sums a group of cases gives (one period, one payer / provider / line); every
    KPI of the pack is a ratio or a mean of these. The repository computes the same sums
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


COUNTER_FIELDS = tuple(Counters.__dataclass_fields__)


def add_counters(a: Counters, b: Counters) -> Counters:
    return Counters(*(getattr(a, f) + getattr(b, f) for f in COUNTER_FIELDS))


def on_time_decided(facts: CaseFacts, now: datetime) -> bool:
    """A case counts for on-time start once it started, or once its due time passed while
    it is still open with nothing started (a breach); a case cancelled before it started
    is not counted (DOMAIN.md §8: fulfilled service lines by their due time)."""
    if facts.started_on_time is not None:
        return True
    return facts.is_open and facts.service_due_at is not None and facts.service_due_at < now


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
            "ack_seconds": (f.acknowledged_at - f.received_at).total_seconds()
            if f.acknowledged_at
            else 0.0,
            "start_n": int(f.started_at is not None),
            "start_seconds": (f.started_at - f.received_at).total_seconds()
            if f.started_at
            else 0.0,
            "on_time_decided": int(on_time_decided(f, now)),
            "on_time_hits": int(f.started_on_time is True),
            "offers_made": f.offers_made,
            "offers_accepted": f.offers_accepted,
            "first_offers": int(f.first_offer_accepted is not None),
            "first_offers_accepted": int(f.first_offer_accepted is True),
            "clarified": int(f.needed_clarification),
            "auth_approved": f.auth_approved,
            "auth_denied": f.auth_denied,
            "auth_appealed": f.auth_appealed,
            "auth_overturned": f.auth_overturned,
            "auth_upheld": f.auth_upheld,
            "auth_standard_n": f.auth_standard_n,
            "auth_standard_seconds": f.auth_standard_seconds,
            "auth_expedited_n": f.auth_expedited_n,
            "auth_expedited_seconds": f.auth_expedited_seconds,
        }
        for key, value in add.items():
            sums[key] += value
    return counters_from(sums)


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


@dataclass(frozen=True, slots=True)
class Kpi:
    """One figure of the pack: how it is computed (``value`` of the counters, and how
    many it counted), its target and where the definition comes from."""

    key: str
    title: str
    unit: str  # "rate", "hours" or "count"
    source: str
    value: Callable[[Counters], float | None]
    counted: Callable[[Counters], int]
    target: float | None = None
    higher_is_better: bool = True


def _ratio(hits: int, counted: int) -> float | None:
    return hits / counted if counted else None


def _mean_hours(seconds: float, count: int) -> float | None:
    return seconds / count / 3600 if count else None


#: The clarification rate the source sets as the goal (DOMAIN.md §2 step 3, §8).
CLARIFICATION_TARGET = 0.08

KPIS: tuple[Kpi, ...] = (
    Kpi(
        "ack_24h",
        "Acknowledged within 24 hours",
        "rate",
        "DOMAIN.md §8 acknowledgement within 24 h",
        lambda c: _ratio(c.ack_hits, c.ack_decided),
        lambda c: c.ack_decided,
        ACK_TARGET,
    ),
    Kpi(
        "time_to_ack",
        "Time to acknowledgement (hours, mean)",
        "hours",
        "DOMAIN.md §2 step 2, §4 acknowledgement",
        lambda c: _mean_hours(c.ack_seconds, c.ack_n),
        lambda c: c.ack_n,
        higher_is_better=False,
    ),
    Kpi(
        "time_to_start",
        "Time to service start (hours, mean)",
        "hours",
        "DOMAIN.md §8 time to service",
        lambda c: _mean_hours(c.start_seconds, c.start_n),
        lambda c: c.start_n,
        higher_is_better=False,
    ),
    Kpi(
        "on_time",
        "Delivered or started on time",
        "rate",
        "DOMAIN.md §8 on-time delivery / start",
        lambda c: _ratio(c.on_time_hits, c.on_time_decided),
        lambda c: c.on_time_decided,
        ON_TIME_TARGET,
    ),
    Kpi(
        "acceptance",
        "Offers accepted",
        "rate",
        "DOMAIN.md §8 referral acceptance rate",
        lambda c: _ratio(c.offers_accepted, c.offers_made),
        lambda c: c.offers_made,
    ),
    Kpi(
        "first_offer_acceptance",
        "First offers accepted",
        "rate",
        "DOMAIN.md §8 referral acceptance rate (first-offer acceptance)",
        lambda c: _ratio(c.first_offers_accepted, c.first_offers),
        lambda c: c.first_offers,
    ),
    Kpi(
        "clarification",
        "Referrals needing clarification",
        "rate",
        "DOMAIN.md §8 clarification rate",
        lambda c: _ratio(c.clarified, c.referrals),
        lambda c: c.referrals,
        CLARIFICATION_TARGET,
        higher_is_better=False,
    ),
    Kpi(
        "denial_rate",
        "Authorisations denied",
        "rate",
        "DOMAIN.md §2 step 5, §6 denial",
        lambda c: _ratio(c.auth_denied, c.auth_approved + c.auth_denied),
        lambda c: c.auth_approved + c.auth_denied,
        higher_is_better=False,
    ),
    Kpi(
        "overturn_rate",
        "Appeals won (denial overturned)",
        "rate",
        "DOMAIN.md §6 appeal outcome upheld / overturned",
        lambda c: _ratio(c.auth_overturned, c.auth_overturned + c.auth_upheld),
        lambda c: c.auth_overturned + c.auth_upheld,
    ),
    Kpi(
        "pa_approved",
        "Prior authorisations approved",
        "count",
        "DOMAIN.md §4 public prior-authorisation metrics (CMS-0057-F)",
        lambda c: float(c.auth_approved),
        lambda c: c.auth_approved,
    ),
    Kpi(
        "pa_denied",
        "Prior authorisations denied",
        "count",
        "DOMAIN.md §4 public prior-authorisation metrics (CMS-0057-F)",
        lambda c: float(c.auth_denied),
        lambda c: c.auth_denied,
        higher_is_better=False,
    ),
    Kpi(
        "pa_approved_after_appeal",
        "Prior authorisations approved after appeal",
        "count",
        "DOMAIN.md §4 public prior-authorisation metrics (CMS-0057-F)",
        lambda c: float(c.auth_overturned),
        lambda c: c.auth_overturned,
    ),
    Kpi(
        "pa_time_standard",
        "Decision time, standard requests (hours, mean)",
        "hours",
        "DOMAIN.md §4 CMS-0057-F: 7 calendar days standard",
        lambda c: _mean_hours(c.auth_standard_seconds, c.auth_standard_n),
        lambda c: c.auth_standard_n,
        7 * 24.0,
        higher_is_better=False,
    ),
    Kpi(
        "pa_time_expedited",
        "Decision time, expedited requests (hours, mean)",
        "hours",
        "DOMAIN.md §4 CMS-0057-F: 72 h expedited",
        lambda c: _mean_hours(c.auth_expedited_seconds, c.auth_expedited_n),
        lambda c: c.auth_expedited_n,
        72.0,
        higher_is_better=False,
    ),
)
KPI_BY_KEY = {k.key: k for k in KPIS}
#: The provider scorecard's figures (DOMAIN.md §5 track record: on-time, acceptance,
#: complaints; denials). Grievances join once that domain records them.
SCORECARD_KPIS = ("on_time", "acceptance", "first_offer_acceptance", "denial_rate")
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


# ---- the reconciliation reports and their schedules (DOMAIN.md §7) ---------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the worker runs a report: ``every`` day, week (on ``weekday``, Monday = 0) or
    month (on ``day``), at ``at`` in the organisation's time zone, over the period that
    just ended."""

    report: str
    every: str
    at: time
    weekday: int = 0
    day: int = 1


#: DOMAIN.md §7: "a daily referral import, a weekly open-referral report, a monthly
#: denial audit", each run at 06:00 local.
SCHEDULES: tuple[Schedule, ...] = (
    Schedule("daily-import", "day", time(6, 0)),
    Schedule("open-referrals", "week", time(6, 0), weekday=0),
    Schedule("denial-audit", "month", time(6, 0), day=1),
)
REPORT_TITLES = {
    "daily-import": "Daily referral import",
    "open-referrals": "Open referrals",
    "denial-audit": "Denial audit",
}
REPORT_NAMES = tuple(REPORT_TITLES)


def last_due(schedule: Schedule, now: datetime, zone: ZoneInfo) -> datetime:
    """The latest instant at or before ``now`` when ``schedule`` was due."""
    local = now.astimezone(zone)
    day = local.date()
    for _ in range(40):
        candidate = datetime.combine(day, schedule.at, zone)
        if candidate <= now and (
            schedule.every == "day"
            or (schedule.every == "week" and day.weekday() == schedule.weekday)
            or (schedule.every == "month" and day.day == schedule.day)
        ):
            return candidate
        day -= timedelta(days=1)
    raise ValueError(f"schedule {schedule.report} never falls due")


def scheduled_period(schedule: Schedule, due: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """The period a run due at ``due`` covers, [first, after): the day, week or month
    that ended."""
    today = due.astimezone(zone).date()
    if schedule.every == "day":
        return today - timedelta(days=1), today
    if schedule.every == "week":
        return today - timedelta(weeks=1), today
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    return first, today.replace(day=1)


#: A case's status as a manager reads it on a report.
STATUS_WORDS = {
    "received": "Received, waiting to be acknowledged",
    "needs_clarification": "Waiting for missing information",
    "acknowledged": "Acknowledged, being arranged",
    "eligibility_verified": "Coverage checked",
    "authorization_pending": "Waiting for the health plan's approval",
    "authorized": "Approved by the health plan",
    "denied": "Not approved by the health plan",
    "offered": "Offered to a provider",
    "accepted": "A provider accepted",
    "unplaced": "No provider yet: escalated",
    "scheduled": "Visit or delivery scheduled",
    "missed": "Visit or delivery missed; being rescheduled",
    "fulfilled": "Delivered or started",
    "closed": "Closed",
    "cancelled": "Cancelled",
}
DENIAL_WORDS = {
    "missing_information": "Missing information",
    "not_medically_necessary": "Not medically necessary",
    "not_covered": "Not covered",
    "prior_authorization_absent": "No prior authorisation",
    "out_of_network": "Provider out of network",
    "timely_filing_expired": "Filed too late",
    "unknown": "Reason not recorded",
}


def words(mapping: dict[str, str], value: str | None) -> str:
    if value is None:
        return "None"
    return mapping.get(value, value.replace("_", " ").capitalize())


def age_words(received_at: datetime, now: datetime) -> str:
    days = (now - received_at).days
    if days < 1:
        return f"{max(int((now - received_at).total_seconds() // 3600), 0)} h"
    return f"{days} day{'s' if days != 1 else ''}"


TEAM_WORDS = {
    "intake": "Intake",
    "case_management": "Case management",
    "network": "Provider network",
    "clinical_review": "Clinical review",
    "supervisor": "Supervisors",
}


def finding_words(code: str) -> str:
    """An intake finding's code as a phrase (``member_phone_missing``: Member phone missing)."""
    return code.replace("_", " ").capitalize()


__all__ = ["CaseFacts", "EventFact", "fold", "month_of", "week_of"]
