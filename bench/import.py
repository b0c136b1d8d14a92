"""Bulk import throughput: a file of referral rows imported and checked by CareLoop, next
to a bare PostgreSQL COPY of the same file in the same run, then the same file again.

    .venv/bin/python bench/import.py                  # 1,000,000 rows
    .venv/bin/python bench/import.py --rows 20000     # quicker

What runs (DESIGN.md §7: figures are ratios against the machine's own limit):

* a dedicated database, ``careloop_bench_import`` (``--db-name``) on the server that
  CARELOOP_BENCH_POSTGRES_URL names (default postgresql://postgres@127.0.0.1:5432/postgres),
  dropped, recreated and migrated with ``upgrade_database`` (``--keep-db`` leaves it), with
  the payer the rows name;
* a CSV file of ``--rows`` synthetic referrals in the API's field names (31 columns: the
  member with address, coverage, ordering clinician, two diagnoses, two items, the signed
  order), each with its own external id; one row in 100 is refused (a birth date that is
  no date), one in 50 is stored needing clarification (an unknown HCPCS code), the rest
  are complete;
* bare: ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the file into a plain table of
  31 text columns (no index, no check), one transaction: the machine's limit for getting
  these bytes into PostgreSQL;
* CareLoop: ``careloop.imports`` as ``careloop import referrals FILE`` runs it (in this
  process, no progress bar; the code sets loaded first, as a server loads them at start,
  and not counted; a file of 100,000 lines or more has its batches stored side by side
  by ``--processes`` worker processes, 2 by default, as the command does): every row
  read, checked with the JSON API's intake rules (the pydantic model, the intake
  checklist, deadlines on the business calendar, duplicate detection, the case manager
  it goes to), and stored in batches of 2,000 rows,
  one transaction each: the case, its items, its clocks, its timeline events, its audit
  record and its work items, and the refused rows' errors;
* bare, the rows the import wrote: every row the first import stored (the cases, items,
  clocks, timeline events, audit records, work items, duplicate-key locks and refused
  rows' errors), dumped and then COPYed in one transaction into a second database
  migrated the same way (``<db-name>_bare``), with the same indexes and foreign keys:
  what PostgreSQL itself needs to take in what an import writes;
* the re-run: the same file imported again, which must store nothing new (every good
  row already imported) and be at least as fast;
* checks after each import: the cases, clocks, events, audit records and work items
  counted against the rows, the errors against the refused rows;
* the CPU each import took, per row: in this process and its worker processes (reading,
  checking, building the rows) and in the database's server processes for the bench
  database (COPY, indexes, foreign keys, the batch's queries; read every fifth of a
  second, so the workers' connections count too), with the machine's load average: on
  a shared machine the rows/s follow the load, the CPU a row much less.

Target (standards issue): the import at least 0.5x the COPY rate; the re-run at least as
fast as the import. The import is also printed against the second baseline.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import resource
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from _common import (
    FIRST_NAMES,
    LAST_NAMES,
    BenchError,
    add_database_options,
    drop_database,
    process_cpu_seconds,
    recreate_database,
    run_main,
    say,
    server_facts,
    sqlalchemy_url,
    with_database,
)
from careloop.codes import warm_up
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import SystemClock
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.imports import rules as import_rules
from careloop.imports import service as import_service
from careloop.imports import tasks as import_tasks
from careloop.imports.files import count_lines
from careloop.imports.schemas import ImportJobRead
from careloop.payer import service as payer_service

DB_NAME = "careloop_bench_import"
DEFAULT_ROWS = 1_000_000
PAYER = "BENCHP"
NPI = "1234567893"

HEADER = [
    "external_id",
    "urgency",
    "member.first_name",
    "member.last_name",
    "member.birth_date",
    "member.sex",
    "member.phone",
    "member.language",
    "member.address.line1",
    "member.address.city",
    "member.address.state",
    "member.address.zip",
    "coverage.payer_id",
    "coverage.member_id",
    "ordering_provider.npi",
    "ordering_provider.name",
    "ordering_provider.organization",
    "ordering_provider.phone",
    "diagnoses.0.code",
    "diagnoses.1.code",
    "items.0.code",
    "items.0.code_system",
    "items.0.quantity",
    "items.0.frequency",
    "items.1.code",
    "items.1.code_system",
    "items.1.quantity",
    "items.1.rental",
    "signed_order.signed_on",
    "signed_order.signer_npi",
    "notes",
]

#: Home-care HCPCS lines (CareLoop's table) and ICD-10-CM codes the rows draw from.
ITEMS = (("G0299", "E1390"), ("E0260", "E0143"), ("B4034", "E0601"), ("G0151", "E0470"))
ZIPS = ("06103", "06105", "06106", "06112", "06114", "06120")
DIAGNOSES = (("J44.1", "Z99.81"), ("I50.9", "R26.2"), ("G47.33", "E11.9"), ("M17.11", "Z96.651"))


def write_file(path: Path, rows: int, today: date) -> int:
    """The bench's CSV; returns how many rows are refused by design."""
    signed = (today - timedelta(days=2)).isoformat()
    refused = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            items, dx = ITEMS[i % 4], DIAGNOSES[(i // 4) % 4]
            born = f"19{30 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}"
            if i % 100 == 99:
                born, refused = "1945-13-45", refused + 1
            second = "Z9999" if i % 50 == 7 else items[1]
            writer.writerow(
                [
                    f"BENCH-{i:08d}",
                    "routine" if i % 10 else "urgent",
                    FIRST_NAMES[i % 8],
                    f"{LAST_NAMES[(i // 8) % 8]}{i}",
                    born,
                    "female" if i % 2 else "male",
                    f"860-555-{i % 10_000:04d}",
                    "en",
                    f"{1 + i % 900} Asylum St",
                    "Hartford",
                    "CT",
                    ZIPS[i % len(ZIPS)],
                    PAYER,
                    f"M{i:010d}",
                    NPI,
                    "Dr. Amara Osei",
                    "Hartford General Hospital",
                    "860-555-0100",
                    dx[0],
                    dx[1],
                    items[0],
                    "HCPCS",
                    str(1 + i % 8),
                    "2x weekly",
                    second,
                    "HCPCS",
                    "1",
                    "true",
                    signed,
                    NPI,
                    "Synthetic bench referral.",
                ]
            )
    return refused


# ---- bare COPY ----------------------------------------------------------------------------


def bare_copy(url: str, path: Path) -> float:
    """Seconds to COPY the file into a plain table of text columns, in one transaction."""
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(name)) for name in HEADER)
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(sql.SQL("CREATE TABLE bench_copy ({})").format(columns))
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER)") as copy,
            path.open("rb") as stream,
        ):
            while block := stream.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_copy")
    return seconds


