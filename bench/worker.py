"""Worker throughput: due clocks fired per second by two worker processes, next to a bare
SQL worker doing the same writes in the same run.

    .venv/bin/python bench/worker.py                    # 100,000 clocks, 3 runs
    RUNS=1 .venv/bin/python bench/worker.py --clocks 20000   # quicker

What runs (DESIGN.md §7: figures are ratios against the machine's own limit):

* a dedicated database, ``careloop_bench_worker`` (``--db-name``) on the server that
  CARELOOP_BENCH_POSTGRES_URL names (default postgresql://postgres@127.0.0.1:5432/postgres),
  dropped, recreated and migrated with ``upgrade_database`` (``--keep-db`` leaves it);
* before every pass, the tables are emptied and refilled with COPY (not through the
  services): ``--clocks`` referrals received a day ago and never acknowledged, each with
  its acknowledgement clock open and overdue, then VACUUM (ANALYZE). Firing one such clock
  escalates its case: the referral row is updated, two timeline events (``sla.breached``,
  ``referral.escalated``), one audit record and one outbox message are written;
* app: two processes (``spawn``) each run ``careloop.worker.run_until_idle`` (what
  ``careloop worker`` does on every pass, without delivering the outbox) on their own
  engine until nothing is due; the clock starts when both are connected and ready, and
  stops when both have exited;
* bare SQL: two processes with plain psycopg, each transaction claiming 100 clocks with
  one ``UPDATE ... FOR UPDATE SKIP LOCKED ... RETURNING``, escalating their cases with one
  UPDATE, and inserting the same events, audit records and outbox messages with one
  ``executemany`` per table;
* after each pass every clock is checked: fired exactly once (one ``sla.breached`` event
  naming it), none left open, one audit record and one outbox message each;
* the passes alternate ``RUNS`` times (default 3); figures are medians, and the ratio is
  the median of the per-run ratios.

Target (work-queue issue): above 1,000 clocks/s with 2 workers.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

import psycopg
from psycopg import sql

from _common import (
    REFERRAL_COPY_COLUMNS,
    BenchError,
    add_database_options,
    copy_time,
    drop_database,
    machine_cpu,
    median,
    recreate_database,
    referral_copy_fields,
    run_main,
    say,
    server_facts,
    sqlalchemy_url,
    wait_for_quiet,
    with_database,
)
from careloop.db.migrate import upgrade_database

DB_NAME = "careloop_bench_worker"
DEFAULT_CLOCKS = 100_000
WORKERS = 2
BATCH = 100
TARGET_RATE = 1000.0  # clocks/s with 2 workers
QUIET_PCT = 15.0
REASON = "acknowledgement overdue"

# ---- the data -----------------------------------------------------------------------------

REFERRAL_COLUMNS = REFERRAL_COPY_COLUMNS
CLOCK_COLUMNS = (
    "id",
    "referral_id",
    "kind",
    "team",
    "status",
    "calendar",
    "time_zone",
    "rule_source",
    "started_at",
    "due_at",
)
EMPTIED = ("outbox", "audit_records", "referral_events", "clocks", "referrals")


def _rows(count: int, now: datetime) -> tuple[str, str]:
    """COPY text of ``count`` unacknowledged referrals and their overdue clocks."""
    referrals, clocks = io.StringIO(), io.StringIO()
    for i in range(count):
        ref_id = i + 1
        # Received 25-49 hours ago: every acknowledgement (due after a day) is overdue.
        received = now - timedelta(hours=25, seconds=(count - i) * 86400 / count)
        due, stamp = copy_time(received + timedelta(days=1)), copy_time(received)
        referral = referral_copy_fields(i, status="received", received=received)
        referrals.write("\t".join(referral) + "\n")
        clock = (
            str(ref_id),
            str(ref_id),
            "acknowledgement",
            "intake",
            "open",
            "business",
            "America/New_York",
            "bench",
            stamp,
            due,
        )
        clocks.write("\t".join(clock) + "\n")
    return referrals.getvalue(), clocks.getvalue()


def refill(url: str, count: int) -> float:
    """Empty the tables a pass writes and COPY the due clocks in again; seconds taken."""
    started = time.perf_counter()
    referrals, clocks = _rows(count, datetime.now(UTC))
    with psycopg.connect(url) as conn:
        tables = sql.SQL(", ").join(map(sql.Identifier, EMPTIED))
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(tables))
        for table, columns, text in (
            ("referrals", REFERRAL_COLUMNS, referrals),
            ("clocks", CLOCK_COLUMNS, clocks),
        ):
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.write(text)
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), %s, false)").format(
                    sql.Literal(table)
                ),
                (count + 1,),
            )
        conn.execute("SELECT setval('case_number_seq', %s, false)", (count + 1,))
        conn.commit()
        conn.autocommit = True
        for table in EMPTIED:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return time.perf_counter() - started


# ---- the workers (each in a spawned process) ----------------------------------------------


def _app_worker(pipe: Connection, url: str) -> None:
    """Fire due clocks with careloop's worker until nothing is due; report the count."""
    from careloop import worker  # noqa: PLC0415 - imported in the child, before "ready"
    from careloop.core.clock import SystemClock  # noqa: PLC0415
    from careloop.db.session import Database  # noqa: PLC0415

    database = Database.from_url(url, pool_size=1)
    with database.unit_of_work() as session:  # connect before the clock starts
        session.connection()
    pipe.send("ready")
    pipe.recv()
    fired = worker.run_until_idle(database, clock=SystemClock(), batch=BATCH)
    pipe.send(sum(fired.values()))
    database.engine.dispose()


