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
    return kind == DISCHARGE or urgency == Urgency.discharge or discharge_at is not None


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
        "/api/v1/authorizations/{subject_id}/appeal",
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
