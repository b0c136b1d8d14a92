"""Work-queue rules: the urgency order, and what each item asks of a person in plain words.

Pure: no database and no HTTP. Clock kinds arrive as their string values (``ClockKind``
is a ``StrEnum`` that lives with the sla tables, so it compares equal to these).
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol, TypeVar

from careloop.referral.enums import ReferralStatus, Urgency
from careloop.sla import format_duration

ACKNOWLEDGEMENT = "acknowledgement"
SERVICE_START = "service_start"
SERVICE_WARNING = "service_warning"
DISCHARGE = "discharge"
OFFER_RESPONSE = "offer_response"
CREDENTIAL_EXPIRY = "credential_expiry"
AUTHORIZATION_DECISION = "authorization_decision"
APPEAL_DEADLINE = "appeal_deadline"
AUTHORIZATION_EXPIRY = "authorization_expiry"
APPOINTMENT_OUTCOME = "appointment_outcome"
RESUPPLY = "resupply"
ESCALATION_COMMIT = "escalation_commit"
ESCALATION_ETA = "escalation_eta"
APPEAL_FILING = "appeal_filing"
APPEAL_DECISION = "appeal_decision"
GRIEVANCE_ACKNOWLEDGEMENT = "grievance_acknowledgement"
GRIEVANCE_RESOLUTION = "grievance_resolution"
TIMELY_FILING = "timely_filing"
CLAIM_PREPARATION = "claim_preparation"

#: Every clock kind the queue knows how to describe.
KINDS = frozenset(
    {
        ACKNOWLEDGEMENT,
        SERVICE_START,
        SERVICE_WARNING,
        DISCHARGE,
        OFFER_RESPONSE,
        CREDENTIAL_EXPIRY,
        AUTHORIZATION_DECISION,
        APPEAL_DEADLINE,
        AUTHORIZATION_EXPIRY,
        APPOINTMENT_OUTCOME,
        RESUPPLY,
        ESCALATION_COMMIT,
        ESCALATION_ETA,
        APPEAL_FILING,
        APPEAL_DECISION,
        GRIEVANCE_ACKNOWLEDGEMENT,
        GRIEVANCE_RESOLUTION,
        TIMELY_FILING,
        CLAIM_PREPARATION,
    }
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The queue is worked from the top; deep offsets only walk the index for nothing.
MAX_OFFSET = 10_000


# ---- the urgency order -----------------------------------------------------------------


class Queued(Protocol):
    @property
    def clock_id(self) -> int: ...

    @property
    def due_at(self) -> datetime: ...

    @property
    def discharge_dependent(self) -> bool: ...


Q = TypeVar("Q", bound=Queued)


def is_overdue(now: datetime, due_at: datetime) -> bool:
    """A clock is overdue from the instant it is due."""
    return due_at <= now


def urgency_key(item: Queued, now: datetime) -> tuple[bool, datetime, bool, int]:
    """The work-queue order (issue "work queue"): overdue first; then the earliest due;
    among equal due times the case whose hospital discharge depends on it; then the
    oldest clock, so the order is total and stable between pages."""
    return (
        not is_overdue(now, item.due_at),
        item.due_at,
        not item.discharge_dependent,
        item.clock_id,
    )


def in_urgency_order(items: Iterable[Q], now: datetime) -> list[Q]:
    return sorted(items, key=lambda item: urgency_key(item, now))


def is_discharge_dependent(
    kind: str, urgency: Urgency | str | None, discharge_at: datetime | None
) -> bool:
    """A hospital discharge waits on this item: the discharge clock itself, or any clock
    of a referral marked discharge-urgent or carrying a discharge time (as matching's
    offer window reads it)."""
    return kind == DISCHARGE or not discharge_last(urgency, discharge_at)


def discharge_last(urgency: Urgency | str | None, discharge_at: datetime | None) -> bool:
    """Where a case's items stand among items due at the same time (the queue's order
    after the due time): False, first, when a hospital discharge waits on the case (it
    is discharge-urgent or carries a discharge time), True otherwise."""
    return not (urgency == Urgency.discharge or discharge_at is not None)


# ---- timing in plain words -------------------------------------------------------------


def overdue_by(now: datetime, due_at: datetime) -> timedelta:
    """How late the item is: positive once due, negative while there is time left."""
    return now - due_at


def overdue_minutes(now: datetime, due_at: datetime) -> int:
    """Whole minutes late (0 while the item is not yet due)."""
    late = overdue_by(now, due_at)
    return max(0, int(late.total_seconds() // 60))


def due_text(now: datetime, due_at: datetime) -> str:
    """ "3 h 10 min late", "due in 45 min", "due now"."""
    late = overdue_by(now, due_at)
    if late == timedelta(0):
        return "due now"
    if late > timedelta(0):
        return f"{format_duration(late)} late"
    return f"due in {format_duration(-late)}"


def late_words(now: datetime, due_at: datetime) -> str:
    """ "overdue by 3 h 10 min", "due in 45 min", "due now" (the queue's rows)."""
    late = overdue_by(now, due_at)
    if late >= timedelta(minutes=1):
        return f"overdue by {format_duration(late)}"
    if late > -timedelta(minutes=1):
        return "due now"
    return f"due in {format_duration(-late)}"


# ---- what is due, and the action that resolves it ---------------------------------------


class Description(NamedTuple):
    what: str
    action: str
    method: str
    path_template: str


_ACKNOWLEDGE = Description(
    "Acknowledge the referral: give the referrer the case number and a case manager",
    "acknowledge",
    "POST",
    "/api/v1/referrals/{case_number}/acknowledge",
)
_CLARIFY = Description(
    "Get the missing or corrected information from the referrer",
    "supply_information",
    "POST",
    "/api/v1/referrals/{case_number}/information",
)
_OFFER = Description(
    "Offer the referral to a provider", "offer", "POST", "/api/v1/referrals/{case_number}/offers"
)
_CHASE_ANSWER = Description(
    "Chase the provider's answer to the offer",
    "chase_offer",
    "GET",
    "/api/v1/offers?case_number={case_number}",
)
_VERIFY = Description(
    "Verify the member's eligibility and benefits",
    "verify_eligibility",
    "POST",
    "/api/v1/referrals/{case_number}/verify-eligibility",
)
_REQUEST_AUTH = Description(
    "Request prior authorisation (or offer, when none is needed)",
    "request_authorization",
    "POST",
    "/api/v1/referrals/{case_number}/authorizations",
)
_CHASE_DECISION = Description(
    "Chase the prior-authorisation decision",
    "chase_authorization",
    "GET",
    "/api/v1/referrals/{case_number}/authorizations",
)
_APPEAL = Description(
    "Appeal the denial before the window closes",
    "appeal",
    "GET",
    "/api/v1/referrals/{case_number}/authorizations",
)
_SCHEDULE = Description(
    "Schedule the delivery or first visit with the provider",
    "schedule",
    "POST",
    "/api/v1/referrals/{case_number}/appointments",
)
_CONFIRM_START = Description(
    "Confirm the delivery or visit happened and record it",
    "record_outcome",
    "GET",
    "/api/v1/referrals/{case_number}/appointments",
)
_OUTSIDE_LIST = Description(
    "Find a provider outside the ranked list or escalate",
    "offer_outside_list",
    "POST",
    "/api/v1/referrals/{case_number}/offers",
)
_REVIEW = Description("Review the case", "review", "GET", "/api/v1/referrals/{case_number}")

#: What moves a case towards its start, by the referral's status.
_TOWARDS_START: dict[str, Description] = {
    ReferralStatus.received: _ACKNOWLEDGE,
    ReferralStatus.needs_clarification: _CLARIFY,
    ReferralStatus.acknowledged: _VERIFY,
    ReferralStatus.eligibility_verified: _REQUEST_AUTH,
    ReferralStatus.authorization_pending: _CHASE_DECISION,
    ReferralStatus.authorized: _OFFER,
    ReferralStatus.denied: _APPEAL,
    ReferralStatus.offered: _CHASE_ANSWER,
    ReferralStatus.accepted: _SCHEDULE,
    ReferralStatus.missed: _SCHEDULE,
    ReferralStatus.scheduled: _CONFIRM_START,
    ReferralStatus.unplaced: _OUTSIDE_LIST,
}

#: Clocks about one step, whatever the case's status.
_BY_KIND: dict[str, Description] = {
    OFFER_RESPONSE: Description(
        "Chase the provider or withdraw the offer",
        "withdraw_offer",
        "POST",
        "/api/v1/offers/{offer_id}/withdraw",
    ),
    CREDENTIAL_EXPIRY: Description(
        "Renew the provider's credential",
        "renew_credential",
        "POST",
        "/api/v1/providers/{provider_id}/credentials",
    ),
    AUTHORIZATION_DECISION: Description(
        "Record the reviewer's decision (or chase the payer)",
        "record_decision",
        "POST",
        "/api/v1/authorizations/{subject_id}/decision",
    ),
    APPEAL_DEADLINE: Description(
        "File the appeal before the window closes",
        "appeal",
        "POST",
        "/api/v1/referrals/{case_number}/appeals",
    ),
    APPEAL_FILING: Description(
        "File the next level of the appeal before its window closes",
        "file_appeal_level",
        "POST",
        "/api/v1/referrals/{case_number}/appeals/{subject_id}/levels",
    ),
    APPEAL_DECISION: Description(
        "Get the payer's decision on the appeal and record it",
        "record_appeal_outcome",
        "POST",
        "/api/v1/referrals/{case_number}/appeals/{subject_id}/outcome",
    ),
    GRIEVANCE_ACKNOWLEDGEMENT: Description(
        "Acknowledge the complaint to the person who raised it",
        "acknowledge_grievance",
        "POST",
        "/api/v1/grievances/{subject_id}/acknowledge",
    ),
    GRIEVANCE_RESOLUTION: Description(
        "Resolve the complaint and tell the person the outcome",
        "resolve_grievance",
        "POST",
        "/api/v1/grievances/{subject_id}/resolve",
    ),
    AUTHORIZATION_EXPIRY: Description(
        "Renew the authorisation before it ends",
        "request_authorization",
        "POST",
        "/api/v1/referrals/{case_number}/authorizations",
    ),
    APPOINTMENT_OUTCOME: Description(
        "Get the outcome from the provider: delivered, done or missed",
        "record_outcome",
        "POST",
        "/api/v1/appointments/{subject_id}/outcome",
    ),
    RESUPPLY: Description(
        "Book the next delivery of the recurring supply",
        "schedule",
        "POST",
        "/api/v1/referrals/{case_number}/appointments",
    ),
    ESCALATION_COMMIT: Description(
        "Promise the person who escalated a date and time",
        "commit_eta",
        "POST",
        "/api/v1/referrals/{case_number}/escalations/{subject_id}/commit",
    ),
    ESCALATION_ETA: Description(
        "Resolve the escalation by the time promised",
        "resolve_escalation",
        "POST",
        "/api/v1/referrals/{case_number}/escalations/{subject_id}/resolve",
    ),
    TIMELY_FILING: Description(
        "Send the claim before its filing window closes",
        "prepare_claim",
        "POST",
        "/api/v1/referrals/{case_number}/claims",
    ),
    CLAIM_PREPARATION: Description(
        "Prepare the claim for the delivery or visit done",
        "prepare_claim",
        "POST",
        "/api/v1/referrals/{case_number}/claims",
    ),
}


def describe(kind: str, referral_status: ReferralStatus | str | None) -> Description:
    """What is due and which action resolves it, in the words a coordinator uses.

    Service-start clocks (and their early warning) ask for whatever moves the case
    towards its start from where it stands; a discharge clock asks the same action with
    the hospital's deadline in front."""
    if kind == ACKNOWLEDGEMENT:
        return _ACKNOWLEDGE
    if kind in _BY_KIND:
        return _BY_KIND[kind]
    step = _TOWARDS_START.get(str(referral_status), _REVIEW)
    if kind == DISCHARGE:
        return step._replace(what="Secure a start before the hospital discharge")
    if kind in (SERVICE_START, SERVICE_WARNING):
        return step
    return _REVIEW


def fill_path(template: str, **values: object) -> str | None:
    """The action's path with its ids filled in; None when one it needs is missing."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if any(values.get(name) is None for name in names):
        return None
    return template.format(**{name: values[name] for name in names})


# ---- who may release a claim ------------------------------------------------------------


def may_release(*, actor_user_id: int | None, is_supervisor: bool, assignee: int) -> bool:
    """The assignee lets an item go; a supervisor may free anyone's (someone is away)."""
    return is_supervisor or (actor_user_id is not None and actor_user_id == assignee)


# ---- the work a case needs now, from its status ------------------------------------------

#: Teams that work items belong to (other domains may name their own in ``work.needed``).
INTAKE = "intake"
CASE_MANAGEMENT = "case_management"
NETWORK = "network"
CLINICAL_REVIEW = "clinical_review"
SUPERVISOR = "supervisor"
TEAMS = (INTAKE, CASE_MANAGEMENT, NETWORK, CLINICAL_REVIEW, SUPERVISOR)

#: A fulfilled case waits on its follow-up (outcome, resupply set up) and then closing:
#: the project's own proposal, since DOMAIN.md §2 step 9 gives no figure.
FOLLOW_UP_WITHIN = timedelta(days=7)
#: An acknowledged case waiting on the referrer's missing information is chased within a
#: day (the project's own proposal: DOMAIN.md §2 step 3 says a gap costs 3-5 days).
CLARIFICATION_CHASE = timedelta(days=1)


class CaseFacts(NamedTuple):
    """What the rules read of a case to say what a person must do now."""

    referral_id: int
    status: ReferralStatus | str
    acknowledged: bool
    ack_due_at: datetime
    service_due_at: datetime
    changed_at: datetime
    # Due times of the case's open clocks, by clock kind (the nearest promise wins).
    clock_due: dict[str, datetime] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


class NeededWork(NamedTuple):
    subject: str
    kind: str
    team: str
    title: str
    due_at: datetime


def case_subject(referral_id: int, kind: str) -> str:
    """The subject of a case's status work: ``case:12:acknowledge``."""
    return f"case:{referral_id}:{kind}"


def case_subject_prefix(referral_id: int) -> str:
    return f"case:{referral_id}:"


# status -> (kind, team, title, the clock kinds whose due time it takes, else the service due)
_STATUS_WORK: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    ReferralStatus.acknowledged: (
        "verify_eligibility",
        CASE_MANAGEMENT,
        "Verify the member's eligibility and benefits",
        (DISCHARGE,),
    ),
    ReferralStatus.eligibility_verified: (
        "request_authorization_or_offer",
        CASE_MANAGEMENT,
        "Request prior authorisation, or offer the case to a provider",
        (DISCHARGE,),
    ),
    ReferralStatus.authorization_pending: (
        "authorization_decision",
        CLINICAL_REVIEW,
        "Get the prior-authorisation decision",
        (AUTHORIZATION_DECISION, DISCHARGE),
    ),
    ReferralStatus.authorized: (
        "offer",
        NETWORK,
        "Offer the case to a provider",
        (DISCHARGE,),
    ),
    ReferralStatus.denied: (
        "appeal_or_close",
        CASE_MANAGEMENT,
        "Appeal the denial before the window closes, or close the case",
        (APPEAL_DEADLINE,),
    ),
    ReferralStatus.offered: (
        "offer_answer",
        NETWORK,
        "Get the provider's answer to the offer",
        (OFFER_RESPONSE, DISCHARGE),
    ),
    ReferralStatus.accepted: (
        "schedule",
        CASE_MANAGEMENT,
        "Schedule the delivery or first visit with the provider",
        (DISCHARGE,),
    ),
    ReferralStatus.unplaced: (
        "find_provider",
        NETWORK,
        "No provider took the case: find one",
        (DISCHARGE,),
    ),
    ReferralStatus.scheduled: (
        "record_outcome",
        CASE_MANAGEMENT,
        "Record the outcome of the delivery or visit",
        (APPOINTMENT_OUTCOME,),
    ),
    ReferralStatus.missed: (
        "reschedule",
        CASE_MANAGEMENT,
        "The delivery or visit was missed: schedule it again",
        (DISCHARGE,),
    ),
}


