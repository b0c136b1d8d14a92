"""CPU per work-queue request in one process: ``GET /api/v1/workqueue`` through the whole
ASGI stack (middleware, authentication, the page with its counts, the audit record, the
commit) with Starlette's TestClient, one request at a time, over the data a
``bench/workqueue.py --keep`` run left. Process CPU time of this process (the client's
own work included, the same in every version) and of the database's backends, not wall
time, so a busy machine changes it less than a latency; compare versions in the same
session, alternating:

    PYTHONPATH=src .venv/bin/python bench/workqueue_cpu.py
    PYTHONPATH=/tmp/older/src .venv/bin/python bench/workqueue_cpu.py  # an older tree
"""

from __future__ import annotations

import argparse
import os
import time

import psycopg
from fastapi.testclient import TestClient

from _common import (
    PRODUCTION,
    admin_url,
    careloop_cli,
    process_cpu_seconds,
    run_main,
    say,
    sqlalchemy_url,
    with_database,
)
from careloop.app import create_app
from workqueue import DB_NAME, MANAGER_EMAIL, PAGE, TEAMS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per run and line (3 runs)")
    parser.add_argument("--db-name", default=DB_NAME, help="a database bench/workqueue.py kept")
    args = parser.parse_args(argv)
    url = with_database(admin_url(), args.db_name)
    env = {
        "CARELOOP_DATABASE_URL": sqlalchemy_url(url),
        **PRODUCTION,
        "CARELOOP_LOG_LEVEL": "WARNING",
        "CARELOOP_LOG_FORMAT": "json",
    }
    token = careloop_cli({**os.environ, **env}, "token", "issue", MANAGER_EMAIL)
    token = token.strip().splitlines()[-1]
    os.environ.update(env)  # create_app reads its settings from the environment
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    lines = {
        "team": [f"/api/v1/workqueue?team={team}&limit={PAGE}" for team in TEAMS],
        "mine": [f"/api/v1/workqueue?mine=true&limit={PAGE}"],
    }
    with TestClient(create_app()) as client, psycopg.connect(url, autocommit=True) as conn:

        def get(path: str) -> None:
            response = client.get(path, headers=headers)
            if response.status_code != 200 or b'"item_id"' not in response.content:
                raise SystemExit(f"GET {path} answered {response.status_code}")

        for paths in lines.values():  # warm-up: caches, the pool, prepared statements
            for i in range(50):
                get(paths[i % len(paths)])
        own = conn.info.backend_pid
        backends = [
            int(r[0])
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                (args.db_name, own),
            ).fetchall()
        ]
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in lines}
        for _ in range(3):
            for label, paths in lines.items():
                db0 = sum(process_cpu_seconds(pid) for pid in backends)
                started = time.process_time()
                for i in range(args.requests):
                    get(paths[i % len(paths)])
                server = 1000 * (time.process_time() - started) / args.requests
                db = 1000 * (sum(process_cpu_seconds(p) for p in backends) - db0) / args.requests
                results[label].append((server, db))
    load = os.getloadavg()[0]
    for label, runs in results.items():
        say(f"{label}: runs {', '.join(f'{s:.2f} + {d:.2f}' for s, d in runs)} ms")
        server = sorted(s for s, _ in runs)[1]
        db = sorted(d for _, d in runs)[1]
        print(
            f"CPU per request, {label} (process with client + database), median of 3: "
            f"{server:.2f} + {db:.2f} ms (load average {load:.1f})"
        )
    return 0


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
