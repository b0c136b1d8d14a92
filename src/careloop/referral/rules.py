"""Referral rules: the intake checklist (DOMAIN.md §3), the deadlines (§4) and the
status machine. Pure functions: no database, no HTTP; every figure comes from the
payer's rules, whose defaults are the figures of DOMAIN.md.

Status machine (a refinement of DESIGN.md §2 for intake and provider assignment)::

    submit ─► received ──acknowledge──► acknowledged ──offer──► offered ──accept_offer──► accepted
        └──► needs_clarification ──supply_information (no errors left)──► received
                 │                                          (or acknowledged, if it was)
                 └─acknowledge─► needs_clarification (acknowledgement recorded)
    received | acknowledged ──supply_information (new errors)──► needs_clarification
    offered ──offer_lapsed (declined, expired, withdrawn)──► acknowledged ──offer──► offered
    offered ──offer_lapsed, no candidate left──► acknowledged ──mark_unplaced──► unplaced
    unplaced ──offer──► offered          any open status ──cancel──► cancelled

Acknowledging is telling the referrer the case number and the case manager; it can and
should happen while information is still missing, so it does not wait for clarification.
"""

from __future__ import annotations

import functools
import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from careloop.codes import (
    Icd10Status,
    ServiceLine,
    check_icd10,
    code_format_problem,
    lookup_hcpcs,
    normalise_phone,
    npi_problem,
    state_problem,
    zip_info,
    zip_problem,
)
from careloop.core.errors import IllegalTransitionError
from careloop.payer.rules import PayerRules
from careloop.referral import refused_words
from careloop.referral.enums import (
    OPEN_STATUSES,
    CodeSystem,
    ReferralAction,
    ReferralStatus,
    Severity,
)
from careloop.referral.schemas import ReferralCreate
from careloop.sla import ServiceClass, compute_due, discharge_escalation, service_deadline

#: Used when neither the member's time zone nor their ZIP code tells us one.
DEFAULT_TIME_ZONE = "America/New_York"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    field: str
    message: str
    severity: Severity = Severity.error
    related_case_number: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "severity": self.severity.value,
            "related_case_number": self.related_case_number,
        }


@dataclass(frozen=True, slots=True)
class PayerFacts:
    """What the checks need to know of the payer the referral names."""

    named: bool
    found: bool
    name: str | None
    rules: PayerRules


@dataclass(frozen=True, slots=True)
class Deadlines:
    service_class: ServiceClass
    time_zone: str
    ack_due_at: datetime
    service_due_at: datetime
    escalated: bool
    escalation_reason: str | None


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.error for f in findings)


# ---- the checklist -----------------------------------------------------------------------


def check_referral(
    draft: ReferralCreate,
    *,
    payer: PayerFacts,
    now: datetime,
    received_at: datetime | None = None,
) -> list[Finding]:
    """Every checklist item (DOMAIN.md §3) that is missing or wrong, as findings.

    Only what makes a case at all (name, birth date, one item) is enforced by the schema;
    the rest is reported here so the referral is kept and the gaps are worked.
    """
    today = now.astimezone(UTC).date()
    findings: list[Finding] = []
    findings += _check_member(draft, payer, today)
    findings += _check_coverage(draft, payer)
    findings += _check_ordering_provider(draft)
    findings += _check_signed_order(draft, payer, today)
    findings += _check_diagnoses(draft)
    findings += _check_items(draft)
    findings += _check_dates(draft, now, received_at or now)
    findings += _check_frequent_denials(draft, payer)
    return findings


def _check_frequent_denials(draft: ReferralCreate, payer: PayerFacts) -> list[Finding]:
    """Checks a payer turned on for the denial reasons it gives most (findings at the
    source; appeal/rules.py maps every denial reason to its preventing check)."""
    out: list[Finding] = []
    if "not_medically_necessary" in payer.rules.intake.denials_checked and not (
        draft.notes and draft.diagnoses
    ):
        out.append(
            Finding(
                "medical_necessity_undocumented",
                "notes",
                "This payer often denies for lack of medical necessity: give the clinical "
                "rationale in the notes, with the diagnoses, before the request goes out.",
            )
        )
    return out