def add_bench_payer(database: Database) -> None:
    """The payer every row of the file names."""
    with database.unit_of_work() as session:
        payer_service.add_payer(
            session, code=PAYER, name="Bench Health Plan", rules=None, clock=SystemClock()
        )


#: The tables an import writes, each after those its foreign keys point to.
WRITTEN = (
    "referrals",
    "referral_items",
    "clocks",
    "referral_events",
    "audit_records",
    "work_items",
    "duplicate_key_locks",
    "import_row_errors",
)


def dump_written(url: str, folder: Path) -> dict[str, Path]:
    """Each table the import wrote, as a binary COPY file (the rows of the first import
    only: nothing else is in the bench database yet)."""
    files = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table in (*WRITTEN, "import_jobs"):
            files[table] = folder / f"{table}.copy"
            query = sql.SQL("COPY {} TO STDOUT (FORMAT binary)").format(sql.Identifier(table))
            with cur.copy(query) as copy, files[table].open("wb") as out:
                for block in copy:
                    out.write(block)
    return files


def bare_copy_written(admin: str, name: str, files: dict[str, Path]) -> tuple[float, int]:
    """Seconds to COPY the dumped rows into a database migrated as the bench's, in one
    transaction (its indexes and foreign keys checked as the import's are), and the
    number of rows. The payer and the import job the rows point to are put in first,
    untimed."""
    recreate_database(admin, name)
    url = with_database(admin, name)
    upgrade_database(sqlalchemy_url(url))
    database = Database.from_url(sqlalchemy_url(url), pool_size=1)
    add_bench_payer(database)
    database.engine.dispose()
    with psycopg.connect(url) as conn:
        _copy_in(conn, "import_jobs", files["import_jobs"])
        conn.commit()
        started = time.perf_counter()
        for table in WRITTEN:
            _copy_in(conn, table, files[table])
        conn.commit()
        seconds = time.perf_counter() - started
        rows = 0
        for table in WRITTEN:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            found = conn.execute(query).fetchone()
            rows += int(found[0]) if found else 0
    drop_database(admin, name)
    return seconds, rows


