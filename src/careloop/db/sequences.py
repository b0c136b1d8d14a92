"""Gap-tolerant counters behind a small adapter: a real SEQUENCE on PostgreSQL (never
blocks concurrent transactions, a rolled-back number is simply skipped), an
AUTOINCREMENT table on SQLite (whose writers are serialised anyway)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, String, cast, func, literal, text
from sqlalchemy.orm import Session

_SQLITE_NEXT = text("INSERT INTO case_number_seq DEFAULT VALUES RETURNING id")


def case_number(session: Session, prefix: str, width: int = 6) -> str | ColumnElement[str]:
    """The next case number, ``prefix`` + a zero-padded counter value; unique forever.

    On PostgreSQL it is an SQL expression evaluated inside the INSERT that stores the
    case (one round trip fewer on the intake path); on SQLite it is the value itself.
    """
    if session.get_bind().dialect.name == "postgresql":
        counter = cast(func.nextval("case_number_seq"), String)
        return literal(prefix) + func.lpad(counter, width, "0")
    value = int(session.execute(_SQLITE_NEXT).scalar_one())
    return f"{prefix}{value:0{width}d}"
