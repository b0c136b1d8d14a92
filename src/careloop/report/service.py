"""Report use cases: the staff home page's figures (today's volume, what is overdue,
and the weekly acknowledgement and on-time rates). Aggregates only: no member data, so
nothing here is PHI to audit.

Computing the weekly rates reads every referral of the last weeks: about 1.5 s at two
million referrals (bench/pages.py). The worker computes them every few minutes with the
rules of rules.py and keeps the result as a snapshot; the page reads the snapshot in one
query and says how old it is. Without a snapshot (a new install) the page computes live.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.dates import DateKind, date_problem
from careloop.core.errors import FieldError, RuleViolationError
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


# ---- case facts: the timeline folded, kept as events land ------------------------------------

#: Each pass reads again the events just below its watermark: on PostgreSQL an event id
#: taken by a transaction that commits after a later one would otherwise be skipped.
#: Folding a case again is harmless (the fold recomputes the whole case).
REREAD_EVENTS = 1000
FACTS_BATCH = 5000


def facts_row(
    facts: rules.CaseFacts, payer_id: int | None, zone: ZoneInfo
) -> dict[str, Any] | None:
    """The table row of a case's facts (None while its receipt is not on the timeline)."""
    if facts.received_at is None:
        return None
    received = facts.received_at
    return {
        "referral_id": facts.referral_id,
        "payer_id": payer_id,
        "provider_id": facts.provider_id,
        "service_line": facts.service_line,
        "channel": facts.channel,
        "received_at": received,
        "received_week": rules.week_of(received, zone),
        "received_month": rules.month_of(received, zone),
        "status": facts.status,
        "is_open": facts.is_open,
        "ended_at": facts.ended_at,
        "owner": facts.owner,
        "acknowledged_at": facts.acknowledged_at,
        "ack_within_24h": facts.ack_within_24h,
        "ack_seconds": (facts.acknowledged_at - received).total_seconds()
        if facts.acknowledged_at
        else None,
        "needed_clarification": facts.needed_clarification,
        "clarification_codes": list(facts.clarification_codes),
        "possible_duplicate": facts.possible_duplicate,
        "service_due_at": facts.service_due_at,
        "started_at": facts.started_at,
        "started_on_time": facts.started_on_time,
        "start_seconds": (facts.started_at - received).total_seconds()
        if facts.started_at
        else None,
        "offers_made": facts.offers_made,
        "offers_accepted": facts.offers_accepted,
        "first_offer_accepted": facts.first_offer_accepted,
        "auth_approved": facts.auth_approved,
        "auth_denied": facts.auth_denied,
        "auth_appealed": facts.auth_appealed,
        "auth_overturned": facts.auth_overturned,
        "auth_upheld": facts.auth_upheld,
        "auth_standard_n": facts.auth_standard_n,
        "auth_standard_seconds": facts.auth_standard_seconds,
        "auth_expedited_n": facts.auth_expedited_n,
        "auth_expedited_seconds": facts.auth_expedited_seconds,
        "denial_reason": facts.denial_reason,
        "denied_at": facts.denied_at,
        "next_due_at": facts.next_due_at,
        "claims": facts.claims,
        "filing_missed": facts.filing_missed,
        "grievances": facts.grievances,
        "grievances_substantiated": facts.grievances_substantiated,
        "last_event_id": facts.last_event_id,
    }


def _fold_cases(session: Session, referral_ids: list[int], zone: ZoneInfo) -> None:
    events = repository.events_of(session, referral_ids)
    payers = repository.payers_of(session, referral_ids)
    rows = []
    for rid in referral_ids:
        row = facts_row(rules.fold(rid, events.get(rid, [])), payers.get(rid), zone)
        if row is not None:
            rows.append(row)
    repository.replace_facts(session, referral_ids, rows)


def refresh_facts(session: Session, *, clock: Clock, zone: str, batch: int = FACTS_BATCH) -> int:
    """Fold again the cases whose timeline grew since the last pass (the worker's pass,
    one batch of events); returns how many new events it read (0: up to date)."""
    after = repository.watermark(session)
    ids, last = repository.touched_since(session, after, batch)
    if not ids:
        return 0
    again = repository.touched_between(session, max(after - REREAD_EVENTS, 0), after)
    _fold_cases(session, sorted({*ids, *again}), ZoneInfo(zone))
    repository.set_watermark(session, last, now=clock.now())
    session.flush()
    return last - after


