"""Work-queue latency: "next 50 cases for a team" (one row per case: its most urgent open
work item) and a case manager's own queue through the HTTP API, next to the bare indexed
SQL query measured in the same run.

    .venv/bin/python bench/workqueue.py                    # 2,000,000 referrals
    .venv/bin/python bench/workqueue.py --referrals 200000 --requests 300   # quicker
    .venv/bin/python bench/workqueue.py --keep             # leave the loaded database
    .venv/bin/python bench/workqueue.py --reuse            # measure it again (no load)
    .venv/bin/python bench/workqueue.py --loader sql --referrals 10000000 --db-name \
        careloop_bench_workqueue_10m --keep                # the rows generated in SQL

What runs (DESIGN.md §7: figures are ratios against the machine's own limit):

* a dedicated database, ``careloop_bench_workqueue`` on the server that
  CARELOOP_BENCH_POSTGRES_URL names (default postgresql://postgres@127.0.0.1:5432/postgres),
  dropped, recreated and migrated with ``upgrade_database`` on every run (``--keep``
  leaves it behind afterwards; ``--reuse`` measures what an earlier ``--keep`` run left,
  migrated to the current head, and loads afresh only when there is nothing;
  ``--db-name`` keeps two sizes side by side);
* a case manager and their bearer token made with the CLI (``careloop user add`` and
  ``careloop token issue``);
* synthetic referrals, their clocks and their work items loaded with COPY (not through
  the services), over two years: 85 % closed (accepted or cancelled; their clocks met or
  cancelled, their work items done), the newest 15 % open in every status (received,
  needing clarification with paused service clocks, acknowledged, offered with an
  offer-response clock, accepted, unplaced); acknowledgement, service-start and
  service-warning clocks for each, a discharge clock for the 10 % that are
  discharge-urgent; about 30 % of closed clocks assigned to other users, and a few hundred
  open ones to the bench case manager. Each open case has the work item its status calls
  for (``workqueue.rules.needed_work``), every fifth one a second item (a call back); two
  open cases in three (10 % of all referrals) are overdue and escalated (supervisor or
  operations manager), the rest due within three days; the open counts per team and
  level (``work_item_counts``) as the workqueue domain keeps them. ``--loader sql`` has
  PostgreSQL generate the same rows (INSERT ... SELECT over generate_series, a million
  referrals a statement) instead of Python writing COPY text. Secondary indexes are dropped
  during the load and rebuilt from their migrated definitions, foreign-key triggers are
  off for the load (the rows are generated consistent); then VACUUM (ANALYZE), so
  autovacuum does not start on the fresh tables in the middle of the measurement;
* bare SQL (psycopg, autocommit, prepared): ``SELECT id, due_at FROM work_items WHERE
  team = ? AND closed_at IS NULL ORDER BY due_at, discharge_last, id LIMIT 50`` (the
  queue's order, an index walk), alternating the intake and case management teams; and
  the API's own page statement (captured from ``workqueue.repository.page_and_counts``:
  the most urgent item per case by an anti-join, "and N more", joins to the referral,
  payer and owner, the navigation's counts (kept per team and level; "overdue now" a
  capped walk) and the page's total as one-time subqueries) run bare the same way, its
  PostgreSQL plan checked to walk a partial index of open items without sorting them all;
* API: ``careloop serve`` (one process) on a free 127.0.0.1 port, one keep-alive client,
  ``GET /api/v1/workqueue?team=...&limit=50`` alternating the same two teams, and, after
  the case manager claims 100 work items through ``POST /api/v1/workqueue/{id}/claim``,
  ``GET /api/v1/workqueue?mine=true&limit=50``; then the team pages with
  ``items=true``. Each API request authenticates (token cache) and sends one statement:
  the page with the navigation's capped counts and the page's total, and the read's
  audit record (a CTE of it listing the case numbers shown), committed by itself
  (autocommit: no BEGIN or COMMIT round trip); with ``items=true`` one more read, the
  other items of the cases that have more than one. The "API's page statement" line
  below runs the page without its audit record;
* the HTTP floor of the same run: ``GET /healthz`` on the same keep-alive connection
  (the middleware and a ``SELECT 1``);
* the passes alternate in ``--rounds`` blocks so background load touches all of them;
  median and p99 over all requests of each pass, with the ratio to the bare query, and
  the lowest and highest of the rounds' medians; the load average of each round;
* CPU per request of each line, read from /proc: the server process, and the database's
  backends (the server's pool and the bench's own connection). Round trips on a shared
  2-core machine stretch with everyone else's work; CPU per request hardly does.

Targets: API median under 5 ms, p99 under 25 ms, at 10 million referrals (the
fast-path issue; the work-queue issue asked 10 ms and 30 ms at 2 million); the size
measured is the first line of the report.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event

from _common import (
    HOST,
    PRODUCTION,
    REFERRAL_COPY_COLUMNS,
    BenchError,
    Server,
    admin_url,
    careloop_cli,
    drop_database,
    free_port,
    machine_cpu,
    median,
    percentile,
    process_cpu_seconds,
    recreate_database,
    referral_copy_fields,
    run_main,
    say,
    sqlalchemy_url,
    with_database,
)
from _common import (
    copy_time as ts,
)
from careloop.core.actor import Actor, Role
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.workqueue import repository, rules
from careloop.workqueue.repository import ItemFilter

DB_NAME = "careloop_bench_workqueue"
DEFAULT_REFERRALS = 2_000_000
PAGE = 50
TEAMS = ("case_management", "intake")
CLAIMS = 100
MANAGER_EMAIL = "bench.cm@example.test"

TARGET_MEDIAN_MS = 5.0
TARGET_P99_MS = 25.0

OPEN_SHARE = 0.15  # the newest referrals still open
OVERDUE_OF_OPEN = 3  # one open case in this many is on time; the others overdue, escalated
HISTORY = timedelta(days=730)
OTHER_USERS = range(1000, 1200)  # ids of other staff on closed clocks (no users row needed)


# ---- the database -------------------------------------------------------------------------


def make_case_manager(env: dict[str, str]) -> str:
    """The bench's case manager (user id 1 in the fresh database) and their token."""
    careloop_cli(
        env, "user", "add", MANAGER_EMAIL, "--role", "case_manager", "--name", "Bench Manager"
    )
    return careloop_cli(env, "token", "issue", MANAGER_EMAIL).strip().splitlines()[-1]