def needs_person(status: ReferralStatus | str) -> bool:
    """Every open case needs someone until it is closed or cancelled."""
    return str(status) not in (ReferralStatus.closed, ReferralStatus.cancelled)


def needed_work(facts: CaseFacts) -> list[NeededWork]:
    """What a person must do now for the case, from its status and facts (DOMAIN.md §2),
    each due by the case's own promise: the acknowledgement by its due time, the rest by
    the nearest open clock that measures it, else the service start (and, when a
    discharge is watched, never after the service start)."""
    status = str(facts.status)
    rid = facts.referral_id
    if not needs_person(status):
        return []
    out: list[NeededWork] = []
    if status in (ReferralStatus.received, ReferralStatus.needs_clarification):
        if not facts.acknowledged:
            out.append(
                NeededWork(
                    case_subject(rid, "acknowledge"),
                    "acknowledge",
                    INTAKE,
                    _ACKNOWLEDGE.what,
                    facts.ack_due_at,
                )
            )
        if status == ReferralStatus.needs_clarification:
            out.append(
                NeededWork(
                    case_subject(rid, "clarify"),
                    "clarify",
                    INTAKE,
                    _CLARIFY.what,
                    facts.changed_at + CLARIFICATION_CHASE
                    if facts.acknowledged
                    else facts.ack_due_at,
                )
            )
        if out:
            return out
        status = ReferralStatus.acknowledged  # received yet acknowledged: the next step
    if status == ReferralStatus.fulfilled:
        return [
            NeededWork(
                case_subject(rid, "follow_up"),
                "follow_up",
                CASE_MANAGEMENT,
                "Follow up with the member, then close the case",
                facts.changed_at + FOLLOW_UP_WITHIN,
            )
        ]
    kind, team, title, clock_kinds = _STATUS_WORK[status]
    dues = [facts.clock_due[k] for k in clock_kinds if k in facts.clock_due]
    if DISCHARGE in facts.clock_due and DISCHARGE in clock_kinds:
        # The discharge watch (a day before the discharge) can fall after the service
        # start the same work secures: the work is due by the nearer of the two.
        dues.append(facts.clock_due.get(SERVICE_START, facts.service_due_at))
    due = min(dues) if dues else facts.service_due_at
    return [NeededWork(case_subject(rid, kind), kind, team, title, due)]