def rebuild_facts(session: Session, *, clock: Clock, zone: str, batch: int = FACTS_BATCH) -> int:
    """Every case's facts again from the event log alone (a new install, a changed time
    zone, or proof that the running figures are the log's); returns how many cases."""
    top = repository.max_event_id(session)
    repository.clear_facts(session)
    tz = ZoneInfo(zone)
    done, after = 0, 0
    while True:
        ids = repository.all_referral_ids(session, after, batch)
        if not ids:
            break
        _fold_cases(session, ids, tz)
        done += len(ids)
        after = ids[-1]
    repository.set_watermark(session, top, now=clock.now())
    session.flush()
    return done


# ---- the KPI pack ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackRow:
    period: date
    key: str  # "" for every case together
    label: str
    counters: rules.Counters
    spread: rules.Spread = field(default_factory=rules.Spread)

    @property
    def figures(self) -> rules.Figures:
        return rules.Figures(self.counters, self.spread)


@dataclass(frozen=True, slots=True)
class ContactRow:
    period: date
    team: str  # "" for every team
    first_contact_resolution: rules.Rate
    handling: rules.HandlingTime


@dataclass(frozen=True, slots=True)
class Pack:
    grain: str
    dimension: str
    periods: list[date]
    rows: list[PackRow]
    contacts: list[ContactRow]
    promises: dict[date, rules.Rate]
    computed_at: datetime
    # Each period's spread over every case (spreads do not add up from the groups').
    period_spreads: dict[date, rules.Spread] = field(default_factory=dict)

    def total(self, period: date) -> rules.Counters:
        out = rules.Counters()
        for row in self.rows:
            if row.period == period:
                out = rules.add_counters(out, row.counters)
        return out

    def total_figures(self, period: date) -> rules.Figures:
        """Every case of the period together: the groups' sums added, the period's spread."""
        return rules.Figures(self.total(period), self.period_spreads.get(period, rules.Spread()))

    def figures(self, period: date, key: str) -> rules.Figures:
        """One group's figures in a period (nothing counted when it had no case)."""
        row = next((r for r in self.rows if r.period == period and r.key == key), None)
        return row.figures if row is not None else rules.Figures(rules.Counters())

    def keys(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for row in self.rows:
            seen.setdefault(row.key, row.label)
        return sorted(seen.items(), key=lambda kv: kv[1])


def _period_bounds(
    grain: str, first: date, last: date, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time.min, zone),
        datetime.combine(rules.period_end(grain, last), time.min, zone),
    )


def kpi_pack(
    session: Session,
    actor: Actor,
    *,
    grain: str,
    start: date,
    end: date,
    dimension: str = "all",
    clock: Clock,
    zone: str,
    with_contacts: bool = True,
) -> Pack:
    """The KPI pack (DOMAIN.md §8) for the weeks or months from ``start`` to ``end``, by
    payer, provider, service line or team, from the case facts (the timeline folded)
    and the contacts. Figures only: no member data."""
    require(actor, "report:read")
    if grain not in rules.GRAINS:
        raise RuleViolationError(
            "The KPI pack cannot be made.",
            errors=[FieldError("grain", f"choose one of: {', '.join(rules.GRAINS)}")],
        )
    if dimension not in (*rules.DIMENSIONS, "team"):
        raise RuleViolationError(
            "The KPI pack cannot be made.",
            errors=[FieldError("by", "choose all, payer, provider, service line or team")],
        )
    check_span(start, end, what="KPI pack", inclusive=True)
    now = clock.now()
    tz = ZoneInfo(zone)
    firsts = rules.periods(grain, start, end)
    case_dimension = dimension if dimension in rules.DIMENSIONS else "all"
    counted = repository.kpi_counters(session, grain, firsts[0], firsts[-1], case_dimension, now)
    labels = repository.names(session, case_dimension, [k for _, k, _ in counted])
    rows = [
        PackRow(
            period,
            "" if key is None else str(key),
            _label(case_dimension, key, labels),
            figures.counters,
            figures.spread,
        )
        for period, key, figures in counted
    ]
    spreads = (
        {row.period: row.spread for row in rows}
        if case_dimension == "all"
        else repository.period_spreads(session, grain, firsts[0], firsts[-1])
    )
    contacts: list[ContactRow] = []
    promises: dict[date, rules.Rate] = {}
    if with_contacts:
        since, until = _period_bounds(grain, firsts[0], firsts[-1], tz)
        facts = _contact_facts(session, since, until)
        for first in firsts:
            p_start, p_end = _period_bounds(grain, first, first, tz)
            in_period = [c for c in facts if p_start <= c.started_at < p_end]
            teams = sorted({c.team for c in in_period}) if dimension == "team" else []
            for team in ["", *teams]:
                of_team = [c for c in facts if not team or c.team == team]
                fcr = rules.first_contact_resolution(of_team, now, since=p_start, until=p_end)
                handling = rules.average_handling_time(
                    [c for c in in_period if not team or c.team == team]
                ).get("", rules.HandlingTime(timedelta(0), 0))
                contacts.append(ContactRow(first, team, fcr, handling))
            promises[first] = rules.kept_promise_rate(
                *escalation_service.kept_promises(session, p_start, p_end)
            )
    return Pack(grain, dimension, firsts, rows, contacts, promises, now, spreads)


