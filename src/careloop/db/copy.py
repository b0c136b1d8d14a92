"""Many rows into one table at once: PostgreSQL's COPY behind a small adapter, plain
executemany on SQLite (and for a handful of rows, where an INSERT costs no more).

A bulk intake writes thousands of rows per table per transaction; COPY takes them in one
round trip without building a statement of thousands of placeholders. The rows are the
same column dicts an ``insert(table)`` executemany takes; a column left out gets its
scalar Python default (``default=1``, ``default=list``), or the database's own (ids).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import Any

from psycopg import sql
from sqlalchemy import JSON, Column, Insert, Table, insert
from sqlalchemy.orm import Session

from careloop.db.session import json_dumps

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
    # The columns given come first, the filled ones after (COPY takes any order): each
    # row is then one tuple from ``itemgetter`` and the same tail of defaults.
    present = [column.name for column in columns if column.name in given]
    filled = list(fill)
    tail = _with_json(
        tuple(fill[name] for name in filled),
        [i for i, name in enumerate(filled) if _is_json(table.columns[name])],
    )
    as_json = [i for i, name in enumerate(present) if _is_json(table.columns[name])]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(n) for n in [*present, *filled]),
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    pick = operator.itemgetter(*present)
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        write = copy.write_row
        for row in rows:
            picked = pick(row)
            values = picked if len(present) > 1 else (picked,)
            if as_json:
                values = _with_json(values, as_json)
            write(values + tail if tail else values)


def _with_json(values: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    out = list(values)
    for i in positions:
        if out[i] is not None:
            out[i] = json_dumps(out[i])
    return tuple(out)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)