# ---- the escalation ladder ---------------------------------------------------------------

TEAM_LEVEL = 1
SUPERVISOR_LEVEL = 2
MANAGER_LEVEL = 3
LEVEL_NAMES = {
    TEAM_LEVEL: "team",
    SUPERVISOR_LEVEL: "supervisor",
    MANAGER_LEVEL: "operations manager",
}


class Ladder(NamedTuple):
    """How an overdue item climbs (DOMAIN.md §4, escalation ladder): to the supervisor's
    queue at once on breach; still open ``manager_after`` later (business time on the
    member's calendar unless ``business_hours`` is off, as for clinical work around the clock), to
    the operations manager's. ``top_level`` 2 stops the climb at the supervisor."""

    manager_after: timedelta = timedelta(hours=4)
    business_hours: bool = True
    top_level: int = MANAGER_LEVEL
    source: str = "escalation ladder: supervisor at breach, manager 4 business hours later"


DEFAULT_LADDER = Ladder()

#: Per team (and payer: ``(team, payer_code)`` wins over ``(team, None)``). Clinical
#: review works around the clock (DOMAIN.md §4, clinical escalation), so its window is wall-clock.
LADDERS: dict[tuple[str, str | None], Ladder] = {
    (CLINICAL_REVIEW, None): Ladder(
        business_hours=False,
        source="escalation ladder, 24 x 7 for clinical work: manager 4 hours after breach",
    ),
}


