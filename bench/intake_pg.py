"""PostgreSQL's own cost of an accepted referral, measured alone: groups (of eight by
default) written by ``referral.bulk.submit_many`` one after the other on one connection
(no HTTP, no concurrency), with the CPU of that connection's server process (from /proc)
and the WAL written, per referral, median of three runs. Beside ``bench/intake.py``, whose
PostgreSQL figure under load also holds the concurrency and the background work around
the groups; ``--group`` shows what a group's own statements cost (1: every referral alone).

    .venv/bin/python bench/intake_pg.py
    .venv/bin/python bench/intake_pg.py --group 1 --groups 600
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text

from _common import (
    CLOCK_TICKS,
    add_database_options,
    analyze_as_in_service,
    drop_database,
    recreate_database,
    run_main,
    say,
    sqlalchemy_url,
    with_database,
)
from careloop.codes import warm_up
from careloop.core.clock import SystemClock
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.referral import bulk
from careloop.referral.schemas import ReferralCreate
from intake import load_factory, prepare_app_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, default=8, help="referrals per group (default 8)")
    parser.add_argument("--groups", type=int, default=150, help="groups per run (default 150)")
    add_database_options(parser, "careloop_bench_pg")
    args = parser.parse_args(argv)
    url = with_database(args.postgres_url, args.db_name)
    recreate_database(args.postgres_url, args.db_name)
    try:
        token = prepare_app_database({**os.environ, "CARELOOP_DATABASE_URL": url})
        warm_up()
        runs = measure(url, token, args.group, args.groups)
    finally:
        if not args.keep_db:
            drop_database(args.postgres_url, args.db_name)
    runs.sort()
    cpu, wal, client = runs[1]
    print(
        f"PostgreSQL CPU per referral {cpu:.3f} ms (runs "
        f"{', '.join(f'{r[0]:.3f}' for r in runs)}), WAL {wal:,.0f} B, "
        f"client CPU {client:.3f} ms; groups of {args.group}, median of 3 x "
        f"{args.groups * args.group}"
    )
    return 0


def measure(url: str, token: str, size: int, groups: int) -> list[tuple[float, float, float]]:
    referral_payload = load_factory("referral").referral_payload
    engine = create_engine(sqlalchemy_url(url), pool_size=1, max_overflow=0)
    database = Database(engine)
    clock = SystemClock()
    now = clock.now()
    with database.unit_of_work() as session:
        actor = identity_service.authenticate(session, token, now=now, ip=None, request_id=None)
    with engine.connect() as conn:
        pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    letters = str.maketrans("0123456789", "abcdefghij")

    def drafts(first: int, count: int) -> list[ReferralCreate]:
        return [
            ReferralCreate.model_validate(
                referral_payload(
                    now,
                    member__last_name=f"Pg{n:06d}".translate(letters),
                    member__birth_date=f"{1930 + n % 40}-{1 + n % 12:02d}-{1 + n % 28:02d}",
                ),
                strict=False,  # as the API reads JSON: dates written as text
            )
            for n in range(first, first + count)
        ]

    def backend_cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def wal() -> int:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        return int(row[0]) if row else 0

    def run(first: int, count: int) -> tuple[float, float, float]:
        pending = drafts(first, count * size)
        cpu0, wal0, client0 = backend_cpu(), wal(), time.process_time()
        for g in range(count):
            requests = [bulk.SubmitRequest(actor, d) for d in pending[g * size : (g + 1) * size]]
            with database.unit_of_work() as session:
                answers = bulk.submit_many(session, requests, clock=clock)
            if any(isinstance(a, Exception) for a in answers):
                raise SystemExit(f"a valid referral was refused: {answers}")
        n = count * size
        return (
            1000 * (backend_cpu() - cpu0) / n,
            (wal() - wal0) / n,
            1000 * (time.process_time() - client0) / n,
        )

    say("warm-up ...")
    run(0, max(1, 2400 // size))
    analyze_as_in_service(url)
    runs = []
    for k in range(3):
        runs.append(run(100_000 * (k + 1), groups))
        say(f"run {k + 1}/3: {runs[-1][0]:.3f} ms of PostgreSQL CPU per referral")
    say(f"spread: {statistics.pstdev(r[0] for r in runs):.3f} ms")
    engine.dispose()
    return runs


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
