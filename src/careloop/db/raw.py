"""A hot read sent on PostgreSQL by the driver's own cursor: compiled by SQLAlchemy once,
sent with ``$n`` placeholders as a prepared statement, its rows plain tuples.

For the few statements that run on every call of a hot path and are long (a ranking's
pre-filter with its explanations, about 6,000 characters): psycopg converts a query of
more than 4,096 characters from ``%(name)s`` placeholders again at every execution
(80 us for that one), and SQLAlchemy's execution context and result rows cost as much
again; together half the client CPU of that statement (bench/matching.py). A raw cursor
takes the compiled text as is. Errors are raised as SQLAlchemy raises them (the same
exception classes, parameters hidden, a lost connection invalidated), so callers and the
web edge see no difference; listeners of SQLAlchemy's ``before_cursor_execute`` see
these statements too (with no execution context).
Rows come back as SQLAlchemy would give them: a column whose type converts what the
driver returns (an enum, a UTC instant) is converted, by the processor compiled once.
Other databases (SQLite, in process), and a statement with a list to expand (an IN of
as many values as given), run through SQLAlchemy as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple, cast

import psycopg
from psycopg import generators
from psycopg.types.string import TextLoader
from sqlalchemy import Connection, Engine, exc
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_IDLE = psycopg.pq.TransactionStatus.IDLE
_INTRANS = psycopg.pq.TransactionStatus.INTRANS
_DONE = psycopg.pq.ExecStatus.COMMAND_OK
_ROWS = psycopg.pq.ExecStatus.TUPLES_OK
_JSON_TYPES = ("json", "jsonb")

#: The psycopg dialect, placeholders numbered as PostgreSQL takes them.
_DIALECT = sa_psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


class _Prepared(NamedTuple):
    text: str
    order: tuple[str, ...]  # the parameter of each placeholder, in order
    constants: dict[str, Any]  # values the statement carries, ready to send
    processors: dict[str, Callable[[Any], Any]]  # for the caller's values that need one
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, processor) that need one


# Bounded: a statement built per caller's visibility (a ranking's case read) is one object
# per user, and callers keep only so many of them (least recently used dropped).
@functools.lru_cache(maxsize=2048)
def _prepared(statement: Executable) -> _Prepared | None:
    """None for a statement with a list to expand (its text changes with the list)."""
    compiled = cast(ClauseElement, statement).compile(dialect=_DIALECT)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
    if compiled.post_compile_params:
        return None
    constants: dict[str, Any] = {}
    processors: dict[str, Callable[[Any], Any]] = {}
    for name in set(compiled.positiontup):
        bind = compiled.binds[name]
        # The dialect's own type (a JSONB value is wrapped for the driver, as SQLAlchemy does).
        process = bind.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
        if bind.required:
            if process is not None:
                processors[name] = process
        else:
            value = bind.effective_value
            constants[name] = process(value) if process is not None else value
    results = []
    for position, column in enumerate(compiled._result_columns):
        process = column.type.result_processor(_DIALECT, None)
        if process is not None:
            results.append((position, process))
    return _Prepared(
        compiled.string, tuple(compiled.positiontup), constants, processors, tuple(results)
    )


def fetch_all(
    connection: Connection,
    statement: Executable,
    params: Mapping[str, Any],
    *,
    alone: bool = False,
    json_text: bool = False,
) -> Sequence[Sequence[Any]]:
    """The rows of ``statement`` with ``params``, in the connection's transaction.

    ``alone``: the statement is a whole unit of work by itself (a read that writes its
    own audit record in a CTE). When the connection has no transaction open yet, it runs
    in autocommit mode: PostgreSQL commits it, durably, before it answers, so no BEGIN
    goes before it and no COMMIT after (two round trips fewer); the caller's commit then
    finds nothing to do, and a later statement of the same use case opens a transaction
    of its own. In a transaction already open it joins it, as without ``alone``.

    ``json_text``: on PostgreSQL, JSON and JSONB values come as their text, undecoded
    (for a caller that decodes each distinct value once); elsewhere as SQLAlchemy
    returns them."""
    prepared = _prepared(statement) if connection.dialect.name == "postgresql" else None
    if prepared is None:
        return connection.execute(statement, dict(params)).all()
    processors = prepared.processors
    values = []
    for name in prepared.order:
        if name in prepared.constants:
            values.append(prepared.constants[name])
        else:
            process = processors.get(name)
            values.append(process(params[name]) if process else params[name])
    rows = run(connection, prepared.text, values, alone=alone, json_text=json_text)
    if not prepared.results:
        return rows
    return [_processed(row, prepared.results) for row in rows]


def run(
    connection: Connection,
    text: str,
    values: Sequence[Any],
    *,
    alone: bool = False,
    json_text: bool = False,
) -> list[tuple[Any, ...]]:
    """``text`` (``$n`` placeholders) with ``values``, prepared, by the driver's own cursor
    on the connection (PostgreSQL); its rows, if it returns any. Errors are SQLAlchemy's,
    as :func:`fetch_all` raises them; ``alone`` and ``json_text`` as there."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    own = alone and driver.info.transaction_status == _IDLE
    if own:
        driver.autocommit = True
    cursor = psycopg.RawCursor(driver)
    if json_text:
        for name in _JSON_TYPES:  # this cursor's own loaders (1.5 us)
            cursor.adapters.register_loader(name, TextLoader)
    try:
        if connection._has_events or connection.engine._has_events:
            # Listeners (statement counters, tracing) see it as any other statement.
            for listener in connection.dispatch.before_cursor_execute:
                listener(connection, cursor, text, values, None, False)
        cursor.execute(text, values, prepare=True)
        # The result's status, not ``cursor.description``: that builds a Column object of
        # every column at each call (17 us for a ranking's statement of 17 columns).
        result = cursor.pgresult
        return cursor.fetchall() if result is not None and result.status == _ROWS else []
    except psycopg.Error as error:
        lost = connection.dialect.is_disconnect(error, driver, cursor)  # type: ignore[arg-type]
        if lost:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            text,
            None,
            error,
            psycopg.Error,
            hide_parameters=True,
            connection_invalidated=lost,
            dialect=connection.dialect,
        ) from error
    finally:
        cursor.close()
        if own:
            if driver.info.transaction_status == _IDLE:
                driver.autocommit = False
            elif not connection.invalidated:
                connection.invalidate()  # never hand on a connection left in autocommit


