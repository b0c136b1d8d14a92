"""Audit statements: Core INSERTs, one for many records. Nothing commits here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.db import copy
from careloop.db.base import table_of

_AUDIT = table_of(AuditRecord)


def insert_many(session: Session, rows: list[dict[str, Any]]) -> None:
    copy.insert_rows(session, _AUDIT, rows)


def insert_one(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(_AUDIT), values)
