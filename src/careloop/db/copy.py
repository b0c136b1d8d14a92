"""Many rows into one table at once: PostgreSQL's COPY behind a small adapter, plain
executemany on SQLite (and for a handful of rows, where an INSERT costs no more).

A bulk intake writes thousands of rows per table per transaction; COPY takes them in one
round trip without building a statement of thousands of placeholders. The rows are the
same column dicts an ``insert(table)`` executemany takes; a column left out gets its
scalar Python default (``default=1``, ``default=list``), or the database's own (ids).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from sqlalchemy import JSON, Column, Insert, Table, insert
from sqlalchemy.orm import Session

#: Fewer rows than this go through a plain INSERT (a COPY costs a round trip more).
COPY_FROM = 50


@functools.cache
def _insert(table: Table) -> Insert:
    """The plain INSERT of a table, built once (building it costs more than a small insert
    takes to run)."""
    return insert(table)


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) into ``table``, nothing read back."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        connection.execute(_insert(table), list(rows))
        return
    given = rows[0].keys()
    columns: list[Column[Any]] = []
    fill: dict[str, Any] = {}
    for column in table.columns:
        default: Any = column.default
        if column.name in given:
            columns.append(column)
        elif default is not None and default.is_scalar:
            columns.append(column)
            fill[column.name] = default.arg
        elif default is not None and default.is_callable:
            arg = getattr(default.arg, "__wrapped__", None)
            if arg in (list, dict):
                columns.append(column)
                fill[column.name] = arg()
            else:
                raise ValueError(f"{table.name}.{column.name}: give it in every row")
    names = [column.name for column in columns]
    as_json = [i for i, column in enumerate(columns) if _is_json(column)]
    missing = [(i, fill[name]) for i, name in enumerate(names) if name not in given]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    present = [name for name in names if name in given]
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = [row[name] for name in present]
            for i, default in missing:
                values.insert(i, default)
            for i in as_json:
                if values[i] is not None:
                    values[i] = _dumps(values[i])
            copy.write_row(values)


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)
