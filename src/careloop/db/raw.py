"""A hot read sent on PostgreSQL by the driver's own cursor: compiled by SQLAlchemy once,
sent with ``$n`` placeholders as a prepared statement, its rows plain tuples.

For the few statements that run on every call of a hot path and are long (a ranking's
pre-filter with its explanations, about 6,000 characters): psycopg converts a query of
more than 4,096 characters from ``%(name)s`` placeholders again at every execution
(80 us for that one), and SQLAlchemy's execution context and result rows cost as much
again; together half the client CPU of that statement (bench/matching.py). A raw cursor
takes the compiled text as is. Errors are raised as SQLAlchemy raises them (the same
exception classes, parameters hidden, a lost connection invalidated), so callers and the
web edge see no difference; SQLAlchemy's cursor events do not see these statements.
Other databases (SQLite, in process) run the statement through SQLAlchemy as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import psycopg
from sqlalchemy import Connection, exc
from sqlalchemy.dialects.postgresql import psycopg as sa_psycopg
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

_IDLE = psycopg.pq.TransactionStatus.IDLE

#: The psycopg dialect, placeholders numbered as PostgreSQL takes them.
_DIALECT = sa_psycopg.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


class _Prepared(NamedTuple):
    text: str
    order: tuple[str, ...]  # the parameter of each placeholder, in order
    constants: dict[str, Any]  # values the statement carries, ready to send
    processors: dict[str, Callable[[Any], Any]]  # for the caller's values that need one


@functools.cache
def _prepared(statement: Executable) -> _Prepared:
    compiled = cast(ClauseElement, statement).compile(dialect=_DIALECT)
    assert isinstance(compiled, SQLCompiler) and compiled.positiontup is not None
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
    return _Prepared(compiled.string, tuple(compiled.positiontup), constants, processors)


def fetch_all(
    connection: Connection,
    statement: Executable,
    params: Mapping[str, Any],
    *,
    alone: bool = False,
) -> Sequence[Sequence[Any]]:
    """The rows of ``statement`` with ``params``, in the connection's transaction.

    ``alone``: the statement is a whole unit of work by itself (a read that writes its
    own audit record in a CTE). When the connection has no transaction open yet, it runs
    in autocommit mode: PostgreSQL commits it, durably, before it answers, so no BEGIN
    goes before it and no COMMIT after (two round trips fewer); the caller's commit then
    finds nothing to do, and a later statement of the same use case opens a transaction
    of its own. In a transaction already open it joins it, as without ``alone``."""
    if connection.dialect.name != "postgresql":
        return connection.execute(statement, dict(params)).all()
    prepared = _prepared(statement)
    processors = prepared.processors
    values = []
    for name in prepared.order:
        if name in prepared.constants:
            values.append(prepared.constants[name])
        else:
            process = processors.get(name)
            values.append(process(params[name]) if process else params[name])
    driver = connection.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    own = alone and driver.info.transaction_status == _IDLE
    if own:
        driver.autocommit = True
    cursor = psycopg.RawCursor(driver)
    try:
        cursor.execute(prepared.text, values, prepare=True)
        return cursor.fetchall()
    except psycopg.Error as error:
        lost = connection.dialect.is_disconnect(error, driver, cursor)  # type: ignore[arg-type]
        if lost:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(
            prepared.text,
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
