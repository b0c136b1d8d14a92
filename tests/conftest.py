"""Test fixtures: real databases (SQLite and PostgreSQL), schema from migrations,
one outer transaction per test rolled back at the end, and a frozen clock.

Choose the database with ``--db sqlite`` (default) or ``--db postgres``. PostgreSQL is
reached at CARELOOP_TEST_POSTGRES_URL (default: the local server's ``test`` database);
each xdist worker gets a database of its own, created fresh. When the server cannot be
reached the PostgreSQL tests are skipped with a notice, except under CI=true, where
that is an error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import hypothesis
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from careloop.app import create_app
from careloop.core.clock import FixedClock
from careloop.db.migrate import upgrade_database
from careloop.db.models import Base
from careloop.db.session import Database, make_engine
from careloop.settings import Settings

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Tuesday 2026-11-24 09:00 in New York: inside business hours, before Thanksgiving.
T0 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)

# Generated inputs are judged by what they find, not by how fast a shared 2-core machine
# makes them: its load (other processes, the other test worker) says nothing of the code.
hypothesis.settings.register_profile(
    "careloop", suppress_health_check=[hypothesis.HealthCheck.too_slow], deadline=None
)
hypothesis.settings.load_profile("careloop")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="database the integration and API tests run on",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"careloop test database: {config.getoption('--db')}"


def _pg_base_url() -> str:
    return os.environ.get("CARELOOP_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _sqlalchemy(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


def _fresh_pg_database(worker: str) -> str:
    base = _pg_base_url()
    try:
        admin = psycopg.connect(_libpq(base), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.exit(f"PostgreSQL is required under CI and unreachable at {base}: {exc}", 3)
        pytest.skip(f"NOTICE: PostgreSQL unreachable at {base}; PostgreSQL tests skipped")
    # Two checkouts testing at once on one server must not drop each other's databases.
    checkout = hashlib.sha256(str(Path(__file__).resolve().parent).encode()).hexdigest()[:8]
    name = f"careloop_test_{checkout}_{worker}"
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return _sqlalchemy(base.rsplit("/", 1)[0] + f"/{name}")


@pytest.fixture(scope="session")
def database_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    if db_kind == "postgres":
        url = _fresh_pg_database(worker_id)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "careloop.sqlite3"
        url = f"sqlite:///{path}"
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=25)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that the test never commits."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def database(engine: Engine, connection: Connection) -> Database:
    return Database(engine, bind=connection)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    with database.unit_of_work() as s:
        yield s


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        log_level="WARNING",
        token_cache_seconds=0,
        document_dir=tmp_path / "documents",
    )


@pytest.fixture
def app(settings: Settings, database: Database, clock: FixedClock) -> FastAPI:
    return create_app(settings, database=database, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# ---- committed data (concurrency tests need real commits) -----------------------------


@pytest.fixture
def committed_database(engine: Engine) -> Iterator[Database]:
    """A database whose transactions really commit; every table is emptied afterwards."""
    database = Database(engine)
    yield database
    _empty_all_tables(engine)


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - names from metadata
