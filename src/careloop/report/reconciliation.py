"""The reconciliation reports of DOMAIN.md §7, as tables of plain words: the daily
referral import, the weekly open-referral report and the monthly denial audit. The
worker runs them on their schedules (``rules.SCHEDULES``) and keeps each run; staff
make any of them on demand (the portal's reports page, ``careloop report``). Read from
the case facts (the timelines folded): case numbers and figures, no member data."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import FieldError, NotFoundError, RuleViolationError
from careloop.identity.permissions import require
from careloop.referral import refusals
from careloop.report import repository, rules
from careloop.report.denials import denial_audit
from careloop.report.service import check_span
from careloop.report.tables import Report, Section, local_time, period_words


def daily_import(session: Session, start: date, end: date, zone: str) -> Report:
    """What arrived by channel in [start, end), what became a case ready to work, what
    needed clarification and why, what looked like a duplicate, what was cancelled, and
    what was refused at the door (never a case) by channel and reason."""
    tz = ZoneInfo(zone)
    since, until = datetime.combine(start, time.min, tz), datetime.combine(end, time.min, tz)
    rows = repository.received_between(session, since, until)
    refused = refusals.refused_between(session, since, until)
    by_channel: dict[str, list[int]] = {}
    reasons: Counter[str] = Counter()
    for r in rows:
        counts = by_channel.setdefault(r.channel or "", [0, 0, 0, 0, 0, 0])
        counts[0] += 1
        counts[1] += not r.needed_clarification and r.status != "cancelled"
        counts[2] += r.needed_clarification
        counts[3] += r.possible_duplicate
        counts[4] += r.status == "cancelled"
        reasons.update(r.clarification_codes)
    refused_why: Counter[tuple[str, str]] = Counter()
    for refusal in refused:
        by_channel.setdefault(refusal.channel, [0, 0, 0, 0, 0, 0])[5] += 1
        for field, rule in refusal.reasons or [("", "rule_violation")]:
            refused_why[(refusal.channel, rules.refusal_words(field, rule))] += 1
    order = [c for c in (*rules.CHANNELS, "api") if c in by_channel] + sorted(
        c for c in by_channel if c not in (*rules.CHANNELS, "api")
    )
    channel_rows: list[list[str | int | float | None]] = [
        [rules.words(rules.CHANNEL_WORDS, c or None), *by_channel[c]] for c in order
    ]
    totals = [sum(by_channel[c][i] for c in by_channel) for i in range(6)]
    channel_rows.append(["Every channel", *totals])
    return Report(
        "daily-import",
        rules.REPORT_TITLES["daily-import"],
        period_words(start, end),
        [
            "Every referral that arrived became a case with a case number; one that "
            "could not (no name, no birth date, no item, a file that is not a document) "
            "was refused at the door and the sender was told why at once.",
            f"{len(refused)} submission{'s were' if len(refused) != 1 else ' was'} "
            "refused at the door.",
        ],
        [
            Section(
                "What arrived, by channel",
                [
                    "Channel",
                    "Arrived",
                    "Complete",
                    "Needed clarification",
                    "Possible duplicates",
                    "Cancelled",
                    "Refused at the door",
                ],
                channel_rows,
            ),
            Section(
                "Why clarification was needed",
                ["What was missing or wrong", "Referrals"],
                [[rules.finding_words(code), n] for code, n in reasons.most_common()],
            ),
            Section(
                "Refused at the door, by channel and reason",
                ["Channel", "What was wrong", "Submissions"],
                [
                    [rules.words(rules.CHANNEL_WORDS, channel), why, n]
                    for (channel, why), n in sorted(
                        refused_why.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])
                    )
                ],
            ),
        ],
    )


def open_referrals(session: Session, now: datetime, zone: str) -> Report:
    """Every open case with its age, status, owner and next deadline, by payer and
    provider, and the counts per payer and provider."""
    tz = ZoneInfo(zone)
    cases = repository.open_cases(session)
    detail: list[list[str | int | float | None]] = []
    summary: dict[tuple[str, str], list[int]] = {}
    for c in cases:
        payer = c.payer or "No payer recorded"
        provider = c.provider or "No provider yet"
        overdue = c.next_due_at is not None and c.next_due_at < now
        detail.append(
            [
                payer,
                provider,
                c.case_number,
                rules.age_words(c.received_at, now),
                rules.words(rules.STATUS_WORDS, c.status),
                c.owner or "Nobody yet",
                local_time(c.next_due_at, tz) + (" (overdue)" if overdue else ""),
            ]
        )
        counts = summary.setdefault((payer, provider), [0, 0])
        counts[0] += 1
        counts[1] += overdue
    local_today = now.astimezone(tz).date()
    return Report(
        "open-referrals",
        rules.REPORT_TITLES["open-referrals"],
        f"Open on {local_today.strftime('%a %d %b %Y')}",
        [],
        [
            Section(
                "Open cases by payer and provider",
                ["Payer", "Provider", "Open", "Overdue"],
                [[p, v, n[0], n[1]] for (p, v), n in sorted(summary.items())],
            ),
            Section(
                "Every open case",
                ["Payer", "Provider", "Case", "Age", "Status", "Owner", "Next deadline"],
                detail,
            ),
        ],
    )


def make_report(
    session: Session, actor: Actor, name: str, *, start: date, end: date, clock: Clock, zone: str
) -> Report:
    """A report on demand for [start, end) (the open-referral report: open now)."""
    require(actor, "report:read")
    return _make(session, name, start, end, clock=clock, zone=zone)


def _make(
    session: Session, name: str, start: date, end: date, *, clock: Clock, zone: str
) -> Report:
    if name not in rules.REPORT_NAMES:
        raise RuleViolationError(
            "There is no such report.",
            errors=[FieldError("name", f"choose one of: {', '.join(rules.REPORT_NAMES)}")],
        )
    check_span(start, end, what="report", inclusive=False)
    if name == "daily-import":
        return daily_import(session, start, end, zone)
    if name == "denial-audit":
        return denial_audit(session, start, end, zone)
    return open_referrals(session, clock.now(), zone)


def run_due_reports(session: Session, *, clock: Clock, zone: str) -> list[str]:
    """Run each scheduled report whose latest due time passed and whose period has no
    run yet (the worker's pass); returns the names run."""
    tz = ZoneInfo(zone)
    now = clock.now()
    ran = []
    for schedule in rules.SCHEDULES:
        due = rules.last_due(schedule, now, tz)
        start, end = rules.scheduled_period(schedule, due, tz)
        if repository.run_of(session, schedule.report, start, end) is not None:
            continue
        report = _make(session, schedule.report, start, end, clock=clock, zone=zone)
        repository.save_run(session, schedule.report, start, end, now=now, data=report.as_json())
        ran.append(schedule.report)
    return ran


@dataclass(frozen=True, slots=True)
class RunRead:
    id: int
    name: str
    title: str
    period: str
    computed_at: datetime


def list_runs(session: Session, actor: Actor, *, limit: int = 60) -> list[RunRead]:
    require(actor, "report:read")
    return [
        RunRead(r.id, r.name, r.data.get("title", r.name), r.data.get("period", ""), r.computed_at)
        for r in repository.runs(session, limit)
    ]


def get_run(session: Session, actor: Actor, run_id: int) -> Report:
    require(actor, "report:read")
    run = repository.run_by_id(session, run_id)
    if run is None:
        raise ReportNotFoundError(f"There is no report {run_id}.")
    return Report.from_json(run.data)


class ReportNotFoundError(NotFoundError):
    pass
