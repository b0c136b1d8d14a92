"""Audit statements: Core INSERTs, one for many records. Nothing commits here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.db import copy
from careloop.db.base import table_of

_AUDIT = table_of(AuditRecord)


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    copy.insert_rows(session, _AUDIT, rows)


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
