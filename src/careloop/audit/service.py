"""Write audit records. Callers pass the session of the use case, so the record commits
or rolls back with the change it describes; denied accesses survive the rollback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from careloop.audit.models import AuditOutcome, AuditRecord
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.db.base import table_of
from careloop.db.session import keep_after_rollback

_AUDIT = table_of(AuditRecord)


def _values(
    actor: Actor,
    action: str,
    outcome: AuditOutcome,
    clock: Clock,
    *,
    case_number: str | None,
    referral_id: int | None,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
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


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    clock: Clock,
    outcome: AuditOutcome = AuditOutcome.success,
    case_number: str | None = None,
    referral_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit record to the current transaction."""
    record_many(
        session, actor, action, [(case_number, referral_id, detail)], clock=clock, outcome=outcome
    )


def record_many(
    session: Session,
    actor: Actor,
    action: str,
    cases: list[tuple[str | None, int | None, dict[str, Any] | None]],
    *,
    clock: Clock,
    outcome: AuditOutcome = AuditOutcome.success,
) -> None:
    """Append one audit record per (case number, referral id, detail) with one
    statement: the same action by the same actor on many cases (a worker's batch)."""
    if not cases:
        return
    rows = [
        _values(
            actor,
            action,
            outcome,
            clock,
            case_number=case_number,
            referral_id=referral_id,
            detail=detail,
        )
        for case_number, referral_id, detail in cases
    ]
    session.connection().execute(insert(_AUDIT), rows)


def record_denied(
    session: Session,
    actor: Actor,
    action: str,
    *,
    clock: Clock,
    outcome: AuditOutcome = AuditOutcome.denied,
    case_number: str | None = None,
    referral_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit a refused access. The use case then fails and rolls back, so the record is
    written in its own transaction after the rollback (a denied read leaves a trace)."""
    values = _values(
        actor,
        action,
        outcome,
        clock,
        case_number=case_number,
        referral_id=referral_id,
        detail=detail,
    )

    def write(fresh: Session) -> None:
        fresh.execute(insert(_AUDIT), values)

    keep_after_rollback(session, write)