def _check_member(draft: ReferralCreate, payer: PayerFacts, today: date) -> list[Finding]:
    member = draft.member
    out: list[Finding] = []
    if member.birth_date > today:
        out.append(
            Finding(
                "birth_date_in_future",
                "member.birth_date",
                "The date of birth is in the future: check the day, month and year.",
            )
        )
    elif _years_between(member.birth_date, today) > payer.rules.intake.member_max_age_years:
        out.append(
            Finding(
                "birth_date_implausible",
                "member.birth_date",
                f"The date of birth is more than "
                f"{payer.rules.intake.member_max_age_years} years ago: "
                "check the year.",
            )
        )
    if not member.phone:
        out.append(
            Finding(
                "member_phone_missing",
                "member.phone",
                "No contact phone for the member: the provider must be able to "
                "call to arrange the delivery or visit.",
            )
        )
    elif normalise_phone(member.phone) is None:
        out.append(
            Finding(
                "member_phone_invalid",
                "member.phone",
                "The member's phone number is not a valid US number.",
            )
        )
    if member.time_zone and not _is_time_zone(member.time_zone):
        out.append(
            Finding(
                "time_zone_unknown",
                "member.time_zone",
                "The time zone is not a known IANA name such as America/New_York.",
                Severity.warning,
            )
        )
    out += _check_address(draft)
    return out


def _check_address(draft: ReferralCreate) -> list[Finding]:
    address = draft.member.address
    if address is None or not (address.line1 and address.city and address.state and address.zip):
        return [
            Finding(
                "address_incomplete",
                "member.address",
                "The service address needs street, city, state and ZIP code: "
                "it is where the equipment is delivered or the nurse visits.",
            )
        ]
    out: list[Finding] = []
    state = address.state.upper()
    problem = state_problem(state)
    if problem:
        out.append(
            Finding("address_state_invalid", "member.address.state", f"The state {problem}.")
        )
        return out
    problem = zip_problem(address.zip, state)
    if problem:
        out.append(
            Finding(
                "address_zip_mismatch",
                "member.address.zip",
                f"The ZIP code does not fit the address: {problem}.",
            )
        )
    return out


def _check_coverage(draft: ReferralCreate, payer: PayerFacts) -> list[Finding]:
    coverage = draft.coverage
    out: list[Finding] = []
    if not payer.named:
        out.append(
            Finding(
                "payer_missing",
                "coverage.payer_id",
                "No payer (health plan) named: send coverage.payer_id or coverage.payer_name.",
            )
        )
    elif not payer.found:
        out.append(
            Finding(
                "payer_unknown",
                "coverage.payer_id",
                "The payer is not one CareLoop coordinates for: check the plan "
                "name on the member's card.",
            )
        )
    if coverage is None or not coverage.member_id:
        out.append(
            Finding(
                "member_id_missing",
                "coverage.member_id",
                "No policy / member ID from the member's insurance card.",
            )
        )
    return out


def _check_ordering_provider(draft: ReferralCreate) -> list[Finding]:
    provider = draft.ordering_provider
    out: list[Finding] = []
    if provider is None or not provider.npi:
        out.append(
            Finding(
                "ordering_npi_missing",
                "ordering_provider.npi",
                "No NPI for the ordering clinician.",
            )
        )
    else:
        problem = npi_problem(provider.npi)
        if problem:
            out.append(
                Finding(
                    "ordering_npi_invalid",
                    "ordering_provider.npi",
                    f"The ordering clinician's NPI {problem}.",
                )
            )
    if provider is None or not provider.name:
        out.append(
            Finding(
                "ordering_name_missing",
                "ordering_provider.name",
                "No name for the ordering clinician.",
            )
        )
    if provider is None or not (provider.phone or provider.fax):
        out.append(
            Finding(
                "ordering_contact_missing",
                "ordering_provider.phone",
                "No phone or fax for the ordering clinician's office: clarification "
                "questions need somewhere to go.",
                Severity.warning,
            )
        )
    return out


