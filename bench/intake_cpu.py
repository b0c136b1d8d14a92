"""CPU per accepted referral in one process: ``POST /api/v1/referrals`` (or ``/fhir``)
through the whole ASGI stack (middleware, authentication, parsing, the use case, the
commit) with Starlette's TestClient, one request at a time, on PostgreSQL. Process CPU
time, not wall time, so a busy machine changes it less than a rate; the client's own
work is included (the same in every version), so compare versions in the same session,
alternating:

    PYTHONPATH=src .venv/bin/python bench/intake_cpu.py
    PYTHONPATH=src .venv/bin/python bench/intake_cpu.py --clients 8   # submissions in groups
    PYTHONPATH=src .venv/bin/python bench/intake_cpu.py --fhir   # the same referral, POST /fhir
    PYTHONPATH=/tmp/older/src .venv/bin/python bench/intake_cpu.py  # an older tree (git archive)
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from _common import (
    PRODUCTION,
    add_database_options,
    recreate_database,
    run_main,
    say,
    with_database,
)
from careloop.app import create_app
from intake import body_template, fhir_template, prepare_app_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per run (3 runs)")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="threads submitting at once (default 1: one at a time; more: stored in groups)",
    )
    parser.add_argument(
        "--fhir", action="store_true", help="post the referral as a transaction Bundle to /fhir"
    )
    add_database_options(parser, "careloop_bench_cpu")
    args = parser.parse_args(argv)
    url = with_database(args.postgres_url, args.db_name)
    recreate_database(args.postgres_url, args.db_name)
    env = {
        "CARELOOP_DATABASE_URL": url,
        **PRODUCTION,
        "CARELOOP_LOG_FORMAT": "json",
    }
    token = prepare_app_database({**os.environ, **env})
    os.environ.update(env)  # create_app reads its settings from the environment
    now = datetime.now(UTC)
    template = fhir_template(now) if args.fhir else body_template(now)
    path, created = ("/fhir", 200) if args.fhir else ("/api/v1/referrals", 201)
    letters = str.maketrans("0123456789", "abcdefghij")
    media = "application/fhir+json" if args.fhir else "application/json"
    headers = {"Authorization": f"Bearer {token}", "content-type": media}
    with TestClient(create_app()) as client:

        def submit(i: int) -> None:
            body = template.replace("__LAST__", f"Cpu{i:06d}".translate(letters)).replace(
                "__BIRTH__", f"{1930 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}"
            )
            response = client.post(path, content=body, headers=headers)
            if response.status_code != created:
                raise SystemExit(f"a valid referral got {response.status_code}")

        for i in range(50):  # warm-up: caches, the pool, compiled statements
            submit(i)
        runs = []
        with ThreadPoolExecutor(args.clients) as pool:
            for run in range(3):
                started = time.process_time()
                list(
                    pool.map(submit, range(10_000 * (run + 1), 10_000 * (run + 1) + args.requests))
                )
                runs.append(1000 * (time.process_time() - started) / args.requests)
    say(f"runs: {', '.join(f'{r:.2f}' for r in runs)} ms")
    print(
        f"CPU per accepted referral (client included), {args.clients} client(s), median of 3: "
        f"{sorted(runs)[1]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