CLAIM_SQL = """
WITH due AS (
    SELECT id FROM clocks WHERE status = 'open' AND due_at <= now()
    ORDER BY due_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
UPDATE clocks SET status = 'breached', fired_at = now(), breached_at = now()
FROM due WHERE clocks.id = due.id
RETURNING clocks.id, clocks.referral_id, clocks.due_at
"""
ESCALATE_SQL = """
UPDATE referrals SET escalated = true, escalation_reason = %s, updated_at = now()
WHERE id = ANY(%s) AND acknowledged_at IS NULL
RETURNING id, case_number
"""
EVENT_SQL = """
INSERT INTO referral_events (referral_id, at, type, actor_user_id, actor_label, data)
VALUES (%s, now(), %s, NULL, 'system', %s)
"""
AUDIT_SQL = """
INSERT INTO audit_records (at, actor_user_id, actor_role, actor_label, action, outcome,
                           case_number, referral_id, detail)
VALUES (now(), NULL, 'service', 'system', 'referral.escalate', 'success', %s, %s, %s)
"""
OUTBOX_SQL = """
INSERT INTO outbox (created_at, dedupe_key, audience, recipient, channel, template,
                    referral_id, case_number, payload, status, attempts, next_attempt_at)
VALUES (now(), %s, 'staff', 'supervisors', 'default', 'referral.escalated', %s, %s, %s,
        'pending', 0, now())
ON CONFLICT (dedupe_key) DO NOTHING
"""


def _bare_batch(conn: psycopg.Connection[Any]) -> int:
    """One transaction: claim, escalate and write the rows of up to BATCH clocks."""
    with conn.transaction(), conn.cursor() as cur:
        claimed = cur.execute(CLAIM_SQL, {"limit": BATCH}).fetchall()
        if not claimed:
            return 0
        by_referral = {referral_id: (clock_id, due) for clock_id, referral_id, due in claimed}
        cases = cur.execute(ESCALATE_SQL, (REASON, sorted(by_referral))).fetchall()
        events, audits, messages = [], [], []
        for referral_id, case_number in cases:
            clock_id, due = by_referral[referral_id]
            breached = {"clock": "acknowledgement", "clock_id": clock_id, "due_at": due.isoformat()}
            escalated = {"reason": REASON, "clock_id": clock_id}
            events.append((referral_id, "sla.breached", json.dumps(breached)))
            events.append((referral_id, "referral.escalated", json.dumps(escalated)))
            audits.append((case_number, referral_id, json.dumps(escalated)))
            messages.append(
                (f"escalation:{clock_id}", referral_id, case_number, json.dumps({"reason": REASON}))
            )
        cur.executemany(EVENT_SQL, events)
        cur.executemany(AUDIT_SQL, audits)
        cur.executemany(OUTBOX_SQL, messages)
    return len(claimed)


def _bare_worker(pipe: Connection, url: str) -> None:
    """The same work in plain psycopg: the floor the app's worker is compared with."""
    with psycopg.connect(url) as conn:
        pipe.send("ready")
        pipe.recv()
        fired = 0
        while True:
            done = _bare_batch(conn)
            fired += done
            if done < BATCH:
                break
    pipe.send(fired)


# ---- a pass -------------------------------------------------------------------------------


@dataclass
class Pass:
    label: str
    fired: int
    seconds: float
    machine_busy_pct: float
    load_average: float

    @property
    def rate(self) -> float:
        return self.fired / self.seconds


def run_pass(label: str, target: Any, url: str) -> Pass:
    """Start the workers, wait until they are ready, time them until they all exit."""
    context = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    for _ in range(WORKERS):
        parent, child = context.Pipe()
        process = context.Process(target=target, args=(child, url), daemon=True)
        process.start()
        pipes.append(parent)
        processes.append(process)
    try:
        for pipe in pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                raise BenchError(f"{label}: a worker did not start")
        busy0, total0 = machine_cpu()
        started = time.perf_counter()
        for pipe in pipes:
            pipe.send("go")
        fired = 0
        for pipe, process in zip(pipes, processes, strict=True):
            if not pipe.poll(3600):
                raise BenchError(f"{label}: a worker did not finish")
            fired += int(pipe.recv())
            process.join()
        seconds = time.perf_counter() - started
        busy1, total1 = machine_cpu()
    except EOFError:
        codes = [p.exitcode for p in processes]
        raise BenchError(f"{label}: a worker died (exit codes {codes})") from None
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
    return Pass(
        label=label,
        fired=fired,
        seconds=seconds,
        machine_busy_pct=100 * (busy1 - busy0) / max(total1 - total0, 1e-9),
        load_average=os.getloadavg()[0],
    )