def _check_signed_order(draft: ReferralCreate, payer: PayerFacts, today: date) -> list[Finding]:
    order = draft.signed_order
    if order is None:
        return [
            Finding(
                "signed_order_missing",
                "signed_order",
                "No signed physician order or prescription: service cannot start without one.",
            )
        ]
    out: list[Finding] = []
    max_age = payer.rules.intake.signed_order_max_age
    if order.signed_on > today:
        out.append(
            Finding(
                "signed_order_future",
                "signed_order.signed_on",
                "The order's signature date is in the future.",
            )
        )
    elif (today - order.signed_on) > max_age:
        out.append(
            Finding(
                "signed_order_expired",
                "signed_order.signed_on",
                f"The order was signed more than {max_age.days} days ago, longer "
                "than this payer accepts: a newly signed order is needed.",
            )
        )
    if order.signer_npi:
        problem = npi_problem(order.signer_npi)
        if problem:
            out.append(
                Finding(
                    "signer_npi_invalid",
                    "signed_order.signer_npi",
                    f"The signing clinician's NPI {problem}.",
                )
            )
    return out


def _check_diagnoses(draft: ReferralCreate) -> list[Finding]:
    if not draft.diagnoses:
        return [
            Finding(
                "diagnosis_missing",
                "diagnoses",
                "No diagnosis: at least one ICD-10-CM code is needed.",
            )
        ]
    out: list[Finding] = []
    for index, diagnosis in enumerate(draft.diagnoses):
        field = f"diagnoses.{index}.code"
        check = check_icd10(diagnosis.code)
        if check.status is Icd10Status.billable:
            continue
        if check.status is Icd10Status.not_billable:
            hint = ", ".join(check.suggestions[:4])
            out.append(
                Finding(
                    "diagnosis_not_billable",
                    field,
                    f"{check.code} is a category, not a billable code: use a more "
                    f"specific code" + (f" such as {hint}." if hint else "."),
                )
            )
        elif check.status is Icd10Status.malformed:
            out.append(
                Finding(
                    "diagnosis_malformed",
                    field,
                    f"{diagnosis.code!r} is not written like an ICD-10-CM code "
                    "(a letter, two characters, then up to four after a dot, "
                    "e.g. J44.1).",
                )
            )
        else:
            out.append(
                Finding(
                    "diagnosis_unknown", field, f"{check.code} is not in the ICD-10-CM code set."
                )
            )
    return out


def _check_items(draft: ReferralCreate) -> list[Finding]:
    out: list[Finding] = []
    for index, item in enumerate(draft.items):
        field = f"items.{index}.code"
        problem = code_format_problem(item.code, item.code_system.value)
        if problem:
            out.append(Finding(f"{item.code_system.value.lower()}_malformed", field, problem))
        elif item.code_system is CodeSystem.HCPCS and lookup_hcpcs(item.code) is None:
            out.append(
                Finding(
                    "hcpcs_not_home_care",
                    field,
                    f"{item.code.upper()} is not in CareLoop's home-care HCPCS table: "
                    "check the code, or coordinate it outside CareLoop.",
                )
            )
    return out


def _check_dates(draft: ReferralCreate, now: datetime, received_at: datetime) -> list[Finding]:
    """A discharge must still be ahead now; the requested start is judged against the
    day the order was received, so a later clarification does not make it 'late'."""
    out: list[Finding] = []
    if draft.discharge_at is not None and draft.discharge_at < now:
        out.append(
            Finding(
                "discharge_in_past",
                "discharge_at",
                "The discharge time has already passed: send the new discharge "
                "date and time, or leave it out if the member is home.",
            )
        )
    received_on = received_at.astimezone(UTC).date()
    if draft.requested_start is not None and draft.requested_start < received_on:
        out.append(
            Finding(
                "requested_start_in_past",
                "requested_start",
                "The requested start date is before the order was received: give "
                "the earliest date the service is still needed.",
            )
        )
    return out


def _years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---- deadlines -----------------------------------------------------------------------------


