"""Many rows into one table at once, the same call on both databases: on PostgreSQL,
COPY for many rows and one prepared ``INSERT ... SELECT FROM json_to_recordset`` for a
few; on SQLite (in process, no round trips), a plain executemany.

A bulk intake writes thousands of rows per table per transaction; COPY takes them in one
round trip without building a statement of thousands of placeholders. A group of API
submissions writes a handful per table: one JSON value through a statement PostgreSQL
has prepared costs a fifth of the client CPU of an executemany (a message per row, a
parameter per column) and two thirds of the server's (bench/intake.py). The rows are the
same column dicts an ``insert(table)`` executemany takes; a column left out gets its
scalar Python default (``default=1``, ``default=list``), or the database's own (ids).

Inside :func:`together`, the few-row inserts on PostgreSQL wait for the end of the block
and go as one statement: an intake group writes its cases, items, clocks, timeline
events, audit records and work items (five to six tables, each through its own domain's
writer) in one round trip and one plan.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from psycopg import sql
from sqlalchemy import JSON, Column, Connection, Date, Insert, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from careloop.db import raw
from careloop.db.session import json_dumps
from careloop.db.types import UTCDateTime

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
    if connection.dialect.name != "postgresql":
        connection.execute(_insert(table), list(rows))
        return
    held: list[tuple[Table, Sequence[dict[str, Any]]]] | None = session.info.get(_HELD)
    if len(rows) < COPY_FROM:
        if held is not None:
            held.append((table, rows))
        else:
            _insert_json(connection, table, rows, returning=None)
        return
    _send_held(session)
    _copy(connection, table, rows)


#: Where :func:`together` keeps the inserts it holds, in the session's info.
_HELD = "careloop.copy.held"


@contextlib.contextmanager
def together(session: Session) -> Iterator[None]:
    """Hold the few-row inserts of :func:`insert_rows` made inside the block (PostgreSQL)
    and send them as one statement when it ends without error, a data-modifying CTE per
    insert: the rows reach the database only then, so nothing inside may read what it
    inserted (foreign keys are checked at the end of the statement, whatever the order of
    its inserts). The rows are held as given: they must not change until the block
    ends. An insert that answers ids, or a COPY, sends what is held first. On SQLite,
    which has no round trips to save, every insert is made at once."""
    if session.info.get(_HELD) is not None or session.get_bind().dialect.name != "postgresql":
        yield
        return
    session.info[_HELD] = []
    try:
        yield
        _send_held(session)
    finally:
        session.info.pop(_HELD, None)


def _send_held(session: Session) -> None:
    held: list[tuple[Table, Sequence[dict[str, Any]]]] | None = session.info.get(_HELD)
    if not held:
        return
    inserts = [(table, *_filled(table, rows)) for table, rows in held]
    held.clear()
    text = _together_statement(
        session.get_bind().dialect, tuple((table, names) for table, names, _ in inserts)
    )
    raw.run(session.connection(), text, [_payload(rows) for _, _, rows in inserts])


def insert_returning(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], key: str
) -> dict[Any, int]:
    """Insert ``rows`` and answer the ``id`` each got, by its value of ``key`` (a column
    unique among the rows, such as a case number)."""
    if not rows:
        return {}
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        _send_held(session)
        return dict(_insert_json(connection, table, rows, returning=key))
    stmt = insert(table).returning(table.c[key], table.c.id, sort_by_parameter_order=True)
    return {k: int(i) for k, i in connection.execute(stmt, list(rows))}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How rows with a given set of keys go into a table: the columns given, then the
    ones filled with their Python default (``default=1``, ``default=list``)."""

    present: tuple[str, ...]
    filled: tuple[str, ...]
    tail: tuple[Any, ...]
    #: ``tail`` as COPY writes it (its JSON values as text).
    copy_tail: tuple[Any, ...]
    #: The given columns that hold JSON, and those that hold instants or days, by position.
    json: tuple[int, ...]
    temporal: tuple[int, ...]


@functools.cache
def _plan(table: Table, given: frozenset[str]) -> _Plan:
    present: list[str] = []
    fill: dict[str, Any] = {}
    for column in table.columns:
        default: Any = column.default
        if column.name in given:
            present.append(column.name)
        elif default is not None and default.is_scalar:
            fill[column.name] = default.arg
        elif default is not None and default.is_callable:
            arg = getattr(default.arg, "__wrapped__", None)
            if arg not in (list, dict):
                raise ValueError(f"{table.name}.{column.name}: give it in every row")
            fill[column.name] = arg()
    tail = tuple(fill.values())
    return _Plan(
        tuple(present),
        tuple(fill),
        tail,
        _with_json(tail, [i for i, name in enumerate(fill) if _is_json(table.columns[name])]),
        tuple(i for i, name in enumerate(present) if _is_json(table.columns[name])),
        tuple(i for i, name in enumerate(present) if _is_temporal(table.columns[name])),
    )