def verify(url: str, count: int, label: str) -> None:
    """Every clock fired exactly once, with its event, audit record and outbox message."""
    checks = {
        "clocks still open": "SELECT count(*) FROM clocks WHERE status = 'open'",
        "clocks breached": "SELECT count(*) FROM clocks WHERE status = 'breached'",
        "clocks with a breach event": (
            "SELECT count(DISTINCT data->>'clock_id') FROM referral_events "
            "WHERE type = 'sla.breached'"
        ),
        "breach events": "SELECT count(*) FROM referral_events WHERE type = 'sla.breached'",
        "escalation events": (
            "SELECT count(*) FROM referral_events WHERE type = 'referral.escalated'"
        ),
        "escalation audit records": (
            "SELECT count(*) FROM audit_records WHERE action = 'referral.escalate'"
        ),
        "outbox messages": "SELECT count(*) FROM outbox WHERE template = 'referral.escalated'",
        "referrals escalated": "SELECT count(*) FROM referrals WHERE escalated",
    }
    expected = {name: count for name in checks}
    expected["clocks still open"] = 0
    with psycopg.connect(url, autocommit=True) as conn:
        found = {}
        for name, query in checks.items():
            row = conn.execute(query).fetchone()
            found[name] = int(row[0]) if row else -1
    wrong = [
        f"{name}: {found[name]} (expected {n})" for name, n in expected.items() if found[name] != n
    ]
    if wrong:
        raise BenchError(f"{label}: clocks not fired exactly once: " + "; ".join(wrong))


# ---- the report ---------------------------------------------------------------------------


def report(
    count: int, runs: list[tuple[Pass, Pass]], facts: dict[str, str], background: float
) -> None:
    print()
    print(
        f"worker throughput: {count:,} overdue acknowledgement clocks, {WORKERS} workers, "
        f"batches of {BATCH}; each clock: referral escalated, 2 events, 1 audit, 1 outbox"
    )
    print(
        f"  PostgreSQL {facts['server_version']}, shared_buffers {facts['shared_buffers']}, "
        f"synchronous_commit {facts['synchronous_commit']}; "
        f"{os.cpu_count()} cores; background load before the runs {background:.0f} %"
    )
    print()
    print(
        f"  {'run':>3} {'app clocks/s':>13} {'bare SQL clocks/s':>18} {'ratio':>7}"
        "  machine busy, load"
    )
    for n, (app, bare) in enumerate(runs, 1):
        print(
            f"  {n:>3} {app.rate:13,.0f} {bare.rate:18,.0f} {app.rate / bare.rate:7.1%}  "
            f"app {app.machine_busy_pct:.0f} % / bare {bare.machine_busy_pct:.0f} % of all "
            f"cores, load average {app.load_average:.1f}"
        )
    app_rate = median([app.rate for app, _ in runs])
    bare_rate = median([bare.rate for _, bare in runs])
    ratio = median([app.rate / bare.rate for app, bare in runs])
    seconds = median([app.seconds for app, _ in runs])
    verdict = "PASS" if app_rate > TARGET_RATE else "FAIL"
    print()
    print(
        f"  median of {len(runs)}: app {app_rate:,.0f} clocks/s ({count:,} in {seconds:.1f} s), "
        f"bare SQL {bare_rate:,.0f} clocks/s, ratio {ratio:.1%}"
    )
    print(f"  target: above {TARGET_RATE:,.0f} clocks/s with {WORKERS} workers: {verdict}")
    print("  every clock fired exactly once in every pass (events, audit, outbox counted)")


# ---- main ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    admin, name = args.postgres_url, args.db_name
    url = with_database(admin, name)
    say(f"recreating {name} and migrating ...")
    recreate_database(admin, name)
    upgrade_database(sqlalchemy_url(url))
    background = wait_for_quiet(QUIET_PCT, args.max_wait)
    runs: list[tuple[Pass, Pass]] = []
    for n in range(args.runs):
        results = {}
        for label, target, target_url in (
            ("app", _app_worker, sqlalchemy_url(url)),
            ("bare", _bare_worker, url),
        ):
            seconds = refill(url, args.clocks)
            say(f"run {n + 1}/{args.runs} {label}: {args.clocks:,} clocks loaded ({seconds:.1f} s)")
            results[label] = run_pass(label, target, target_url)
            verify(url, args.clocks, label)
            say(f"  {label}: {results[label].rate:,.0f} clocks/s ({results[label].seconds:.1f} s)")
        runs.append((results["app"], results["bare"]))
    report(args.clocks, runs, server_facts(url, name), background)
    if not args.keep_db:
        drop_database(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--clocks", type=int, default=DEFAULT_CLOCKS)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    parser.add_argument("--max-wait", type=float, default=20.0, help="for a quiet machine")
    add_database_options(parser, DB_NAME)
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
