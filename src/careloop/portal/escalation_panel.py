"""The escalation panel of the case page, for the actor reading it: the escalations
(supervisor, direct contact, the promised time or when it is due, kept or missed) and
what the actor may do (escalate, commit an ETA, resolve)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from careloop.escalation import (
    PARTY_LABELS,
    REASON_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    EscalationRead,
    PartyKind,
    Promise,
    Reason,
    Severity,
    Status,
)
from careloop.escalation import service as escalation_service
from careloop.identity import service as identity_service
from careloop.identity.permissions import may
from careloop.portal.web import PageContext
from careloop.referral.schemas import ReferralRead

#: Reasons a person picks (a missed deadline is the worker's own).
PICKABLE_REASONS = [r for r in Reason if r is not Reason.deadline_missed]
#: Who may have called, as staff log it.
CALLER_KINDS = [
    PartyKind.member,
    PartyKind.caregiver,
    PartyKind.referrer,
    PartyKind.provider,
    PartyKind.payer,
]


def panel_values(ctx: PageContext, case: ReferralRead) -> dict[str, Any]:
    """What the case page shows and offers about escalations, for this actor."""
    if not may(ctx.actor, "escalation:read"):
        return {"escalations": [], "escalate": None}
    listed = escalation_service.list_escalations(
        ctx.session, ctx.actor, case.case_number, clock=ctx.clock
    ).items
    escalate = None
    if may(ctx.actor, "escalation:create") and case.status not in {"closed", "cancelled"}:
        me = (
            identity_service.staff_contact(ctx.session, ctx.actor.user_id)
            if ctx.actor.user_id and not ctx.actor.is_staff
            else None
        )
        escalate = {
            "staff": ctx.actor.is_staff,
            "reasons": [r.value for r in PICKABLE_REASONS],
            "reason_labels": {r.value: label for r, label in REASON_LABELS.items()},
            "severities": [s.value for s in Severity],
            "severity_labels": {s.value: label for s, label in SEVERITY_LABELS.items()},
            "kinds": [k.value for k in CALLER_KINDS],
            "kind_labels": {k.value: label for k, label in PARTY_LABELS.items()},
            "supervisors": (
                identity_service.active_supervisors(ctx.session) if ctx.actor.is_staff else []
            ),
            "name": "" if ctx.actor.is_staff else ctx.actor.display_name,
            "email": "" if ctx.actor.is_staff or me is None else me.email,
        }
    return {
        "escalations": [_row(ctx, case, e) for e in listed],
        "escalate": escalate,
    }


#: Who asked, when nobody did: the worker escalated a breached case itself.
DEADLINE_WATCH = "CareLoop's deadline watch, automatically, when a deadline passed"


def _asked_by(e: EscalationRead) -> str:
    """ "Sam Hale (caregiver)"; the deadline watch as one phrase (its party's label has
    brackets of its own, and brackets within brackets read badly)."""
    if e.requested_by.kind is PartyKind.system:
        return DEADLINE_WATCH
    return f"{e.requested_by.name} ({PARTY_LABELS[e.requested_by.kind].lower()})"


def _row(ctx: PageContext, case: ReferralRead, e: EscalationRead) -> dict[str, Any]:
    zone = case.time_zone
    local = (e.eta or ctx.clock.now()).astimezone(ZoneInfo(zone))
    return {
        "read": e,
        "reason": REASON_LABELS[e.reason],
        "severity": SEVERITY_LABELS[e.severity],
        "status": STATUS_LABELS[e.status],
        "asked_by": _asked_by(e),
        "promise": {Promise.kept: "Promise kept", Promise.missed: "Promise missed"}.get(
            e.promise, ""
        )
        if e.promise
        else "",
        "level": "Operations manager" if e.level >= 3 else "Supervisor",
        "open": e.status is not Status.resolved,
        "may_commit": may(ctx.actor, "escalation:commit") and e.status is not Status.resolved,
        "may_resolve": may(ctx.actor, "escalation:resolve") and e.status is not Status.resolved,
        "eta_date": local.date().isoformat(),
        "eta_time": local.strftime("%H:%M") if e.eta else "",
    }