def _copy_in(conn: psycopg.Connection, table: str, path: Path) -> None:
    query = sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(table))
    with conn.cursor() as cur, cur.copy(query) as copy, path.open("rb") as stream:
        while block := stream.read(1 << 20):
            copy.write(block)


# ---- CareLoop -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One import: its seconds, the job, and the CPU seconds it took in this process and
    in the database's server processes (where the COPY, indexes and checks run)."""

    seconds: float
    job: ImportJobRead
    python_cpu: float
    database_cpu: float


def careloop_import(database: Database, path: Path, url: str, processes: int) -> Run:
    """Import the file as ``careloop import referrals`` does, with ``processes`` worker
    processes storing its batches side by side (1: one batch after the other)."""
    clock = SystemClock()
    watch = BackendWatch(url)
    watch.start()
    cpu0 = time.process_time()
    children0 = children_cpu()
    started = time.perf_counter()
    with path.open("rb") as stream:
        lines = count_lines(stream)
    with database.unit_of_work() as session:
        job = import_service.submit_import(
            session,
            SYSTEM_ACTOR,
            file_name=path.name,
            source_path=str(path),
            lines_total=lines,
            clock=clock,
        )
        source = import_service.start(session, job.id, clock=clock)
    done = import_tasks.run_job(database, source, clock=clock, processes=processes)
    seconds = time.perf_counter() - started
    python_cpu = time.process_time() - cpu0 + children_cpu() - children0
    database_cpu = watch.stop()
    if done is None:
        raise BenchError(f"the import of {path} failed")
    return Run(seconds, done, python_cpu, database_cpu)


def children_cpu() -> float:
    """CPU seconds of this process's ended children (the import's worker processes)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class BackendWatch(threading.Thread):
    """The CPU the server processes connected to the bench database take while it runs:
    their CPU is read every fifth of a second, so a worker's connection, which comes and
    goes with the import, counts up to its last reading (it is idle after its commit)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        # The connections there before the import count from now; a worker's from 0.
        self.first = backend_cpu(url)
        self.last = dict(self.first)

    def read(self) -> None:
        self.last.update(backend_cpu(self.url))

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.read()

    def stop(self) -> float:
        self.done.set()
        self.join()
        self.read()
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each server process connected to the bench database (the
    server runs on this machine)."""
    with psycopg.connect(url) as conn:
        pids = [
            int(row[0])
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    return {pid: process_cpu_seconds(pid) for pid in pids}


@dataclass(frozen=True)
class Expected:
    rows: int
    refused: int
    created: int


def verify(url: str, expected: Expected, job: ImportJobRead, *, rerun: bool) -> None:
    """The job's counts, and every table the import writes, against the rows."""
    created = 0 if rerun else expected.created
    already = expected.created if rerun else 0
    if (job.created, job.already_imported, job.refused) != (created, already, expected.refused):
        raise BenchError(
            f"job counts created={job.created} already={job.already_imported} "
            f"refused={job.refused}; expected {created}/{already}/{expected.refused}"
        )
    with psycopg.connect(url) as conn:

        def count(query: str) -> int:
            row = conn.execute(query).fetchone()
            return int(row[0]) if row else -1

        n = expected.created
        checks = {
            "referrals": (count("SELECT count(*) FROM referrals"), n),
            "items": (count("SELECT count(*) FROM referral_items"), 2 * n),
            "clocks": (count("SELECT count(*) FROM clocks WHERE referral_id IS NOT NULL"), 3 * n),
            "received events": (
                count("SELECT count(*) FROM referral_events WHERE type = 'referral.received'"),
                n,
            ),
            "audit": (
                count("SELECT count(*) FROM audit_records WHERE action = 'referral.create'"),
                n,
            ),
            "cases with work": (
                count("SELECT count(DISTINCT referral_id) FROM work_items"),
                n,
            ),
            "errors": (
                count(
                    f"SELECT count(DISTINCT line) FROM import_row_errors WHERE job_id = {job.id}"
                ),
                expected.refused,
            ),
        }
    wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
    if wrong:
        raise BenchError(f"after the import: {wrong} (found, expected)")