def service_class(items: Sequence[tuple[str, CodeSystem]]) -> ServiceClass:
    """The service line that sets the start deadline: complex equipment wins, then
    infusion, then DME; a referral of visits only is home health. CPT lines are services
    (home-health visits), since the home-care table holds only HCPCS codes."""
    lines: set[ServiceLine] = set()
    for code, system in items:
        if system is CodeSystem.CPT:
            lines.add(ServiceLine.home_health)
            continue
        entry = lookup_hcpcs(code)
        if entry is None:
            continue
        if entry.complex:
            return ServiceClass.complex_dme
        lines.add(entry.service_line)
    if ServiceLine.infusion in lines:
        return ServiceClass.infusion
    if ServiceLine.dme in lines or not lines:
        return ServiceClass.standard_dme
    return ServiceClass.home_health


def member_time_zone(time_zone: str | None, zip_code: str | None) -> str:
    """Deadlines run in the member's local time: the zone given, else the ZIP's zone."""
    if time_zone and _is_time_zone(time_zone):
        return time_zone
    if zip_code:
        info = zip_info(zip_code)
        if info is not None and info.time_zone and _is_time_zone(info.time_zone):
            return info.time_zone
    return DEFAULT_TIME_ZONE


def compute_deadlines(
    *,
    rules: PayerRules,
    received_at: datetime,
    now: datetime,
    items: Sequence[tuple[str, CodeSystem]],
    time_zone: str,
    discharge_at: datetime | None,
) -> Deadlines:
    """Acknowledgement and service-start deadlines, and whether the case escalates."""
    policy = rules.sla
    klass = service_class(items)
    ack_due = compute_due(
        policy.acknowledgement, received_at, time_zone=time_zone, hours=policy.business_hours
    )
    service_due = service_deadline(
        policy, klass, received_at, time_zone=time_zone, discharge_at=discharge_at
    )
    reason = discharge_escalation(policy, now, discharge_at) if discharge_at else None
    return Deadlines(klass, time_zone, ack_due, service_due, reason is not None, reason)


# ---- the same person, for duplicate detection -------------------------------------------

#: Unicode categories kept when a name is folded: letters of every script and digits.
_KEPT_CATEGORIES = ("L", "Nd")


