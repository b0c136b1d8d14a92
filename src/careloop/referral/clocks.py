"""The case's clocks (DESIGN.md §3): created with the case, paused while the clinician is
asked for what is missing, resumed without penalty, rescheduled when the order changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.referral import rules
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral
from careloop.sla import SlaPolicy
from careloop.sla import service as sla
from careloop.sla.models import ClockKind, ClockStatus


def clock_rows(
    referral_id: int,
    *,
    status: ReferralStatus,
    deadlines: rules.Deadlines,
    policy: SlaPolicy,
    discharge_at: datetime | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The clocks a new case starts with: acknowledgement, service start and its early
    warning, and the discharge watch when the member is in hospital."""
    d = deadlines
    service_rule = policy.service_start[d.service_class]
    base = {
        "referral_id": referral_id,
        "status": ClockStatus.open,
        "time_zone": d.time_zone,
        "started_at": now,
        "paused_at": None,
    }
    # While the order waits for the clinician's clarification, the service clocks stop.
    waiting = status is ReferralStatus.needs_clarification
    service = {**base, "status": ClockStatus.paused, "paused_at": now} if waiting else base
    rows = [
        {
            **base,
            "kind": ClockKind.acknowledgement,
            "calendar": policy.acknowledgement.calendar.value,
            "rule_source": policy.acknowledgement.source,
            "due_at": d.ack_due_at,
        },
        {
            **service,
            "kind": ClockKind.service_start,
            "calendar": service_rule.calendar.value,
            "rule_source": service_rule.source,
            "due_at": d.service_due_at,
        },
        {
            **service,
            "kind": ClockKind.service_warning,
            "calendar": service_rule.calendar.value,
            "rule_source": f"warn at {rules.SERVICE_WARNING_AT:.0%} of: {service_rule.source}",
            "due_at": rules.service_warning_due(now, d.service_due_at),
        },
    ]
    if discharge_at is not None:
        window = policy.discharge_escalation_window
        rows.append(
            {
                **base,
                "kind": ClockKind.discharge,
                "calendar": "clock",
                "rule_source": f"{window.source}; discharge time given on the order",
                "due_at": rules.discharge_watch_due(discharge_at, window.duration, now),
            }
        )
    return rows


_SERVICE_CLOCKS = (ClockKind.service_start, ClockKind.service_warning)


def move_service_clocks(
    session: Session, referral: Referral, *, recomputed: bool, waiting: bool, now: datetime
) -> None:
    """Keep the service clocks in step with the case (DESIGN.md §3).

    New items or a new discharge recompute the deadline from receipt. Waiting for the
    clinician's clarification pauses the clocks; when the information arrives they
    resume, pushed later by the time the pause took on their calendar, so a reopened
    case never breaches because of time spent waiting. The deadline stays capped at
    the discharge.
    """
    for row in sla.open_of(session, referral.id, _SERVICE_CLOCKS, subject_id=None):
        if recomputed:
            sla.reschedule(
                row,
                due_at=referral.service_due_at
                if row.kind is ClockKind.service_start
                else rules.service_warning_due(row.started_at, referral.service_due_at),
            )
        if waiting:
            sla.pause(session, row, now=now)
        else:
            sla.resume(session, row, now=now, not_after=referral.discharge_at)
        if row.kind is ClockKind.service_start:
            referral.service_due_at = row.due_at
