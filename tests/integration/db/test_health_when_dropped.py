"""``/healthz`` tells a load balancer the truth: a server whose PostgreSQL database is
dropped under it answers 503 (and says why), never a cached "ok".

A real server (tests/live_server.py) on a database of this test's own, dropped with the
server's connections in it, as an operator's mistake or a failover would.
"""

from __future__ import annotations

import os
import uuid

import httpx
import psycopg
import pytest

from careloop.db.migrate import upgrade_database
from tests.live_server import live_server

PG_ADMIN = os.environ.get("CARELOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def test_healthz_answers_503_once_the_database_is_dropped(db_kind: str) -> None:
    if db_kind != "postgres":
        pytest.skip("a dropped database is a PostgreSQL story (--db postgres)")
    name = f"health_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        admin.execute(f"CREATE DATABASE {name}")
        upgrade_database(url)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")},
            "CARELOOP_ENVIRONMENT": "test",
            "CARELOOP_DATABASE_URL": url,
            "CARELOOP_LOG_LEVEL": "WARNING",
        }
        with live_server(env) as base:
            up = httpx.get(f"{base}/healthz", timeout=10)
            assert up.json() == {"status": "ok", "database": "postgresql"}
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
            for _ in range(3):  # the pool's dead connections, then new ones refused
                down = httpx.get(f"{base}/healthz", timeout=30)
                assert down.status_code == 503
                assert down.json() == {"status": "degraded", "database": "unreachable"}
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