@functools.lru_cache(maxsize=8192)
def fold_name(value: str) -> str:
    """A name as duplicate detection compares it: NFKC-normalised, case-folded, without
    combining marks and without anything that is not a letter or a digit (by Unicode
    category). Letters of every script stay: "O'Neil" and "ONeil" fold alike, so do "Zoë"
    and "Zoe", "王 小明" and "王小明"; "Иванов" and "Петров" do not. Remembered: a
    bulk file repeats first names thousands of times."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value).casefold())
    return "".join(c for c in decomposed if unicodedata.category(c).startswith(_KEPT_CATEGORIES))


def duplicate_key(first_name: str, last_name: str, birth_date: date) -> str:
    """A stable key for "the same person" across channels (a fax says "O'Neil", the
    portal "ONeil"). It serves duplicate detection only: it never grants access to a
    case (members see the cases their account is linked to)."""
    raw = f"{fold_name(last_name)}|{fold_name(first_name)}|{birth_date.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


#: What a caller who may not read the other case learns of a possible duplicate.
DUPLICATE_NOTICE = (
    "A similar referral may already be open; the coordinator will check before working it."
)


def possible_duplicate(case_number: str, hours_ago: float) -> Finding:
    """The finding as staff read it: the other case's number and its age. Callers who
    may not read every case get :func:`redacted_finding` instead."""
    return Finding(
        "possible_duplicate",
        "items",
        f"This looks like case {case_number}, received {hours_ago:.0f} h ago for the same "
        "member, item and ordering clinician: check before working both.",
        Severity.warning,
        related_case_number=case_number,
    )


def redact_findings(findings: Iterable[dict[str, str | None]]) -> list[dict[str, str | None]]:
    """Stored findings as a caller who may not read every case sees them: findings that
    name another case become one notice that the coordinator will check (no case
    number, no age, not how many)."""
    out: list[dict[str, str | None]] = []
    noticed = False
    for finding in findings:
        if not finding.get("related_case_number"):
            out.append(finding)
        elif not noticed:
            noticed = True
            out.append({**finding, "message": DUPLICATE_NOTICE, "related_case_number": None})
    return out


# ---- status machine ------------------------------------------------------------------------
#
#   received ⇄ needs_clarification → acknowledged → eligibility_verified
#   eligibility_verified → authorization_pending → authorized | denied (→ appeal → pending)
#   eligibility_verified (no prior authorisation needed) | authorized | unplaced → offered
#   offered → accepted | back to waiting for an offer | unplaced
#   accepted → scheduled → fulfilled → closed;  scheduled → missed → scheduled
#   denied → closed;  any open status → cancelled

A = ReferralAction
S = ReferralStatus

_ALLOWED: dict[ReferralStatus, tuple[ReferralAction, ...]] = {
    S.received: (A.acknowledge, A.supply_information, A.cancel),
    S.needs_clarification: (A.acknowledge, A.supply_information, A.cancel),
    S.acknowledged: (A.supply_information, A.verify_eligibility, A.cancel),
    S.eligibility_verified: (
        A.verify_eligibility,
        A.request_authorization,
        A.offer,
        A.mark_unplaced,
        A.cancel,
    ),
    S.authorization_pending: (A.record_authorization_decision, A.cancel),
    S.authorized: (A.offer, A.mark_unplaced, A.cancel),
    S.denied: (A.appeal, A.close, A.cancel),
    S.offered: (A.accept_offer, A.offer_lapsed, A.cancel),
    S.unplaced: (A.offer, A.cancel),
    S.accepted: (A.schedule, A.cancel),
    S.scheduled: (A.schedule, A.record_delivery, A.record_missed, A.cancel),
    S.missed: (A.schedule, A.cancel),
    S.fulfilled: (A.close,),
    S.closed: (),
    S.cancelled: (),
}

_TARGET: dict[ReferralAction, ReferralStatus] = {
    A.cancel: S.cancelled,
    A.offer: S.offered,
    A.accept_offer: S.accepted,
    A.mark_unplaced: S.unplaced,
    A.request_authorization: S.authorization_pending,
    A.appeal: S.authorization_pending,
    A.schedule: S.scheduled,
    A.record_delivery: S.fulfilled,
    A.record_missed: S.missed,
    A.close: S.closed,
}

#: What a reviewer's decision does to the case.
_DECISION_TARGET = {
    "approved": S.authorized,
    "partially_approved": S.authorized,
    "pended": S.authorization_pending,
    "denied": S.denied,
}


#: Moves a person makes on the case itself; the others happen through offers (a provider
#: accepts) or by the system (an offer lapses, no candidate is left).
CASE_ACTIONS = frozenset(
    {
        A.acknowledge,
        A.supply_information,
        A.verify_eligibility,
        A.request_authorization,
        A.record_authorization_decision,
        A.appeal,
        A.offer,
        A.schedule,
        A.record_delivery,
        A.record_missed,
        A.close,
        A.cancel,
    }
)


def allowed_actions(
    status: ReferralStatus,
    *,
    acknowledged: bool,
    authorization_required: bool | None = None,
    case_actions_only: bool = True,
) -> list[ReferralAction]:
    """The moves allowed from ``status``; by default only those made on the case page.

    Once eligibility is verified, a case whose items need prior authorisation must get it
    before it is offered; a case that needs none is offered straight away (issue 4)."""
    actions = _ALLOWED[status]
    if acknowledged:
        actions = tuple(a for a in actions if a is not A.acknowledge)
    if status is S.eligibility_verified:
        skip = A.offer if authorization_required else A.request_authorization
        actions = tuple(a for a in actions if a is not skip)
    if case_actions_only:
        actions = tuple(a for a in actions if a in CASE_ACTIONS)
    return list(actions)


def initial_status(findings: Iterable[Finding]) -> ReferralStatus:
    return S.needs_clarification if has_errors(findings) else S.received


def next_status(
    current: ReferralStatus,
    action: ReferralAction,
    *,
    acknowledged: bool,
    errors_remain: bool = False,
    authorization_required: bool | None = None,
    outcome: str | None = None,
) -> ReferralStatus:
    """The status after ``action``, or IllegalTransitionError naming the allowed moves.

    ``outcome`` carries what decides the target of an action with several: whether the
    coverage is active (``verify_eligibility``), the reviewer's decision
    (``record_authorization_decision``)."""
    allowed = allowed_actions(
        current,
        acknowledged=acknowledged,
        authorization_required=authorization_required,
        case_actions_only=False,
    )
    if action not in allowed:
        raise _illegal(current, action, allowed, acknowledged=acknowledged)
    if action in _TARGET:
        return _TARGET[action]
    return _target_of(current, action, acknowledged, errors_remain, authorization_required, outcome)


def _target_of(
    current: ReferralStatus,
    action: ReferralAction,
    acknowledged: bool,
    errors_remain: bool,
    authorization_required: bool | None,
    outcome: str | None,
) -> ReferralStatus:
    """The target of the actions whose target depends on the case or on an outcome."""
    target: ReferralStatus
    if action is A.acknowledge:
        target = current if current is S.needs_clarification else S.acknowledged
    elif action is A.verify_eligibility:
        target = S.eligibility_verified if outcome == "active" else S.acknowledged
    elif action is A.record_authorization_decision:
        target = _DECISION_TARGET[outcome or ""]
    elif action is A.offer_lapsed:
        target = S.authorized if authorization_required else S.eligibility_verified
    elif errors_remain:  # supply_information
        target = S.needs_clarification
    else:
        target = S.acknowledged if acknowledged else S.received
    return target


def _illegal(
    current: ReferralStatus,
    action: ReferralAction,
    allowed: list[ReferralAction],
    *,
    acknowledged: bool,
) -> IllegalTransitionError:
    shown = [a for a in allowed if a in CASE_ACTIONS]
    names = ", ".join(a.value for a in shown) or "none from here"
    said = refused_words.refused_move(action, current, acknowledged=acknowledged)
    return IllegalTransitionError(
        f"{said} Allowed now: {names}.",
        extra={"status": current.value, "allowed_actions": [a.value for a in shown]},
    )


def is_open(status: ReferralStatus) -> bool:
    return status in OPEN_STATUSES


# ---- clocks the worker watches -------------------------------------------------------------

#: A warning fires when this share of the service window has passed (scheduling issue:
#: "warns before a service deadline (default at 75 % of the window)").
SERVICE_WARNING_AT = 0.75


#: KPI "acknowledgement within 24 h" (DOMAIN.md §8): each acknowledgement's timeline
#: event records whether it came this soon after receipt (report/rules.py ACK_WITHIN).
ACK_KPI_WINDOW = timedelta(hours=24)


def acknowledged_within_kpi(received_at: datetime, acknowledged_at: datetime) -> bool:
    """Whether an acknowledgement meets the 24-hour KPI (DOMAIN.md §8)."""
    return acknowledged_at - received_at <= ACK_KPI_WINDOW


def service_warning_due(started_at: datetime, due_at: datetime) -> datetime:
    """When to warn that a service deadline approaches."""
    return started_at + (due_at - started_at) * SERVICE_WARNING_AT


def discharge_watch_due(discharge_at: datetime, window: timedelta, now: datetime) -> datetime:
    """When a discharge becomes 'at risk' if no provider has taken the case: once it is
    less than ``window`` away (DOMAIN.md §4: 24 h), or now when it already is."""
    if discharge_at - datetime.min.replace(tzinfo=UTC) <= window:
        return now  # a date at the start of the calendar: long past (found by fuzzing)
    return max(now, discharge_at - window)


def discharge_report_words(
    discharge_at: datetime, time_zone: str, *, expected: bool, date_only: bool = False
) -> str:
    """The hospital's report on the timeline, in the member's local time: "The hospital
    reported the discharge for 5 March, 14:00" (or that it expects it then)."""
    local = discharge_at.astimezone(ZoneInfo(time_zone))
    when = f"{local.day} {local:%B}" + ("" if date_only else f", {local:%H:%M}")
    if expected:
        return f"The hospital expects the discharge on {when}"
    return f"The hospital reported the discharge for {when}"