# ---- main ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    admin, name = args.postgres_url, args.db_name
    url = with_database(admin, name)
    say(f"recreating {name} and migrating ...")
    recreate_database(admin, name)
    upgrade_database(sqlalchemy_url(url))
    database = Database.from_url(sqlalchemy_url(url), pool_size=2)
    add_bench_payer(database)
    with tempfile.TemporaryDirectory(prefix="careloop-bench-import-") as tmp:
        path = Path(tmp) / "referrals.csv"
        started = time.perf_counter()
        refused = write_file(path, args.rows, datetime.now(UTC).date())
        size = path.stat().st_size
        say(
            f"wrote {args.rows:,} rows ({size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        expected = Expected(args.rows, refused, args.rows - refused)
        started = time.perf_counter()
        warm_up()
        gc.freeze()
        say(f"code sets loaded in {time.perf_counter() - started:.1f} s (not counted)")
        copy_s = bare_copy(url, path)
        say(f"bare COPY: {copy_s:.1f} s")
        load = os.getloadavg()[0]
        first = careloop_import(database, path, url, args.processes)
        say(f"import: {first.seconds:.1f} s")
        verify(url, expected, first.job, rerun=False)
        files = dump_written(url, Path(tmp))
        again = careloop_import(database, path, url, args.processes)
        say(f"re-run: {again.seconds:.1f} s")
        verify(url, expected, again.job, rerun=True)
        load = max(load, os.getloadavg()[0])
        written = bare_copy_written(admin, f"{name}_bare", files)
        say(f"bare COPY of the {written[1]:,} rows the import wrote: {written[0]:.1f} s")
    facts = server_facts(url, name)
    database.engine.dispose()
    side_by_side = import_rules.side_by_side(
        "postgresql", args.processes, args.rows + 1, from_lines=import_rules.SIDE_BY_SIDE_FROM_LINES
    )
    how = (
        f"batches stored side by side by {args.processes} worker processes"
        if side_by_side
        else "one batch after the other"
    )
    report(args.rows, copy_s, written, first, again, facts, load, how)
    if not args.keep_db:
        drop_database(admin, name)


def report(
    rows: int,
    copy_s: float,
    written: tuple[float, int],
    first: Run,
    again: Run,
    facts: dict[str, str],
    load: float,
    how: str,
) -> None:
    copy_rate, first_rate, again_rate = rows / copy_s, rows / first.seconds, rows / again.seconds
    job = first.job
    print(f"bulk import of {rows:,} referral rows (CSV), PostgreSQL {facts['server_version']}")
    print(f"  {how}")
    print(
        f"  created {job.created:,} cases ({job.needs_clarification:,} needing "
        f"clarification), refused {job.refused:,} rows; database {facts['database_size']}"
    )
    print(f"  machine load (1 min, at the imports' start and end, the higher): {load:.1f}")
    print(f"  bare COPY into a plain table : {copy_rate:>10,.0f} rows/s ({copy_s:.1f} s)")
    written_s, written_rows = written
    written_rate = rows / written_s
    print(
        f"  bare COPY of what it wrote   : {written_rate:>10,.0f} rows/s ({written_s:.1f} s: "
        f"{written_rows:,} rows in {len(WRITTEN)} tables, their indexes and foreign keys)"
    )
    for label, run, rate in (
        ("careloop import referrals    ", first, first_rate),
        ("re-run of the same file      ", again, again_rate),
    ):
        print(
            f"  {label}: {rate:>10,.0f} rows/s ({run.seconds:.1f} s); CPU a row: "
            f"{1000 * run.python_cpu / rows:.3f} ms Python, "
            f"{1000 * run.database_cpu / rows:.3f} ms PostgreSQL"
        )
    ratio = first_rate / copy_rate
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(f"  import / COPY = {ratio:.3f}x (target >= 0.5x: {verdict})")
    print(
        f"  import / COPY of what it wrote = {first_rate / written_rate:.2f}x; that COPY / "
        f"the file's COPY = {written_rate / copy_rate:.3f}x"
    )
    rerun = "met" if again_rate >= first_rate else "MISSED"
    print(f"  re-run / import = {again_rate / first_rate:.2f}x (target >= 1x: {rerun})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument(
        "--processes",
        type=int,
        default=import_rules.PROCESSES,
        help="worker processes storing the batches side by side (1: one after the other)",
    )
    add_database_options(parser, DB_NAME)
    run(parser.parse_args())


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
