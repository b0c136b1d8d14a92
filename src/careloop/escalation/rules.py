"""Escalation rules: who owns an escalation, how soon an ETA must be committed, what a
kept promise is (DOMAIN.md §4 escalation ladder, §6 escalation to a supervisor).

Pure: no database, no HTTP. Figures are DOMAIN.md defaults, configurable per team and
payer through :class:`EscalationPolicy`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from careloop.core.errors import FieldError
from careloop.sla import BusinessHours, CalendarKind, DeadlineRule, compute_due


class Reason(StrEnum):
    """Why a case is escalated (the coded reason a person picks)."""

    service_delay = "service_delay"
    no_response = "no_response"
    authorization = "authorization"
    provider_problem = "provider_problem"
    discharge_at_risk = "discharge_at_risk"
    complaint = "complaint"
    deadline_missed = "deadline_missed"
    other = "other"


REASON_LABELS: Mapping[Reason, str] = MappingProxyType(
    {
        Reason.service_delay: "Service is late",
        Reason.no_response: "No answer from us",
        Reason.authorization: "Authorisation problem",
        Reason.provider_problem: "Problem with the provider",
        Reason.discharge_at_risk: "Hospital discharge at risk",
        Reason.complaint: "Complaint",
        Reason.deadline_missed: "A deadline was missed",
        Reason.other: "Something else",
    }
)


class Severity(StrEnum):
    routine = "routine"
    urgent = "urgent"
    critical = "critical"


SEVERITY_LABELS: Mapping[Severity, str] = MappingProxyType(
    {Severity.routine: "Routine", Severity.urgent: "Urgent", Severity.critical: "Critical"}
)


class PartyKind(StrEnum):
    """Who asked for the escalation."""

    member = "member"
    caregiver = "caregiver"
    referrer = "referrer"
    provider = "provider"
    payer = "payer"
    staff = "staff"
    system = "system"


PARTY_LABELS: Mapping[PartyKind, str] = MappingProxyType(
    {
        PartyKind.member: "Member",
        PartyKind.caregiver: "Caregiver",
        PartyKind.referrer: "Referrer",
        PartyKind.provider: "Provider",
        PartyKind.payer: "Payer",
        PartyKind.staff: "Our staff",
        PartyKind.system: "Automatic (a deadline passed)",
    }
)


class Source(StrEnum):
    """How the escalation came in."""

    staff = "staff"  # staff logging a caller's request
    referrer = "referrer"  # from the referrer's portal
    provider = "provider"  # the provider's staff
    worker = "worker"  # a breached deadline


class Status(StrEnum):
    open = "open"  # waiting for the supervisor's ETA
    committed = "committed"  # an ETA is promised
    resolved = "resolved"


class Promise(StrEnum):
    kept = "kept"
    missed = "missed"


STATUS_LABELS: Mapping[Status, str] = MappingProxyType(
    {
        Status.open: "Waiting for an ETA",
        Status.committed: "ETA promised",
        Status.resolved: "Resolved",
    }
)

#: Ladder levels (DOMAIN.md §4): a breach goes to the supervisor (2), still open after a
#: further window to the operations manager (3).
SUPERVISOR_LEVEL = 2
OPERATIONS_LEVEL = 3

_SOURCE = "DOMAIN.md §4 escalation ladder"

_DEFAULT_COMMIT = DeadlineRule(
    name="escalation_commit",
    duration=timedelta(hours=1),
    calendar=CalendarKind.business,
    source=f"{_SOURCE}: a supervisor commits an ETA within 1 business hour",
)
_DEFAULT_CLIMB = DeadlineRule(
    name="escalation_climb",
    duration=timedelta(hours=4),
    calendar=CalendarKind.business,
    source=f"{_SOURCE}: still open 4 business hours later, to the operations manager",
)


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """The escalation figures of one team and payer.

    ``supervisors`` names (by e-mail) the pool of supervisors for (team, payer code); a
    team or payer without a pool is served by every active supervisor.
    """

    commit_window: DeadlineRule = _DEFAULT_COMMIT
    climb_window: DeadlineRule = _DEFAULT_CLIMB
    business_hours: BusinessHours = field(default_factory=BusinessHours)
    supervisors: Mapping[tuple[str, str | None], tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    def pool(self, team: str, payer_code: str | None) -> tuple[str, ...] | None:
        """The supervisors' e-mails for this team and payer; None: any supervisor."""
        for key in ((team, payer_code), (team, None)):
            if key in self.supervisors:
                return self.supervisors[key]
        return None


