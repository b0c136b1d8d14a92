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

The KPI pack's figures (each formula, its target and its source) are in ``kpis.py``;
they are re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from careloop.prior_auth.rules import CARC, DenialReason
from careloop.report.fold import CaseFacts, EventFact, fold, month_of, week_of
from careloop.report.kpis import (
    ACK_TARGET,
    ACK_WITHIN,
    CLARIFICATION_TARGET,
    COUNTER_FIELDS,
    DIMENSIONS,
    GRAINS,
    KPI_BY_KEY,
    KPIS,
    ON_TIME_TARGET,
    SCORECARD_KPIS,
    SPREAD_FIELDS,
    Counters,
    Figures,
    Kpi,
    Spread,
    acknowledged_within_24h,
    add_counters,
    counters_from,
    counters_of,
    figures_of,
    meets_target,
    on_time_decided,
    percentile,
    period_end,
    periods,
    spread_from,
    spread_of,
)

#: Weeks of history the staff home page charts.
DEFAULT_WEEKS = 8


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
    "api": "JSON API",
}
#: A refused submission's rule (referral.refusals: the bulk import's vocabulary, the
#: JSON API's and FHIR's errors, a refused file's code) as a phrase after the field.
REFUSAL_RULE_WORDS = {
    "required": "missing",
    "unknown_field": "not a field of a referral",
    "unknown_code": "not one of the allowed values",
    "whole_number": "not a whole number",
    "true_or_false": "not yes or no",
    "out_of_range": "out of range",
    "too_long": "too long",
    "too_short": "too short or empty",
    "too_many": "too many",
    "too_few": "too few",
    "text": "not text",
    "object": "not in the expected shape",
    "list": "not a list",
    "date": "not a date written year-month-day",
    "invalid_value": "not valid",
    "repeated": "repeated from an earlier line",
    "column_count": "with the wrong number of columns",
    "control_characters": "with characters that cannot be printed",
    "malformed_json": "not readable as JSON",
    "not_readable": "not readable",
    "unsupported_media_type": "not sent in an accepted format",
    "payload_too_large": "too large",
    "unsupported_file_type": "not a PDF or TIFF",
    "unreadable_file": "damaged or unreadable",
    "rule_violation": "refused by a rule",
}


def refusal_words(field: str, rule: str) -> str:
    """``member.birth_date`` and ``required``: "Member birth date: missing"."""
    what = finding_words(field.replace(".", " ")) if field else "The submission"
    if field.startswith("Bundle"):
        what = "The FHIR Bundle " + finding_words(field.removeprefix("Bundle.")).lower()
    return f"{what}: {REFUSAL_RULE_WORDS.get(rule, rule.replace('_', ' '))}"


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
    "missed": "Missed; being rescheduled",
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


#: Claim adjustment reason codes (CARC, X12 code list 139) an 835 gives for a denial or
#: an adjustment, in plain words: the codes home-care claims meet most. A code not here
#: is shown by its number.
CARC_WORDS = {
    "1": "Deductible",
    "2": "Coinsurance",
    "3": "Co-payment",
    "4": "Modifier missing or wrong for the service",
    "5": "Place of service wrong for the service",
    "11": "Diagnosis does not fit the service",
    "16": "Missing or wrong information on the claim",
    "18": "Duplicate claim or service",
    "22": "Another payer may pay first",
    "23": "Already paid by another payer",
    "26": "Service before coverage began",
    "27": "Service after coverage ended",
    "29": "Filed too late",
    "31": "Patient not known as a member of the plan",
    "45": "Charge above the fee schedule",
    "50": "Not medically necessary",
    "96": "Not covered",
    "97": "Paid as part of another service",
    "109": "Not covered by this payer",
    "119": "Benefit maximum reached",
    "151": "More services than the information supports",
    "167": "Diagnosis not covered",
    "170": "Not paid when billed by this kind of provider",
    "183": "Referring provider not eligible",
    "185": "Rendering provider not eligible",
    "197": "No prior authorisation",
    "198": "More than the authorisation allows",
    "204": "Not covered by the member's plan",
    "242": "Provider out of network",
    "252": "More documents needed",
}
#: Who the payer says owes an adjustment (the 835's claim adjustment group code).
CARC_GROUP_WORDS = {
    "CO": "the provider's contract",
    "PR": "the member",
    "OA": "other",
    "PI": "the payer's decision",
    "CR": "a correction",
}
#: The claim denials an intake check would have caught: the preventable authorisation
#: denials' codes (prior_auth's CARC: 16 missing information, 197 no authorisation, 242
#: out of network).
PREVENTABLE_CARCS = frozenset(CARC[DenialReason(r)] for r in PREVENTABLE_DENIALS)


def carc_words(code: str) -> str:
    """``197`` as "No prior authorisation (code 197)"."""
    if not code:
        return "Reason not given"
    return f"{CARC_WORDS.get(code, 'Adjustment')} (code {code})"


def money_words(value: Decimal) -> str:
    """An exact amount as money: ``$1,234.50`` (negative: ``-$12.00``)."""
    cents = value.quantize(Decimal("0.01"))
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


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


#: Words of a finding's code that are written in capitals (``ordering_npi_invalid``).
_ACRONYMS = {"npi": "NPI", "id": "ID", "icd": "ICD", "hcpcs": "HCPCS", "zip": "ZIP"}


def finding_words(code: str) -> str:
    """An intake finding's code as a phrase (``member_phone_missing``: Member phone
    missing; ``ordering_npi_invalid``: Ordering NPI invalid)."""
    words = [_ACRONYMS.get(w, w) for w in code.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


__all__ = [
    "ACK_TARGET",
    "ACK_WITHIN",
    "CLARIFICATION_TARGET",
    "COUNTER_FIELDS",
    "DIMENSIONS",
    "GRAINS",
    "KPIS",
    "KPI_BY_KEY",
    "ON_TIME_TARGET",
    "SCORECARD_KPIS",
    "SPREAD_FIELDS",
    "CaseFacts",
    "Counters",
    "EventFact",
    "Figures",
    "Kpi",
    "Spread",
    "acknowledged_within_24h",
    "add_counters",
    "counters_from",
    "counters_of",
    "figures_of",
    "fold",
    "meets_target",
    "month_of",
    "on_time_decided",
    "percentile",
    "period_end",
    "periods",
    "spread_from",
    "spread_of",
    "week_of",
]
