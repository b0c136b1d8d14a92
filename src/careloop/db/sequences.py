"""Gap-tolerant counters behind a small adapter: a real SEQUENCE on PostgreSQL (never
blocks concurrent transactions, a rolled-back number is simply skipped), an
AUTOINCREMENT table on SQLite (whose writers are serialised anyway)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, cast, func, text
from sqlalchemy.orm import Session

from careloop.db import raw

_SQLITE_NEXT = text("INSERT INTO case_number_seq DEFAULT VALUES RETURNING id")

#: On PostgreSQL the case number is computed inside the INSERT that stores the case
#: (one round trip fewer on the intake path); the prefix travels as a parameter so the
#: statement itself never changes and stays in SQLAlchemy's compiled cache.
POSTGRES_CASE_NUMBER: ColumnElement[str] = bindparam(
    "case_number_prefix", type_=String
) + func.lpad(cast(func.nextval("case_number_seq"), String), 6, "0")


def case_number_params(session: Session, prefix: str) -> dict[str, Any]:
    """Parameters that give the next case number, ``prefix`` + a zero-padded counter.

    PostgreSQL: the prefix for :data:`POSTGRES_CASE_NUMBER`; SQLite: the number itself.
    """
    if session.get_bind().dialect.name == "postgresql":
        return {"case_number_prefix": prefix}
    value = int(session.execute(_SQLITE_NEXT).scalar_one())
    return {"case_number": f"{prefix}{value:06d}"}


# Each row takes the next case number and the next id of the table named: the two move
# together within the statement, so sorted by number the ids rise too.
_POSTGRES_MANY = text(
    "SELECT nextval('case_number_seq'), nextval(pg_get_serial_sequence(:table, 'id')) "
    "FROM generate_series(1, :n) ORDER BY 1"
)
# AUTOINCREMENT keeps its high-water mark in sqlite_sequence: numbers are never reused.
_SQLITE_MANY = text(
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n) "
    "INSERT INTO case_number_seq (id) "
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'case_number_seq'), 0) + i "
    "FROM n WHERE true RETURNING id"
)


def reserve_case_numbers(
    session: Session, prefix: str, n: int, *, ids_of: str
) -> tuple[list[str], list[int] | None]:
    """The next ``n`` case numbers at once (a bulk intake), in increasing order, with the
    id each case's row in table ``ids_of`` will have (PostgreSQL, from its ``id``
    sequence: the rows can then be written with nothing read back), or None (SQLite: the
    insert answers them). One statement on both databases."""
    connection = session.connection()
    if n <= 0:
        return [], ([] if connection.dialect.name == "postgresql" else None)
    if connection.dialect.name == "postgresql":
        pairs = raw.fetch_all(connection, _POSTGRES_MANY, {"n": n, "table": ids_of})
        return [f"{prefix}{int(v):06d}" for v, _ in pairs], [int(i) for _, i in pairs]
    values = sorted(int(v) for v in connection.execute(_SQLITE_MANY, {"n": n}).scalars())
    return [f"{prefix}{value:06d}" for value in values], None