def _label(dimension: str, key: Any, labels: dict[Any, str]) -> str:
    if dimension == "all":
        return "Every case"
    if key is None:
        return "No provider yet" if dimension == "provider" else "None recorded"
    if dimension == "service_line":
        return rules.words(rules.SERVICE_LINE_WORDS, str(key))
    return labels.get(key, "Unknown")


def _contact_facts(session: Session, since: datetime, until: datetime) -> list[rules.ContactFact]:
    rows = interaction_service.contact_rows(
        session, since, until + rules.FCR_REPEAT_WINDOW + timedelta(seconds=1)
    )
    return [
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


def pack_csv(pack: Pack) -> str:
    """The pack as CSV: one line per period, group and figure, with its target and source."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["period starting", "group", "figure", "value", "counted", "target", "source"])
    for row in pack.rows:
        for kpi in rules.KPIS:
            value = kpi.value(row.figures)
            writer.writerow(
                [
                    row.period.isoformat(),
                    row.label,
                    kpi.title,
                    "" if value is None else f"{value:.4f}",
                    kpi.counted(row.figures),
                    "" if kpi.target is None else kpi.target,
                    kpi.source,
                ]
            )
    for c in pack.contacts:
        team = rules.words(rules.TEAM_WORDS, c.team) if c.team else "Every team"
        fcr = c.first_contact_resolution
        mean = c.handling.mean
        writer.writerow(
            [
                c.period.isoformat(),
                team,
                "First-contact resolution",
                "" if fcr.value is None else f"{fcr.value:.4f}",
                fcr.counted,
                "",
                "DOMAIN.md §8 first-contact resolution",
            ]
        )
        writer.writerow(
            [
                c.period.isoformat(),
                team,
                "Average handling time (minutes)",
                "" if mean is None else f"{mean.total_seconds() / 60:.2f}",
                c.handling.count,
                "",
                "DOMAIN.md §8 average handling time",
            ]
        )
    for first, rate in pack.promises.items():
        writer.writerow(
            [
                first.isoformat(),
                "Every case",
                "Escalation promises kept",
                "" if rate.value is None else f"{rate.value:.4f}",
                rate.counted,
                "",
                "DOMAIN.md §4, §6 committed resolution ETA",
            ]
        )
    return out.getvalue()


LONGEST_SPAN = timedelta(days=3 * 366)


def check_span(start: date, end: date, *, what: str, inclusive: bool) -> None:
    """Refuse (422 naming ``from`` or ``to``) dates outside the years CareLoop holds,
    an end before the start, or a span longer than LONGEST_SPAN."""
    problems: list[FieldError] = []
    for name, value in (("from", start), ("to", end)):
        problem = date_problem(value, DateKind.filter)
        if problem is not None:
            problems.append(FieldError(name, f"the date {problem}"))
    if not problems and (end < start or (not inclusive and end == start)):
        problems.append(FieldError("to", "the end must come after the start"))
    if not problems and end - start > LONGEST_SPAN:
        problems.append(FieldError("to", "a span of at most three years"))
    if problems:
        raise RuleViolationError(f"The {what} cannot be made.", errors=problems)


def case_facts(session: Session) -> list[dict[str, Any]]:
    """Every case's facts row as kept (a rebuild is compared with it)."""
    return repository.facts_rows(session)


def case_facts_of(session: Session, referral_ids: list[int]) -> list[dict[str, Any]]:
    """The facts rows kept for these cases."""
    return repository.facts_rows(session, referral_ids)


def fold_rows(
    session: Session, referral_ids: list[int], *, clock: Clock, zone: str
) -> list[dict[str, Any]]:
    """These cases' facts folded again from their events, not written (a check of the
    rows kept). ``clock`` is unused: the fold depends on the events alone."""
    del clock
    events = repository.events_of(session, referral_ids)
    payers = repository.payers_of(session, referral_ids)
    tz = ZoneInfo(zone)
    rows = [
        facts_row(rules.fold(rid, events.get(rid, [])), payers.get(rid), tz) for rid in referral_ids
    ]
    return [r for r in rows if r is not None]