def _processed(
    row: Sequence[Any], results: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> Sequence[Any]:
    out = list(row)
    for position, process in results:
        out[position] = process(out[position])
    return out


@contextmanager
def commit_meanwhile(session: Session) -> Iterator[None]:
    """Commit the session's transaction while the block runs: its last write is done,
    and what is left is Python (ranking and wording an answer). The COMMIT is sent on
    entry and its answer awaited on exit, so the durable flush of the write-ahead log
    (about half a millisecond here) overlaps the block instead of following it; the
    block's result is not handed on before the commit has succeeded, and a failed
    commit raises as the entry point's commit would. The entry point's commit then finds
    nothing to do.

    Only on PostgreSQL, for a session the entry point opened on the engine, in a
    transaction of its own with nothing left unflushed; otherwise the block runs and the
    entry point commits as usual (a session joined to an outer transaction, as in the
    tests, is never committed here). The block must not run statements."""
    connection = _own_transaction(session)
    if connection is None:
        yield
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    pgconn = driver.pgconn
    with driver.lock:
        pgconn.send_query(b"COMMIT")
        driver.wait(generators.send(pgconn))
    try:
        yield
    finally:
        with driver.lock:
            results = driver.wait(generators.fetch_many(pgconn))
        failed = next((r for r in results if r.status != _DONE), None)
        if failed is not None:
            error = psycopg.errors.error_from_result(failed, encoding=driver.info.encoding)
            raise exc.DBAPIError.instance(
                "COMMIT",
                None,
                error,
                psycopg.Error,
                hide_parameters=True,
                dialect=connection.dialect,
            ) from error


def _own_transaction(session: Session) -> Connection | None:
    """The session's connection when :func:`commit_meanwhile` may commit on it."""
    if not isinstance(session.bind, Engine) or session.bind.dialect.name != "postgresql":
        return None
    if session.in_nested_transaction() or not session.in_transaction():
        return None
    if session.new or session.deleted or session.dirty:
        return None
    connection = session.connection()
    driver = connection.connection.driver_connection
    if not isinstance(driver, psycopg.Connection) or driver.pgconn.transaction_status != _INTRANS:
        return None
    return connection