# ---- synthetic data -----------------------------------------------------------------------

REFERRAL_COLUMNS = (*REFERRAL_COPY_COLUMNS, "acknowledged_at", "discharge_at")
CLOCK_COLUMNS = (
    "id",
    "referral_id",
    "offer_id",
    "provider_id",
    "kind",
    "team",
    "assigned_user_id",
    "assigned_at",
    "status",
    "calendar",
    "time_zone",
    "rule_source",
    "started_at",
    "due_at",
    "paused_at",
    "met_at",
    "cancelled_at",
)
WORK_ITEM_COLUMNS = (
    "id",
    "referral_id",
    "subject",
    "kind",
    "team",
    "level",
    "title",
    "due_at",
    "opened_at",
    "breached_at",
    "level_raised_at",
    "climbs_at",
    "closed_at",
    "owner_user_id",
    "claimed_at",
    "discharge_last",
)
CHANNELS = ("fhir", "fax", "portal", "phone", "email")
OPEN_STATUSES = (
    ("received", 30),
    ("needs_clarification", 5),
    ("acknowledged", 25),
    ("offered", 20),
    ("accepted", 15),
    ("unplaced", 5),
)
_OPEN_CYCLE = [status for status, weight in OPEN_STATUSES for _ in range(weight)]
N = r"\N"


@dataclass
class Loaded:
    referrals: int = 0
    clocks: int = 0
    open_clocks: int = 0
    items: int = 0
    open_items: int = 0
    seconds: float = 0.0


class Generator:
    """Rows in COPY text format, deterministic for a given size and start instant."""

    def __init__(self, referrals: int, now: datetime, manager_id: int) -> None:
        self.n = referrals
        self.now = now
        self.manager_id = manager_id
        self.first_open = int(referrals * (1 - OPEN_SHARE))
        self.clock_id = 0
        self.open_clocks = 0
        self.item_id = 0
        self.open_items = 0

    def received_at(self, i: int) -> datetime:
        # Even spread over the history, the newest last; the open ones over ~36 days.
        return self.now - HISTORY * (1 - (i + 0.5) / self.n)

    def status(self, i: int) -> str:
        if i >= self.first_open:
            return _OPEN_CYCLE[(i * 7) % len(_OPEN_CYCLE)]
        return "cancelled" if i % 10 < 3 else "accepted"

    def referral_line(self, i: int, status: str, received: datetime) -> str:
        discharge = i % 10 == 0
        urgency = "discharge" if discharge else ("urgent" if i % 10 == 1 else "routine")
        acknowledged = status not in ("received", "needs_clarification")
        fields = (
            *referral_copy_fields(
                i, status=status, received=received, channel=CHANNELS[i % 5], urgency=urgency
            ),
            ts(received + timedelta(hours=5)) if acknowledged else N,
            ts(received + timedelta(days=2)) if discharge else N,
        )
        return "\t".join(fields) + "\n"

    def clock_line(
        self,
        ref_id: int,
        kind: str,
        team: str,
        status: str,
        started: datetime,
        due: datetime,
        *,
        assigned: int | None,
        offer_id: int | None = None,
    ) -> str:
        self.clock_id += 1
        if status == "open":
            self.open_clocks += 1
        closed_at = ts(min(due, self.now))
        fields = (
            str(self.clock_id),
            str(ref_id),
            str(offer_id) if offer_id else N,
            str(offer_id % 5000 + 1) if offer_id else N,
            kind,
            team,
            str(assigned) if assigned else N,
            ts(started + timedelta(hours=1)) if assigned else N,
            status,
            "clock" if kind == "discharge" else "business",
            "America/New_York",
            "bench",
            ts(started),
            ts(due),
            ts(started) if status == "paused" else N,
            closed_at if status == "met" else N,
            closed_at if status == "cancelled" else N,
        )
        return "\t".join(fields) + "\n"

    def assignee(self, i: int, kind_index: int, status: str) -> int | None:
        if i % 1000 == 7:
            return self.manager_id
        if status in ("met", "cancelled") and (i + kind_index) % 10 < 3:
            return OTHER_USERS[(i * 31 + kind_index) % len(OTHER_USERS)]
        return None

    def clocks_of(self, i: int, status: str, received: datetime) -> Iterator[str]:
        ref_id = i + 1
        closed = "cancelled" if status == "cancelled" else "met"
        is_open = i >= self.first_open
        ack = "open" if status in ("received", "needs_clarification") else closed
        if status == "needs_clarification":
            service = "paused"
        elif is_open:
            service = "open"
        else:
            service = closed
        warn_due = received + timedelta(hours=54)
        # The worker has fired the warnings that came due (fires once).
        warning = "met" if service == "open" and warn_due <= self.now else service
        specs = [
            ("acknowledgement", "intake", ack, received + timedelta(days=1)),
            ("service_start", "case_management", service, received + timedelta(days=3)),
            ("service_warning", "case_management", warning, warn_due),
        ]
        if i % 10 == 0:
            discharge = "open" if is_open else closed
            specs.append(
                ("discharge", "case_management", discharge, received + timedelta(hours=44))
            )
        for k, (kind, team, clock_status, due) in enumerate(specs):
            assigned = self.assignee(i, k, clock_status)
            yield self.clock_line(
                ref_id, kind, team, clock_status, received, due, assigned=assigned
            )
        if status == "offered":
            respond_by = self.now + timedelta(minutes=(i % 180) - 60)
            yield self.clock_line(
                ref_id,
                "offer_response",
                "case_management",
                "open",
                respond_by - timedelta(hours=2),
                respond_by,
                assigned=None,
                offer_id=ref_id,
            )

    def item_line(
        self,
        ref_id: int,
        work: rules.NeededWork,
        opened: datetime,
        *,
        level: int,
        closed: datetime | None,
        owner: int | None,
        discharge_last: bool,
    ) -> str:
        self.item_id += 1
        if closed is None:
            self.open_items += 1
        breached = work.due_at if level > 1 else None
        raised = work.due_at + timedelta(minutes=5) if level > 1 else None
        climbs = (
            None
            if level >= 3 or closed
            else (raised + timedelta(hours=4) if raised else work.due_at)
        )
        fields = (
            str(self.item_id),
            str(ref_id),
            work.subject,
            work.kind,
            work.team,
            str(level),
            work.title,
            ts(work.due_at),
            ts(opened),
            ts(breached) if breached else N,
            ts(raised) if raised else N,
            ts(climbs) if climbs else N,
            ts(closed) if closed else N,
            str(owner) if owner else N,
            ts(opened) if owner else N,
            "t" if discharge_last else "f",
        )
        return "\t".join(fields) + "\n"

    def items_of(self, i: int, status: str, received: datetime) -> Iterator[str]:
        """The work the case's status calls for (workqueue.rules), done for closed cases;
        for open ones overdue and escalated, or due within three days."""
        ref_id = i + 1
        is_open = i >= self.first_open
        overdue = is_open and i % OVERDUE_OF_OPEN != 0
        if not is_open:
            due = received + timedelta(days=1)
        elif overdue:
            due = self.now - timedelta(minutes=10 + i % 5000)
        else:
            due = self.now + timedelta(minutes=i % 4320)
        facts = rules.CaseFacts(
            referral_id=ref_id,
            status="received" if not is_open else status,
            acknowledged=is_open and status not in ("received", "needs_clarification"),
            ack_due_at=due,
            service_due_at=due,
            changed_at=received,
        )
        level = (3 if i % 4 == 0 else 2) if overdue else 1
        owner = self.manager_id if is_open and i % 1000 == 7 else None
        closed = None if is_open else min(due, self.now)
        last = i % 10 != 0  # referral_line: one case in ten waits on a hospital discharge
        for work in rules.needed_work(facts)[:1]:
            yield self.item_line(
                ref_id,
                work,
                received,
                level=level,
                closed=closed,
                owner=owner,
                discharge_last=last,
            )
        if is_open and i % 5 == 0:
            call = rules.NeededWork(
                f"contact:{ref_id}",
                "call_back",
                rules.CASE_MANAGEMENT,
                "Call the referrer back",
                due + timedelta(hours=2),
            )
            yield self.item_line(
                ref_id, call, received, level=1, closed=None, owner=None, discharge_last=last
            )

    def write(
        self,
        referrals: Callable[[str], None],
        clocks: Callable[[str], None],
        items: Callable[[str], None],
    ) -> None:
        for i in range(self.n):
            status = self.status(i)
            received = self.received_at(i)
            referrals(self.referral_line(i, status, received))
            for line in self.clocks_of(i, status, received):
                clocks(line)
            for line in self.items_of(i, status, received):
                items(line)