DEFAULT_POLICY = EscalationPolicy()


@dataclass(frozen=True, slots=True)
class Candidate:
    """An active supervisor and how many escalations they hold open now."""

    user_id: int
    email: str
    open_escalations: int


def pick_supervisor(
    candidates: Sequence[Candidate],
    *,
    team: str,
    payer_code: str | None,
    policy: EscalationPolicy = DEFAULT_POLICY,
) -> Candidate | None:
    """The least-loaded active supervisor of the team's and payer's pool (the lowest id
    among equals, so the choice is stable); None when nobody is in the pool."""
    pool = policy.pool(team, payer_code)
    eligible = [
        c for c in candidates if pool is None or c.email.lower() in {e.lower() for e in pool}
    ]
    if not eligible:
        return None
    return min(eligible, key=lambda c: (c.open_escalations, c.user_id))


def team_of_status(status: str) -> str:
    """The team that works a case in this status (for the supervisor pool)."""
    return "intake" if status in {"received", "needs_clarification"} else "case_management"


def commit_due(
    opened_at: datetime, *, time_zone: str, policy: EscalationPolicy = DEFAULT_POLICY
) -> datetime:
    """When the supervisor's ETA is due: the commit window on the member's calendar."""
    return compute_due(
        policy.commit_window, opened_at, time_zone=time_zone, hours=policy.business_hours
    )


def climb_due(
    missed_at: datetime, *, time_zone: str, policy: EscalationPolicy = DEFAULT_POLICY
) -> datetime:
    """When a missed escalation still open goes up to the operations manager."""
    return compute_due(
        policy.climb_window, missed_at, time_zone=time_zone, hours=policy.business_hours
    )


def promise_of(eta: datetime, resolved_at: datetime) -> Promise:
    """Kept when resolved by the ETA (the ETA minute itself counts as on time)."""
    return Promise.kept if resolved_at <= eta else Promise.missed


_EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def is_email(value: str) -> bool:
    """A plain address (local@domain.tld), as a person types one; no display names."""
    return len(value) <= 254 and _EMAIL.match(value) is not None


def eta_problems(eta: datetime, *, now: datetime, field_name: str = "eta") -> list[FieldError]:
    """An ETA must be a time with its zone, later than now."""
    if eta.tzinfo is None or eta.utcoffset() is None:
        return [FieldError(field_name, "give the time with its time zone (for example +00:00)")]
    if eta <= now:
        return [FieldError(field_name, "the ETA must be in the future")]
    return []


def requester_problems(
    *, name: str | None, email: str | None, phone: str | None, prefix: str = "requested_by"
) -> list[FieldError]:
    """Who asked must be reachable: a name, and an e-mail or a phone number."""
    problems: list[FieldError] = []
    if not (name or "").strip():
        problems.append(FieldError(f"{prefix}.name", "say who asked for the escalation"))
    if email and not is_email(email.strip()):
        problems.append(FieldError(f"{prefix}.email", "this is not an e-mail address"))
    if not (email or "").strip() and not (phone or "").strip():
        problems.append(
            FieldError(f"{prefix}.email", "give an e-mail address or a phone number to answer")
        )
    return problems


def in_words(instant: datetime, time_zone: str) -> str:
    """A time as a person reads it, in ``time_zone``: "Tuesday 24 November 2026 at 14:30
    (New York time)"."""
    zone = ZoneInfo(time_zone)
    local = instant.astimezone(zone)
    place = time_zone.rsplit("/", 1)[-1].replace("_", " ")
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({place} time)"


def short_when(instant: datetime, time_zone: str) -> str:
    """A time on a screen, in ``time_zone``: "Tue 24 Nov, 14:30"."""
    local = instant.astimezone(ZoneInfo(time_zone))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def supervisor_contact(direct_phone: str | None, extension: str | None) -> str | None:
    """What the requester dials: the direct line, else the extension."""
    if direct_phone:
        return direct_phone
    if extension:
        return f"extension {extension}"
    return None
