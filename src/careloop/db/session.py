"""Engines, sessions and the unit of work.

One use case is one transaction, owned by whoever started the work (request, CLI command,
job). Services only ``add`` and ``flush``; :func:`Database.unit_of_work` commits or rolls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection, Engine, Select, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

REFERENCE_CACHE_KEY = "careloop.reference_cache"
CONFIG_KEY = "careloop.config"


def session_config(session: Session, key: str) -> Any:
    """A value of the operator configuration the session's Database was built with."""
    config = session.info.get(CONFIG_KEY) or {}
    return config.get(key)


class ReferenceCache:
    """A small time-bounded cache of reference data, one per Database.

    Entries live ``ttl`` seconds: a payer renamed or re-configured is seen by every
    process within that time. It hangs off the Database (not the module) so a test's
    rolled-back data never leaks into the next test's database.
    """

    def __init__(self, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return cast(T, entry[1])
        value = load()
        if len(self._entries) > 1000:
            self._entries.clear()
        self._entries[key] = (now + self.ttl, value)
        return value


def reference_cache(session: Session) -> ReferenceCache | None:
    cache = session.info.get(REFERENCE_CACHE_KEY)
    return cache if isinstance(cache, ReferenceCache) else None


#: Work queued on a session that must be persisted even when its transaction rolls back
#: (the audit record of a denied read, for instance). Each callable gets a fresh session.
AFTER_ROLLBACK_KEY = "careloop.after_rollback"
T = TypeVar("T")


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine with the settings each database needs to behave like the other."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
            json_serializer=json_dumps,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # BEGIN IMMEDIATE makes writers queue instead of failing mid-transaction.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # hide_parameters: a failed statement's error must not quote member data into logs.
    # No pre-ping (a round trip on every checkout): when the server restarts, the first
    # statement to notice invalidates the whole pool and that one request answers 503.
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        json_serializer=json_dumps,
        json_deserializer=orjson.loads,
    )


def json_dumps(value: Any) -> str:
    """JSON columns (findings, timeline data, audit detail) through orjson: each intake
    writes five of them, and json.dumps showed in its profile (bench/intake.py). The bulk
    COPY (``db.copy``) writes them with the same function, so both paths store the same."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's own lower() folds ASCII letters only; PostgreSQL's folds every script.
    # A name search compares lower(name) with the lower-cased words typed: "Орлова"
    # must find "Орлова" and "ОРЛОВА" on both.
    dbapi_connection.create_function("lower", 1, _lower, deterministic=True)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and its session factory; built once per process (or per test)."""

    def __init__(
        self,
        engine: Engine,
        *,
        bind: Connection | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        # Operator configuration the use cases read from their session (e.g. matching
        # weights): set once by the entry point from Settings, never from the environment.
        self.config = dict(config or {})
        # Reference data that changes rarely (payers and their rules), shared by the
        # sessions of this database for a few seconds; see ReferenceCache.
        self.reference_cache = ReferenceCache()
        if bind is not None:
            # Tests: sessions join an outer transaction through SAVEPOINTs.
            self._factory = sessionmaker(
                bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )
        else:
            self._factory = sessionmaker(bind=engine, expire_on_commit=False)

    @classmethod
    def from_url(
        cls, url: str, *, pool_size: int = 10, config: dict[str, Any] | None = None
    ) -> Database:
        return cls(make_engine(url, pool_size=pool_size), config=config)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._factory(
            info={REFERENCE_CACHE_KEY: self.reference_cache, CONFIG_KEY: self.config}
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """Open a session, commit when the block ends, roll back if it raises."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            self.run_after_rollback(session)
            raise
        finally:
            session.close()

    def run_after_rollback(self, session: Session) -> None:
        """Persist the work a rolled-back transaction asked to keep (denied-access audits)."""
        pending: list[Callable[[Session], None]] = session.info.pop(AFTER_ROLLBACK_KEY, [])
        if not pending:
            return
        with self.unit_of_work() as fresh:
            for job in pending:
                job(fresh)


def keep_after_rollback(session: Session, job: Callable[[Session], None]) -> None:
    """Ask the unit of work to run ``job`` in a new transaction if this one rolls back."""
    session.info.setdefault(AFTER_ROLLBACK_KEY, []).append(job)


S = TypeVar("S", bound="Select[Any]")


def skip_locked(session: Session, stmt: S) -> S:
    """Lock the selected rows for this transaction, skipping rows another worker holds
    (FOR UPDATE SKIP LOCKED), so any number of workers share a queue on PostgreSQL.
    SQLite serialises writers, so one worker runs and the plain select is enough."""
    if session.get_bind().dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True)
    return stmt