class CopySink:
    """Buffers COPY text and hands it to psycopg about 1 MB at a time."""

    def __init__(self, copy: psycopg.Copy) -> None:
        self.copy = copy
        self.buffer = io.StringIO()

    def __call__(self, line: str) -> None:
        self.buffer.write(line)
        if self.buffer.tell() > 1 << 20:
            self.flush()

    def flush(self) -> None:
        self.copy.write(self.buffer.getvalue())
        self.buffer = io.StringIO()


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that back no constraint, on the loaded tables."""
    rows = conn.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename IN ('referrals', 'clocks', 'work_items')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """
    ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


def load(url: str, referrals: int, now: datetime, manager_id: int) -> Loaded:
    """Generate and COPY the referrals, clocks and work items (in one pass, clocks and
    items spooled to temporary files), rebuild the indexes, move the sequences on, ANALYZE."""
    started = time.perf_counter()
    generator = Generator(referrals, now, manager_id)
    with (
        psycopg.connect(url) as conn,
        tempfile.TemporaryFile("w+") as spool,
        tempfile.TemporaryFile("w+") as item_spool,
    ):
        conn.execute("SET maintenance_work_mem = '512MB'")
        # Foreign-key triggers off for the load: every clock's referral is generated.
        conn.execute("SET session_replication_role = replica")
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        statement = sql.SQL("COPY referrals ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, REFERRAL_COLUMNS))
        )
        with conn.cursor() as cur, cur.copy(statement) as copy:
            sink = CopySink(copy)
            generator.write(sink, spool.write, item_spool.write)
            sink.flush()
        say(f"  referrals copied ({time.perf_counter() - started:.0f} s)")
        spool.seek(0)
        statement = sql.SQL("COPY clocks ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, CLOCK_COLUMNS))
        )
        with conn.cursor() as cur, cur.copy(statement) as copy:
            while chunk := spool.read(1 << 20):
                copy.write(chunk)
        say(f"  clocks copied ({time.perf_counter() - started:.0f} s)")
        item_spool.seek(0)
        statement = sql.SQL("COPY work_items ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, WORK_ITEM_COLUMNS))
        )
        with conn.cursor() as cur, cur.copy(statement) as copy:
            while chunk := item_spool.read(1 << 20):
                copy.write(chunk)
        say(f"  work items copied ({time.perf_counter() - started:.0f} s)")
        # The queue's header figures, as the workqueue domain keeps them (models.WorkItemCount).
        conn.execute("DELETE FROM work_item_counts")
        conn.execute(
            "INSERT INTO work_item_counts (team, level, slot, open_items) "
            "SELECT team, level, 0, count(*) FROM work_items WHERE closed_at IS NULL "
            "GROUP BY team, level"
        )
        for table in ("referrals", "clocks", "work_items"):
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, 'id'), "
                    "(SELECT coalesce(max(id), 0) + 1 FROM {}), false)"
                ).format(sql.Literal(table), sql.Identifier(table))
            )
        conn.execute("SELECT setval('case_number_seq', %s, false)", (referrals + 1,))
        conn.commit()
        conn.autocommit = True
        for _, definition in indexes:
            conn.execute(definition)  # from pg_indexes
        say(f"  indexes rebuilt ({time.perf_counter() - started:.0f} s)")
        # VACUUM too: otherwise autovacuum starts on the fresh tables during the measurement.
        conn.execute("VACUUM (ANALYZE) referrals")
        conn.execute("VACUUM (ANALYZE) clocks")
        conn.execute("VACUUM (ANALYZE) work_items")
        say(f"  vacuumed and analysed ({time.perf_counter() - started:.0f} s)")
    return Loaded(
        referrals=referrals,
        clocks=generator.clock_id,
        open_clocks=generator.open_clocks,
        items=generator.item_id,
        open_items=generator.open_items,
        seconds=time.perf_counter() - started,
    )


