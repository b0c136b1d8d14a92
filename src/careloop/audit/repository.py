"""Audit statements: Core INSERTs, one for many records. Nothing commits here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, bindparam, insert, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.db import copy
from careloop.db.base import table_of

_AUDIT = table_of(AuditRecord)


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    copy.insert_rows(session, _AUDIT, rows)


#: The columns the records of ``insert_from`` share, bound as ``audit_<column>``.
SHARED = (
    "at",
    "actor_user_id",
    "actor_role",
    "actor_label",
    "action",
    "outcome",
    "ip",
    "request_id",
)


def insert_from(rows: Select[*tuple[Any, ...]]) -> Insert:
    """An INSERT of one record per row of ``rows`` (its case number, then its referral id),
    the ``SHARED`` columns bound as parameters and no detail: to be sent with the
    statement that reads those rows (as a CTE on PostgreSQL)."""
    found = rows.subquery("audited")
    values = select(
        *(bindparam(f"audit_{name}", type_=_AUDIT.c[name].type) for name in SHARED),
        found.c[0],
        found.c[1],
    )
    return insert(_AUDIT).from_select([*SHARED, "case_number", "referral_id"], values)


def insert_detailed(detail: ColumnElement[Any]) -> Insert:
    """An INSERT of one record without a case, the ``SHARED`` columns bound as
    parameters and ``detail`` an expression of the statement it is sent with (computed
    from that statement's rows: a CTE of a read on PostgreSQL)."""
    values = select(
        *(bindparam(f"audit_{name}", type_=_AUDIT.c[name].type) for name in SHARED), detail
    )
    return insert(_AUDIT).from_select([*SHARED, "detail"], values)


def insert_one(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_AUDIT), values)


def refused_between(
    session: Session, action: str, start: datetime, end: datetime
) -> list[tuple[datetime, dict[str, Any] | None]]:
    """(at, detail) of the refusals recorded as ``action`` in [start, end), through the
    partial index of refusals."""
    c = _AUDIT.c
    stmt = (
        select(c.at, c.detail)
        .where(c.outcome == "refused", c.action == action, c.at >= start, c.at < end)
        .order_by(c.at, c.id)
    )
    return [(r[0], r[1]) for r in session.execute(stmt)]