def _insert_json(
    connection: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: str | None
) -> list[tuple[Any, int]]:
    """A few rows as one JSON array, one statement whose text never changes for a table
    and set of columns: PostgreSQL prepares it once, and the driver sends one value
    instead of a parameter per column per row (an executemany costs a message each)."""
    names, rows = _filled(table, rows)
    statement = _json_statement(connection.dialect, table, names, returning)
    # Through SQLAlchemy's connection: its errors, events and hidden parameters apply.
    result = connection.exec_driver_sql(statement, (_payload(rows),))
    return [(k, int(i)) for k, i in result] if returning else []


def _filled(
    table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[tuple[str, ...], Sequence[dict[str, Any]]]:
    """The columns written, in the table's order (those given, then those filled from a
    Python default), and the rows with the defaults filled in."""
    plan = _plan(table, frozenset(rows[0]))
    names = (*plan.present, *plan.filled)
    if not plan.filled:
        return names, rows
    defaults = dict(zip(plan.filled, plan.tail, strict=True))
    return names, [{**defaults, **row} for row in rows]


def _payload(rows: Sequence[dict[str, Any]]) -> str:
    return orjson.dumps(rows, default=_decimal, option=orjson.OPT_NON_STR_KEYS).decode()


@functools.cache
def _json_statement(
    dialect: Dialect, table: Table, names: tuple[str, ...], returning: str | None
) -> str:
    statement = _json_insert(dialect, table, names, sql.SQL("%s"))
    if returning is not None:
        statement += sql.SQL(" RETURNING {}, id").format(sql.Identifier(returning))
    return statement.as_string()


@functools.cache
def _together_statement(
    dialect: Dialect, inserts: tuple[tuple[Table, tuple[str, ...]], ...]
) -> str:
    """One statement for several inserts, each the CTE of its JSON value ($1, $2, ...)."""
    return (
        sql.SQL("WITH {} SELECT")
        .format(
            sql.SQL(", ").join(
                sql.SQL("{} AS ({})").format(
                    sql.Identifier(f"w{i}"),
                    _json_insert(dialect, table, names, sql.SQL(f"${i + 1}")),
                )
                for i, (table, names) in enumerate(inserts)
            )
        )
        .as_string()
    )


def _json_insert(
    dialect: Dialect, table: Table, names: tuple[str, ...], value: sql.Composable
) -> sql.Composed:
    # Each column read as its base type (no length): the INSERT's own assignment then
    # refuses a value too long, as a plain INSERT does.
    types = [re.sub(r"\(.*?\)", "", table.columns[n].type.compile(dialect=dialect)) for n in names]
    return sql.SQL(
        "INSERT INTO {} ({}) SELECT {} FROM json_to_recordset({}::json) AS r ({})"
    ).format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(n) for n in names),
        sql.SQL(", ").join(sql.Identifier("r", n) for n in names),
        value,
        sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t))
            for n, t in zip(names, types, strict=True)
        ),
    )


def _copy(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    plan = _plan(table, frozenset(rows[0]))
    tail, as_json = plan.copy_tail, plan.json
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(n) for n in [*plan.present, *plan.filled]),
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    pick = operator.itemgetter(*plan.present)
    # Instants and days as the text the driver would write for them (its str()), each
    # distinct value once: a batch's rows share a few (its received time, its deadlines),
    # and the driver's own dumping of dates took three quarters of a row's formatting.
    texts: dict[Any, str] = {}
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        write = copy.write_row
        for row in rows:
            picked = pick(row)
            values = picked if len(plan.present) > 1 else (picked,)
            if as_json:
                values = _with_json(values, as_json)
            if plan.temporal:
                values = _with_text(values, plan.temporal, texts)
            write(values + tail if tail else values)


def _decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def _with_json(values: tuple[Any, ...], positions: Sequence[int]) -> tuple[Any, ...]:
    out = list(values)
    for i in positions:
        if out[i] is not None:
            out[i] = json_dumps(out[i])
    return tuple(out)


def _with_text(
    values: tuple[Any, ...], positions: tuple[int, ...], texts: dict[Any, str]
) -> tuple[Any, ...]:
    """Dates and instants as text. Equal instants in two zones share a text: the columns
    are ``UTCDateTime`` (an instant, whatever the zone) or dates."""
    out = list(values)
    for i in positions:
        value = out[i]
        if value is not None:
            text = texts.get(value)
            if text is None:
                text = texts[value] = str(value)
            out[i] = text
    return tuple(out)


def _is_temporal(column: Column[Any]) -> bool:
    return isinstance(column.type, UTCDateTime | Date)


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON) or isinstance(getattr(column.type, "impl", None), JSON)