# ---- the same data generated in SQL (--loader sql) ----------------------------------------


def _status_work() -> list[tuple[str, str, str, str]]:
    """(status, kind, team, title) of the first work item each generated status calls
    for, from ``workqueue.rules.needed_work`` itself (as :meth:`Generator.items_of` asks)."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for status in ("received", *(s for s, _ in OPEN_STATUSES)):
        if status in [row[0] for row in out]:
            continue
        facts = rules.CaseFacts(
            referral_id=0,
            status=status,
            acknowledged=status not in ("received", "needs_clarification"),
            ack_due_at=at,
            service_due_at=at,
            changed_at=at,
        )
        work = rules.needed_work(facts)[0]
        if work.due_at != at:
            raise BenchError(f"the rules date {status} work differently from the loader")
        out.append((status, work.kind, work.team, work.title))
    return out


def _cycle_case(expression: str) -> str:
    """The open statuses' cycle (``_OPEN_CYCLE``) as a CASE over ``expression`` mod 100."""
    if len(_OPEN_CYCLE) != 100:
        raise BenchError("the open statuses' weights must sum to 100")
    arms, upto = [], 0
    for status, weight in OPEN_STATUSES:
        upto += weight
        arms.append(f"WHEN {expression} < {upto} THEN '{status}'")
    return "CASE " + " ".join(arms) + " END"


# One row per referral i (0-based) with what every table derives from it: the columns of
# Generator, computed by PostgreSQL. %(n)s, %(now)s, %(first_open)s, %(manager)s.
_BASE = """
SELECT i, i + 1 AS rid, i >= %(first_open)s AS is_open, status, received,
       CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'met' END AS closed
FROM (
  SELECT i,
         CASE WHEN i >= %(first_open)s THEN {cycle}
              WHEN i %% 10 < 3 THEN 'cancelled' ELSE 'accepted' END AS status,
         %(now)s - interval '730 days' * (1 - (i + 0.5) / %(n)s)::float8 AS received
  FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
) g
"""

_REFERRALS_SQL = """
INSERT INTO referrals ({columns})
SELECT rid, 'CL-' || extract(year FROM received AT TIME ZONE 'UTC')::int || '-'
         || CASE WHEN rid >= 10000000 THEN rid::text ELSE lpad(rid::text, 7, '0') END,
       (ARRAY['fhir', 'fax', 'portal', 'phone', 'email'])[i %% 5 + 1],
       CASE i %% 10 WHEN 0 THEN 'discharge' WHEN 1 THEN 'urgent' ELSE 'routine' END,
       status, 1,
       (ARRAY['Dorothy', 'Walter', 'Agnes', 'Harold', 'Mildred', 'Eugene', 'Florence',
              'Irving'])[i %% 8 + 1],
       (ARRAY['Hale', 'Okafor', 'Nguyen', 'Russo', 'Kowalski', 'Baptiste', 'Lindqvist',
              'Moreau'])[(i / 8) %% 8 + 1] || (i %% 997),
       make_date(1930 + (i %% 50)::int, 1 + (i %% 12)::int, 1 + (i %% 28)::int),
       lpad(to_hex(rid), 32, '0'), '06' || lpad((i %% 1000)::text, 3, '0'),
       '[]'::jsonb, '["J44.1"]'::jsonb,
       (ARRAY['home_health', 'standard_dme', 'complex_dme', 'infusion'])[i %% 4 + 1],
       'America/New_York', '[]'::jsonb, false,
       received + interval '1 day', received + interval '3 days', received, received,
       CASE WHEN status NOT IN ('received', 'needs_clarification')
            THEN received + interval '5 hours' END,
       CASE WHEN i %% 10 = 0 THEN received + interval '2 days' END
FROM ({base}) b
"""

