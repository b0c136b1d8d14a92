"""Write audit records. Callers pass the session of the use case, so the record commits
or rolls back with the change it describes; denied accesses survive the rollback."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select
from sqlalchemy.orm import Session

from careloop.audit import repository
from careloop.audit.rules import AuditOutcome, record_values
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.db.session import keep_after_rollback


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
    record_each(
        session,
        action,
        [(actor, case_number, referral_id, detail) for case_number, referral_id, detail in cases],
        clock=clock,
        outcome=outcome,
    )


def insert_from(rows: Select[*tuple[Any, ...]]) -> Insert:
    """One record per row of ``rows`` (case number, referral id) as an INSERT the caller
    sends with its own read (a CTE of it on PostgreSQL: one round trip for both), bound
    with ``shared_values``. Built once per caller's statement."""
    return repository.insert_from(rows)


def insert_detailed(detail: ColumnElement[Any]) -> Insert:
    """One record without a case whose detail ``detail`` computes in the caller's own
    statement (a read that lists what it showed: a CTE of it on PostgreSQL, so the read
    and its record are one statement), bound with ``shared_values``."""
    return repository.insert_detailed(detail)


def shared_values(
    actor: Actor,
    action: str,
    *,
    clock: Clock,
    outcome: AuditOutcome = AuditOutcome.success,
) -> dict[str, Any]:
    """The parameters of an ``insert_from`` statement: the columns ``record`` would write
    but the case number, referral id and detail."""
    values = record_values(
        actor, action, outcome, clock, case_number=None, referral_id=None, detail=None
    )
    return {f"audit_{name}": values[name] for name in repository.SHARED}


def record_each(
    session: Session,
    action: str,
    entries: list[tuple[Actor, str | None, int | None, dict[str, Any] | None]],
    *,
    clock: Clock,
    outcome: AuditOutcome = AuditOutcome.success,
) -> None:
    """Append one audit record per (actor, case number, referral id, detail) with one
    statement: the same action by several callers at once (submissions committed
    together), each record naming its own caller, address and request."""
    if not entries:
        return
    rows = [
        record_values(
            actor,
            action,
            outcome,
            clock,
            case_number=case_number,
            referral_id=referral_id,
            detail=detail,
        )
        for actor, case_number, referral_id, detail in entries
    ]
    repository.insert_many(session, rows)


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
    values = record_values(
        actor,
        action,
        outcome,
        clock,
        case_number=case_number,
        referral_id=referral_id,
        detail=detail,
    )

    def write(fresh: Session) -> None:
        repository.insert_one(fresh, values)

    keep_after_rollback(session, write)


def refused_between(
    session: Session, action: str, start: datetime, end: datetime
) -> list[tuple[datetime, dict[str, Any] | None]]:
    """The refusals recorded as ``action`` (outcome refused) in [start, end): when, and
    the detail written with each (no PHI is ever written there)."""
    return repository.refused_between(session, action, start, end)
