"""What an audit record says (HIPAA 164.312(b): who, what, when, from where, outcome).
Pure: no database."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from careloop.core.actor import Actor
from careloop.core.clock import Clock


class AuditOutcome(StrEnum):
    success = "success"
    # The actor may not see the object (answered 404 exactly like a missing one).
    denied = "denied"
    not_found = "not_found"
    refused = "refused"


def record_values(
    actor: Actor,
    action: str,
    outcome: AuditOutcome,
    clock: Clock,
    *,
    case_number: str | None,
    referral_id: int | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    """The columns of one audit record."""
    return {
        "at": clock.now(),
        "actor_user_id": actor.user_id,
        "actor_role": actor.role.value,
        "actor_label": actor.label,
        "action": action,
        "outcome": outcome.value,
        "case_number": case_number,
        "referral_id": referral_id,
        "ip": actor.ip,
        "request_id": actor.request_id,
        "detail": detail,
    }
