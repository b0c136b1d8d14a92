"""Gap-tolerant counters behind a small adapter: a real SEQUENCE on PostgreSQL (never
blocks concurrent transactions, a rolled-back number is simply skipped), an
AUTOINCREMENT table on SQLite (whose writers are serialised anyway)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_POSTGRES_NEXT = text("SELECT nextval('case_number_seq')")
_SQLITE_NEXT = text("INSERT INTO case_number_seq DEFAULT VALUES RETURNING id")


def next_case_number_value(session: Session) -> int:
    """The next case-number counter value; unique forever, gaps allowed."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(_POSTGRES_NEXT).scalar_one())
    return int(session.execute(_SQLITE_NEXT).scalar_one())