def ladder_for(
    team: str,
    payer_code: str | None,
    ladders: dict[tuple[str, str | None], Ladder] | None = None,
) -> Ladder:
    table = LADDERS if ladders is None else ladders
    if payer_code is not None and (team, payer_code.upper()) in table:
        return table[(team, payer_code.upper())]
    return table.get((team, None), DEFAULT_LADDER)


def climb_to(
    *,
    level: int,
    due_at: datetime,
    level_raised_at: datetime | None,
    now: datetime,
    ladder: Ladder,
    manager_due: datetime | None,
) -> int | None:
    """The level an open item climbs to now, or None when it stays where it is.

    ``manager_due`` is ``level_raised_at`` plus the ladder's window (on the calendar the
    caller chose); it is only read at the supervisor level."""
    if level < SUPERVISOR_LEVEL and is_overdue(now, due_at):
        return SUPERVISOR_LEVEL
    if (
        level == SUPERVISOR_LEVEL
        and ladder.top_level >= MANAGER_LEVEL
        and level_raised_at is not None
        and manager_due is not None
        and manager_due <= now
    ):
        return MANAGER_LEVEL
    return None


# ---- the queue's sort orders -------------------------------------------------------------

SORTS = ("due", "urgency", "payer", "status", "owner")
#: Work due this soon is about to breach: under every sort it follows the late work and
#: comes before the rest (the due order has it there already).
ABOUT_TO_BREACH = timedelta(hours=1)
#: Counts (team figures, overdue now, the API's total) stop here: "1000+" reads the same
#: to a person, and the page then costs the same with 300 open items or 300,000.
COUNT_CAP = 1000
DEFAULT_SORT = "due"