# Each referral's clocks (Generator.clocks_of): k 0 acknowledgement, 1 service start,
# 2 its warning, 3 the discharge (one referral in ten), 4 the offer response (offered).
_CLOCKS_SQL = """
INSERT INTO clocks ({columns})
SELECT rid * 5 + k - 4, rid,
       CASE WHEN k = 4 THEN rid END, CASE WHEN k = 4 THEN rid %% 5000 + 1 END,
       kind, team, assigned, CASE WHEN assigned IS NOT NULL THEN started + interval '1 hour' END,
       cs, CASE WHEN kind = 'discharge' THEN 'clock' ELSE 'business' END,
       'America/New_York', 'bench', started, due,
       CASE WHEN cs = 'paused' THEN started END,
       CASE WHEN cs = 'met' THEN least(due, %(now)s) END,
       CASE WHEN cs = 'cancelled' THEN least(due, %(now)s) END
FROM (
  SELECT c.*,
         CASE WHEN k = 4 THEN NULL
              WHEN i %% 1000 = 7 THEN %(manager)s
              WHEN k < 4 AND cs IN ('met', 'cancelled') AND (i + k) %% 10 < 3
              THEN 1000 + ((i * 31 + k) %% 200)::int END AS assigned
  FROM (
    SELECT b.i, b.rid, k.k, k.kind, k.team,
           CASE k.k
             WHEN 0 THEN CASE WHEN b.status IN ('received', 'needs_clarification')
                              THEN 'open' ELSE b.closed END
             WHEN 1 THEN s.service
             WHEN 2 THEN CASE WHEN s.service = 'open'
                              AND b.received + interval '54 hours' <= %(now)s
                              THEN 'met' ELSE s.service END
             WHEN 3 THEN CASE WHEN b.is_open THEN 'open' ELSE b.closed END
             ELSE 'open' END AS cs,
           CASE WHEN k.k = 4
                THEN %(now)s + make_interval(mins => (b.i %% 180)::int - 60) - interval '2 hours'
                ELSE b.received END AS started,
           CASE k.k
             WHEN 0 THEN b.received + interval '1 day'
             WHEN 1 THEN b.received + interval '3 days'
             WHEN 2 THEN b.received + interval '54 hours'
             WHEN 3 THEN b.received + interval '44 hours'
             ELSE %(now)s + make_interval(mins => (b.i %% 180)::int - 60) END AS due
    FROM ({base}) b
    CROSS JOIN LATERAL (
      SELECT CASE WHEN b.status = 'needs_clarification' THEN 'paused'
                  WHEN b.is_open THEN 'open' ELSE b.closed END AS service
    ) s
    JOIN (VALUES (0, 'acknowledgement', 'intake'), (1, 'service_start', 'case_management'),
                 (2, 'service_warning', 'case_management'), (3, 'discharge', 'case_management'),
                 (4, 'offer_response', 'case_management')) AS k (k, kind, team)
      ON k.k < 3 OR (k.k = 3 AND b.i %% 10 = 0) OR (k.k = 4 AND b.status = 'offered')
  ) c
) a
"""

# Each referral's work (Generator.items_of): the item its status calls for (w 0), done
# for closed cases; and for every fifth open case a call back (w 1).
_ITEMS_SQL = """
INSERT INTO work_items ({columns})
SELECT rid * 2 + w - 1, rid, subject, kind, team, level, title, due, received,
       CASE WHEN level > 1 THEN due END,
       CASE WHEN level > 1 THEN due + interval '5 minutes' END,
       CASE WHEN level >= 3 OR closed_at IS NOT NULL THEN NULL
            WHEN level > 1 THEN due + interval '5 minutes' + interval '4 hours'
            ELSE due END,
       closed_at, owner, CASE WHEN owner IS NOT NULL THEN received END, discharge_last
FROM (
  SELECT b.rid, b.received, w.w, b.i %% 10 <> 0 AS discharge_last,
         CASE w.w WHEN 0 THEN 'case:' || b.rid || ':' || sw.kind
                  ELSE 'contact:' || b.rid END AS subject,
         CASE w.w WHEN 0 THEN sw.kind ELSE 'call_back' END AS kind,
         CASE w.w WHEN 0 THEN sw.team ELSE 'case_management' END AS team,
         CASE w.w WHEN 0 THEN sw.title ELSE 'Call the referrer back' END AS title,
         CASE WHEN w.w = 0 AND d.overdue THEN (CASE WHEN b.i %% 4 = 0 THEN 3 ELSE 2 END)
              ELSE 1 END AS level,
         d.due + CASE w.w WHEN 1 THEN interval '2 hours' ELSE interval '0' END AS due,
         CASE WHEN NOT b.is_open THEN least(d.due, %(now)s) END AS closed_at,
         CASE WHEN w.w = 0 AND b.is_open AND b.i %% 1000 = 7 THEN %(manager)s END AS owner
  FROM ({base}) b
  CROSS JOIN LATERAL (
    SELECT b.is_open AND b.i %% 3 <> 0 AS overdue,
           CASE WHEN NOT b.is_open THEN b.received + interval '1 day'
                WHEN b.i %% 3 <> 0
                THEN %(now)s - make_interval(mins => 10 + (b.i %% 5000)::int)
                ELSE %(now)s + make_interval(mins => (b.i %% 4320)::int) END AS due
  ) d
  JOIN (VALUES {status_work}) AS sw (status, kind, team, title)
    ON sw.status = CASE WHEN b.is_open THEN b.status ELSE 'received' END
  JOIN (VALUES (0), (1)) AS w (w) ON w.w = 0 OR (b.is_open AND b.i %% 5 = 0)
) x
"""


def _sql_statements() -> dict[str, str]:
    base = _BASE.format(cycle=_cycle_case("(i * 7) %% 100"))

    def columns(names: tuple[str, ...]) -> str:
        return ", ".join(names)

    status_work = ", ".join(
        "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in row) + ")"
        for row in _status_work()
    )
    return {
        "referrals": _REFERRALS_SQL.format(columns=columns(REFERRAL_COLUMNS), base=base),
        "clocks": _CLOCKS_SQL.format(columns=columns(CLOCK_COLUMNS), base=base),
        "work_items": _ITEMS_SQL.format(
            columns=columns(WORK_ITEM_COLUMNS),
            base=base,
            status_work=status_work.replace("%", "%%"),
        ),
    }


