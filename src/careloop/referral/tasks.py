"""What the worker does when a case's clock is due (DESIGN.md §3). The handlers run in
the worker's transaction with the clocks they fire; the clocks are marked by the caller.

A batch of due clocks is fired with a fixed number of statements whatever its size: the
cases are read and locked in one query, each clock's outcome is decided in Python, and
the escalations, timeline events, audit records and outbox messages are written with one
statement per table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import FixedClock
from careloop.db import outbox
from careloop.referral import moves, repository
from careloop.referral.enums import OPEN_STATUSES, ReferralStatus
from careloop.referral.repository import DueCase
from careloop.sla import CalendarKind, DeadlineRule, compute_due
from careloop.sla.models import Clock, ClockKind, ClockStatus

#: A late service start: a supervisor owns the case and gives a firm time within this
#: (DOMAIN.md §4 escalation ladder: an ETA within 1 business hour of an escalation).
DELAY_ANSWER_WITHIN = DeadlineRule(
    name="delay_answer",
    duration=timedelta(hours=1),
    calendar=CalendarKind.business,
    source="DOMAIN.md §4: a supervisor commits an ETA within 1 business hour",
)

#: Statuses in which a provider has taken the case: a discharge is no longer at risk.
_PLACED = frozenset({ReferralStatus.accepted, ReferralStatus.scheduled, ReferralStatus.fulfilled})


@dataclass
class _Writes:
    """What a batch of fired clocks writes, gathered to be written once per table."""

    now: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    escalations: dict[int, dict[str, Any]] = field(default_factory=dict)
    audits: list[tuple[str | None, int | None, dict[str, Any] | None]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def event(self, case: DueCase, type_: str, **data: object) -> None:
        self.events.append(
            {
                "referral_id": case.id,
                "at": self.now,
                "type": type_,
                "actor_user_id": None,
                "actor_label": SYSTEM_ACTOR.label,
                "channel": None,
                "provider_id": None,
                "data": dict(data),
            }
        )

    def message(self, case: DueCase, **fields: Any) -> None:
        self.messages.append(
            outbox.message(
                now=self.now, referral_id=case.id, case_number=case.case_number, **fields
            )
        )

    def escalate(self, case: DueCase, clock: Clock, reason: str) -> None:
        # A later clock of the same case in the batch gives the reason, as it would firing
        # one after the other.
        self.escalations[case.id] = {"referral_id": case.id, "reason": reason, "at": self.now}
        self.event(case, "referral.escalated", reason=reason, clock_id=clock.id)
        # Escalating changes the case record (PHI): audited like a person's change is.
        self.audits.append((case.case_number, case.id, {"reason": reason, "clock_id": clock.id}))
        self.message(
            case,
            dedupe_key=f"escalation:{clock.id}",
            audience="staff",
            recipient="supervisors",
            template="referral.escalated",
            payload={"reason": reason},
        )

    def delay_notice(
        self, case: DueCase, clock: Clock, template: str, payload: dict[str, Any]
    ) -> None:
        """Tell the member and the referrer, before they have to ask, that the service is
        at risk or late, and what happens next and when."""
        for audience, recipient in (
            ("member", "member"),
            ("referrer", str(case.referrer_organization_id or "")),
        ):
            self.message(
                case,
                dedupe_key=f"{template}:{clock.id}:{audience}",
                audience=audience,
                recipient=recipient,
                template=template,
                payload=payload,
            )

    def breach(self, case: DueCase, clock: Clock, *, name: str, reason: str) -> ClockStatus:
        """Record a breached deadline on the timeline and escalate the case."""
        self.event(
            case,
            "sla.breached",
            clock=name,
            clock_id=clock.id,
            due_at=clock.due_at.isoformat(),
        )
        self.escalate(case, clock, reason)
        return ClockStatus.breached

    def write(self, session: Session) -> None:
        repository.escalate(session, list(self.escalations.values()))
        moves.record_events(session, self.events)
        audit.record_many(
            session, SYSTEM_ACTOR, "referral.escalate", self.audits, clock=FixedClock(self.now)
        )
        outbox.enqueue_many(session, self.messages)


def _acknowledgement(case: DueCase | None, clock: Clock, writes: _Writes) -> ClockStatus:
    """The first business day passed without an acknowledgement: escalate."""
    if case is None or case.acknowledged_at is not None:
        return ClockStatus.met
    return writes.breach(case, clock, name="acknowledgement", reason="acknowledgement overdue")


def _service_warning(case: DueCase | None, clock: Clock, writes: _Writes) -> ClockStatus:
    """Most of the service window has passed: tell the case manager before it breaches."""
    if case is None or case.status not in OPEN_STATUSES:
        return ClockStatus.met
    due_at = case.service_due_at.isoformat()
    writes.event(case, "sla.warning", clock="service_start", clock_id=clock.id, due_at=due_at)
    writes.message(
        case,
        dedupe_key=f"warning:{clock.id}",
        audience="staff",
        recipient="case_manager",
        template="sla.warning",
        payload={"due_at": due_at},
    )
    writes.delay_notice(case, clock, "delay.at_risk", {"due_at": due_at})
    return ClockStatus.met


def _service_start(case: DueCase | None, clock: Clock, writes: _Writes) -> ClockStatus:
    """The service start deadline passed with the case still open: breach, escalate."""
    if case is None or case.status not in OPEN_STATUSES:
        return ClockStatus.met
    next_update_by = compute_due(DELAY_ANSWER_WITHIN, writes.now, time_zone=case.time_zone)
    writes.delay_notice(
        case,
        clock,
        "delay.missed",
        {"due_at": case.service_due_at.isoformat(), "next_update_by": next_update_by.isoformat()},
    )
    return writes.breach(case, clock, name="service_start", reason="service start overdue")


def _discharge(case: DueCase | None, clock: Clock, writes: _Writes) -> ClockStatus:
    """The discharge is less than a day away and no provider has taken the case."""
    if case is None or case.status not in OPEN_STATUSES or case.status in _PLACED:
        return ClockStatus.met
    writes.escalate(case, clock, "discharge at risk: no provider has accepted")
    writes.message(
        case,
        dedupe_key=f"discharge:{clock.id}",
        audience="referrer",
        recipient=str(case.referrer_organization_id or ""),
        template="discharge.at_risk",
    )
    return ClockStatus.breached


_DECIDE: dict[ClockKind, Callable[[DueCase | None, Clock, _Writes], ClockStatus]] = {
    ClockKind.acknowledgement: _acknowledgement,
    ClockKind.service_warning: _service_warning,
    ClockKind.service_start: _service_start,
    ClockKind.discharge: _discharge,
}

#: The kinds of clock :func:`fire_case_clocks` fires.
CASE_CLOCK_KINDS = frozenset(_DECIDE)


def fire_case_clocks(
    session: Session, clocks: Sequence[Clock], now: datetime
) -> dict[int, ClockStatus]:
    """Fire a batch of due case clocks (acknowledgement, service warning, service start,
    discharge watch); returns each clock's outcome by id. A clock whose case is gone or
    no longer needs it is met; the others escalate, warn or breach as each rule says."""
    ids = {c.referral_id for c in clocks if c.referral_id is not None}
    cases = repository.lock_due_cases(session, ids) if ids else {}
    writes = _Writes(now)
    outcomes = {
        c.id: _DECIDE[c.kind](cases.get(c.referral_id) if c.referral_id else None, c, writes)
        for c in clocks
    }
    writes.write(session)
    return outcomes


def fire_case_clock(session: Session, clock: Clock, now: datetime) -> ClockStatus:
    """Fire one due case clock (see :func:`fire_case_clocks`)."""
    return fire_case_clocks(session, [clock], now)[clock.id]