def load_sql(
    url: str, referrals: int, now: datetime, manager_id: int, *, chunk: int = 1_000_000
) -> Loaded:
    """:func:`load`'s data generated by PostgreSQL itself (INSERT ... SELECT over
    generate_series, a million referrals a statement), the three tables on two
    connections at once; then the same index rebuild, sequences and VACUUM."""
    started = time.perf_counter()
    statements = _sql_statements()
    base = {
        "n": referrals,
        "now": now,
        "first_open": int(referrals * (1 - OPEN_SHARE)),
        "manager": manager_id,
    }
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        indexes = _secondary_indexes(conn)
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        conn.commit()

    def fill(tables: tuple[str, ...]) -> None:
        with psycopg.connect(url) as c:
            c.execute("SET session_replication_role = replica")
            c.execute("SET work_mem = '256MB'")
            for table in tables:
                for lo in range(0, referrals, chunk):
                    params = {**base, "lo": lo, "hi": min(referrals, lo + chunk)}
                    c.execute(statements[table], params)
                    c.commit()
                say(f"  {table} generated ({time.perf_counter() - started:.0f} s)")

    errors: list[BaseException] = []

    def run(tables: tuple[str, ...]) -> None:
        try:
            fill(tables)
        except BaseException as exc:  # reported below
            errors.append(exc)

    side = threading.Thread(target=run, args=(("clocks",),))
    side.start()
    run(("referrals", "work_items"))
    side.join()
    if errors:
        raise errors[0]
    with psycopg.connect(url) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("DELETE FROM work_item_counts")
        conn.execute(
            "INSERT INTO work_item_counts (team, level, slot, open_items) "
            "SELECT team, level, 0, count(*) FROM work_items WHERE closed_at IS NULL "
            "GROUP BY team, level"
        )
        for table in ("referrals", "clocks", "work_items"):
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence({}, 'id'), "
                    "(SELECT coalesce(max(id), 0) + 1 FROM {}), false)"
                ).format(sql.Literal(table), sql.Identifier(table))
            )
        conn.execute("SELECT setval('case_number_seq', %s, false)", (referrals + 1,))
        conn.commit()
        conn.autocommit = True
        for _, definition in indexes:
            conn.execute(definition)
        say(f"  indexes rebuilt ({time.perf_counter() - started:.0f} s)")
        for table in ("referrals", "clocks", "work_items"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        say(f"  vacuumed and analysed ({time.perf_counter() - started:.0f} s)")
        row = conn.execute(
            "SELECT (SELECT count(*) FROM clocks), "
            "(SELECT count(*) FROM clocks WHERE status = 'open'), "
            "(SELECT count(*) FROM work_items), "
            "(SELECT count(*) FROM work_items WHERE closed_at IS NULL)"
        ).fetchone()
    assert row is not None
    return Loaded(referrals, *(int(v) for v in row), seconds=time.perf_counter() - started)


def loaded_facts(url: str) -> Loaded | None:
    """What an earlier run (``--keep``) left loaded, or None when the database has no
    bench data (``--reuse`` then loads afresh)."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                """
                SELECT (SELECT count(*) FROM referrals),
                       (SELECT count(*) FROM clocks),
                       (SELECT count(*) FROM clocks WHERE status = 'open'),
                       (SELECT count(*) FROM work_items),
                       (SELECT count(*) FROM work_items WHERE closed_at IS NULL),
                       (SELECT count(*) FROM users WHERE email = %s)
                """,
                (MANAGER_EMAIL,),
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None or not row[0] or not row[5]:
        return None
    return Loaded(*(int(v) for v in row[:5]), seconds=0.0)


# ---- the statements ---------------------------------------------------------------------

BARE_SQL = (
    "SELECT id, due_at FROM work_items WHERE team = %s AND closed_at IS NULL "
    "ORDER BY due_at, discharge_last, id LIMIT 50"
)


def api_statement(url: str, team: str) -> tuple[str, dict[str, Any]]:
    """The statement ``workqueue.repository.page_and_counts`` sends for a team's first
    page (the page with the navigation's counts and its total), with its parameters as
    the driver receives them."""
    database = Database.from_url(sqlalchemy_url(url))
    captured: list[tuple[str, Any]] = []

    def grab(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        captured.append((statement, parameters))

    actor = Actor(user_id=1, role=Role.case_manager, organization_id=None, display_name="bench")
    event.listen(database.engine, "before_cursor_execute", grab)
    try:
        with database.session() as session:
            repository.page_and_counts(
                session,
                actor,
                items=ItemFilter(team=team),
                case_filter=None,
                sort=rules.DEFAULT_SORT,
                limit=PAGE,
                offset=0,
                now=datetime.now(UTC),
                teams=rules.TEAMS,
                cap=rules.COUNT_CAP,
            )
    finally:
        event.remove(database.engine, "before_cursor_execute", grab)
        database.engine.dispose()
    statement, parameters = captured[-1]
    return statement, dict(parameters)


def explain(url: str, statement: str, parameters: dict[str, Any]) -> tuple[list[str], float]:
    """Plan nodes (type and index) and execution time of the API's page statement."""
    with psycopg.connect(url, autocommit=True) as conn:
        query = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement
        row = conn.execute(query, parameters).fetchone()
    assert row is not None
    document = row[0] if isinstance(row[0], list) else json.loads(row[0])
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        label = node["Node Type"]
        if node.get("Index Name"):
            label += f" {node['Index Name']}"
        elif node.get("Relation Name"):
            label += f" {node['Relation Name']}"
        nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(document[0]["Plan"])
    return nodes, float(document[0]["Execution Time"])


# ---- the server ---------------------------------------------------------------------------


class Client:
    """One keep-alive connection with the case manager's token."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def call(self, method: str, path: str) -> tuple[int, bytes]:
        self.conn.request(method, path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def json(self, method: str, path: str) -> Any:
        status, body = self.call(method, path)
        if status != 200:
            raise BenchError(f"{method} {path} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


# ---- measuring ----------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    samples_ms: list[float]
    rounds: int = 1
    key: str = ""

    def round_medians(self) -> list[float]:
        """The median of each ``--rounds`` block (the samples are kept in run order)."""
        size = max(1, len(self.samples_ms) // max(1, self.rounds))
        return [median(self.samples_ms[i : i + size]) for i in range(0, len(self.samples_ms), size)]

    @property
    def median(self) -> float:
        return median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)


@dataclass
class Machine:
    """How busy the machine was while measuring: the bench itself keeps about one core
    busy (client, server, PostgreSQL take turns); much more means other work competed."""

    busy_pct: float
    load_average: float
    cores: int


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - started) / 1e6


def bare_pass(conn: psycopg.Connection[Any], count: int, start: int) -> list[float]:
    samples = []
    for n in range(start, start + count):
        team = TEAMS[n % 2]
        samples.append(timed(lambda t=team: conn.execute(BARE_SQL, (t,), prepare=True).fetchall()))
    return samples


def statement_pass(
    conn: psycopg.Connection[Any], statements: list[tuple[str, dict[str, Any]]], count: int
) -> list[float]:
    samples = []
    for n in range(count):
        statement, parameters = statements[n % len(statements)]
        samples.append(
            timed(lambda s=statement, p=parameters: conn.execute(s, p, prepare=True).fetchall())
        )
    return samples


def api_pass(client: Client, paths: list[str], count: int) -> list[float]:
    samples = []
    for n in range(count):
        path = paths[n % len(paths)]

        def request(p: str = path) -> None:
            status, body = client.call("GET", p)
            if status != 200 or body.count(b'"item_id"') == 0:
                raise BenchError(f"GET {p} answered {status}: {body[:300]!r}")

        samples.append(timed(request))
    return samples


def healthz_pass(client: Client, count: int) -> list[float]:
    """The HTTP floor: the same connection, the middleware and a ``SELECT 1``."""
    samples = []
    for _ in range(count):

        def request() -> None:
            status, body = client.call("GET", "/healthz")
            if status != 200 or b'"ok"' not in body:
                raise BenchError(f"GET /healthz answered {status}: {body[:300]!r}")

        samples.append(timed(request))
    return samples


def claim_items(client: Client, count: int) -> int:
    page = client.json("GET", f"/api/v1/workqueue?team=case_management&limit={count}")
    claimed = 0
    for case in page["cases"]:
        item = case["item"]
        if item["assigned_to"] is None:
            client.json("POST", f"/api/v1/workqueue/{item['item_id']}/claim")
            claimed += 1
    return claimed


# ---- the report -------------------------------------------------------------------------


def verdict(series: Series) -> str:
    ok = series.median < TARGET_MEDIAN_MS and series.p99 < TARGET_P99_MS
    return "PASS" if ok else "FAIL"


def report(
    loaded: Loaded,
    baselines: list[Series],
    api: list[Series],
    plan: tuple[list[str], float],
    mine_items: int,
    machine: Machine,
    meter: CpuMeter,
) -> None:
    bare = baselines[0]
    print()
    loaded_how = (
        f"loaded in {loaded.seconds:.0f} s"
        if loaded.seconds
        else "loaded by an earlier run (--reuse)"
    )
    print(
        f"work queue: {loaded.referrals:,} referrals, {loaded.clocks:,} clocks "
        f"({loaded.open_clocks:,} open), {loaded.items:,} work items "
        f"({loaded.open_items:,} open), {loaded_how}"
    )
    print(f"  page statement plan: {' > '.join(plan[0])}")
    uses_index = any("ix_work_items_open_team_due_at" in node for node in plan[0])
    full_sort = any(node == "Sort" for node in plan[0])
    print(
        f"  plan walks ix_work_items_open_team_due_at without a full sort: "
        f"{'PASS' if uses_index and not full_sort else 'FAIL'} "
        f"(EXPLAIN ANALYZE execution {plan[1]:.2f} ms)"
    )
    print()
    header = (
        f"  {'':44} {'median':>9} {'p99':>9} {'x bare (median/p99)':>22}"
        f" {'round medians':>15}  target"
    )
    print(header)
    for s in (*baselines, *api):
        ratio = f"{s.median / bare.median:.1f} / {s.p99 / bare.p99:.1f}"
        spread = s.round_medians()
        rounds = f"{min(spread):.2f}-{max(spread):.2f}"
        target = ""
        if s in api:
            target = f"{verdict(s)} (median < {TARGET_MEDIAN_MS:g} ms, p99 < {TARGET_P99_MS:g} ms)"
        print(f"  {s.label:44} {s.median:7.2f}ms {s.p99:7.2f}ms {ratio:>22} {rounds:>15}  {target}")
    print()
    print(f"  CPU per request (ms)                         {'server':>9} {'database':>9}")
    for s in (*baselines, *api):
        n = max(1, len(s.samples_ms))
        server_ms = 1000 * meter.server.get(s.key, 0.0) / n
        db_ms = 1000 * meter.database.get(s.key, 0.0) / n
        print(f"  {s.label:44} {server_ms:9.2f} {db_ms:9.2f}")
    print()
    print(
        f"  ({len(bare.samples_ms)} requests per line in {bare.rounds} alternating rounds; "
        f"the case manager's queue holds"
    )
    print(f"   {mine_items} open work items, listed {PAGE} cases at a time)")
    print(
        f"  machine busy during the measurement: {machine.busy_pct:.0f} % of "
        f"{machine.cores} cores (this bench alone keeps about one busy); "
        f"load average {machine.load_average:.1f} (median over the rounds)"
    )


# ---- main -------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds spent by the server process and the database's backends while each
    line runs: unlike a round trip, a request's CPU cost hardly moves with how busy the
    machine is (the clock ticks are summed over all the rounds)."""

    def __init__(self, server_pid: int, conn: psycopg.Connection[Any], datname: str) -> None:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (datname,)
        ).fetchall()
        self.server_pid = server_pid
        self.backends = [int(r[0]) for r in rows]  # the server's pool and this bench's
        self.server: dict[str, float] = {}
        self.database: dict[str, float] = {}

    def run(self, label: str, work: Callable[[], list[float]]) -> list[float]:
        server0 = process_cpu_seconds(self.server_pid)
        db0 = sum(process_cpu_seconds(pid) for pid in self.backends)
        samples = work()
        self.server[label] = (
            self.server.get(label, 0.0) + process_cpu_seconds(self.server_pid) - server0
        )
        self.database[label] = (
            self.database.get(label, 0.0)
            + sum(process_cpu_seconds(pid) for pid in self.backends)
            - db0
        )
        return samples


def measure(
    url: str, client: Client, server_pid: int, requests: int, rounds: int
) -> tuple[list[Series], list[Series], Machine, CpuMeter]:
    statements = [api_statement(url, team) for team in TEAMS]
    team_paths = [f"/api/v1/workqueue?team={team}&limit={PAGE}" for team in TEAMS]
    mine_paths = [f"/api/v1/workqueue?mine=true&limit={PAGE}"]
    items_paths = [f"{path}&items=true" for path in team_paths]
    lines: dict[str, list[float]] = {k: [] for k in LABELS}
    per_round = max(1, requests // rounds)
    with psycopg.connect(url, autocommit=True) as conn:
        bare_pass(conn, 50, 0)  # warm-up: prepare, caches
        statement_pass(conn, statements, 50)
        healthz_pass(client, 20)
        api_pass(client, team_paths + mine_paths + items_paths, 60)
        meter = CpuMeter(server_pid, conn, url.rsplit("/", 1)[1])
        busy0, total0 = machine_cpu()
        load_averages = []
        for r in range(rounds):
            start = r * per_round
            passes: dict[str, Callable[[], list[float]]] = {
                "bare": lambda s=start: bare_pass(conn, per_round, s),
                "full": lambda: statement_pass(conn, statements, per_round),
                "healthz": lambda: healthz_pass(client, per_round),
                "team": lambda: api_pass(client, team_paths, per_round),
                "mine": lambda: api_pass(client, mine_paths, per_round),
                "items": lambda: api_pass(client, items_paths, per_round),
            }
            for key, work in passes.items():
                lines[key] += meter.run(key, work)
            load_averages.append(os.getloadavg()[0])
            say(f"  round {r + 1}/{rounds} done (load average {load_averages[-1]:.1f})")
        busy1, total1 = machine_cpu()
    machine = Machine(
        busy_pct=100 * (busy1 - busy0) / max(total1 - total0, 1),
        load_average=median(load_averages),
        cores=os.cpu_count() or 1,
    )
    series = {k: Series(LABELS[k], v, rounds, key=k) for k, v in lines.items()}
    return (
        [series["bare"], series["full"], series["healthz"]],
        [series["team"], series["mine"], series["items"]],
        machine,
        meter,
    )


LABELS = {
    "bare": "bare SQL: next 50 open work items of a team",
    "full": "bare SQL: the API's page statement (joins)",
    "healthz": "HTTP floor: GET /healthz round trip",
    "team": "API: next 50 cases for a team",
    "mine": "API: a case manager's queue (mine=true)",
    "items": "API: next 50 cases with every item (items=true)",
}


def run(args: argparse.Namespace) -> None:
    admin = admin_url()
    name = args.db_name
    url = with_database(admin, name)
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": sqlalchemy_url(url),
        **PRODUCTION,
        "CARELOOP_LOG_LEVEL": "WARNING",
        "CARELOOP_LOG_FORMAT": "json",
    }
    loaded = loaded_facts(url) if args.reuse else None
    if loaded is not None:
        say(f"reusing {name}: {loaded.referrals:,} referrals loaded by an earlier run")
        upgrade_database(sqlalchemy_url(url))  # indexes added since
        token = careloop_cli(env, "token", "issue", MANAGER_EMAIL).strip().splitlines()[-1]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) work_items")
    else:
        say(f"recreating {name} and migrating ...")
        recreate_database(admin, name)
        upgrade_database(sqlalchemy_url(url))
        token = make_case_manager(env)
        how = "in SQL" if args.loader == "sql" else "with COPY"
        say(f"loading {args.referrals:,} referrals, their clocks and work items {how} ...")
        loader = load_sql if args.loader == "sql" else load
        loaded = loader(url, args.referrals, datetime.now(UTC), manager_id=1)
    plan = explain(url, *api_statement(url, TEAMS[0]))
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(env, free_port(), Path(tmp) / "server.log")
        client: Client | None = None
        try:
            server.start()
            server.wait_ready()
            client = Client(server.port, token)
            claimed = claim_items(client, CLAIMS)
            say(f"claimed {claimed} items as the case manager; measuring ...")
            assert server.process is not None
            baselines, api, machine, meter = measure(
                url, client, server.process.pid, args.requests, args.rounds
            )
        finally:
            if client is not None:
                client.close()
            server.stop()
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM work_items WHERE owner_user_id = 1 AND closed_at IS NULL"
        ).fetchone()
    report(loaded, baselines, api, plan, int(row[0]) if row else 0, machine, meter)
    if not args.keep and not args.reuse:
        drop_database(admin, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--referrals", type=int, default=DEFAULT_REFERRALS)
    parser.add_argument("--requests", type=int, default=500, help="per measured line")
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--loader",
        choices=("python", "sql"),
        default="python",
        help="generate the rows in Python and COPY them, or in PostgreSQL (INSERT ... SELECT "
        "over generate_series; the same data, for 10 million referrals and more)",
    )
    parser.add_argument("--db-name", default=DB_NAME, help="the bench database's name")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the data an earlier --keep run left (load afresh if there is none); "
        "the database is kept",
    )
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
