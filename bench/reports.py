"""The monthly KPI pack and the weekly open-referral report over millions of referrals
with their timelines in PostgreSQL, next to DuckDB computing the same figures over the
same rows in the same run.

    .venv/bin/python bench/reports.py                        # 5,000,000 referrals
    .venv/bin/python bench/reports.py --referrals 200000     # quicker

What runs:

* a dedicated database ``careloop_bench_reports``, dropped, recreated and migrated;
* ``--referrals`` synthetic cases over five years, generated in SQL (generate_series):
  a plan row per case, then the referrals and their timelines (received, assigned,
  clarification for some, acknowledgement, authorisation request, decision and appeal
  for some, offers declined and accepted, the service start on time or late, closing;
  the last three weeks' cases mostly still open), about 9 events per case;
* the report domain's case facts (one row per case, what the worker keeps as events
  land) written in bulk from the same plan, then checked: ``--check`` sampled cases are
  folded again from their events by the report domain (``rules.fold``) and must equal
  the rows written;
* the rows exported to DuckDB (referrals, payers, every event with its JSON data; and
  the facts), untimed: DuckDB is the analyst's engine, reading a copy;
* measured, alternating, ``--repeat`` times each (median):
  - PostgreSQL: the monthly KPI pack by payer (``report.service.kpi_pack``: one GROUP
    BY over the facts of the month's cases, through the month's index) and the weekly
    open-referral report (``report.service.open_referrals``: every open case with its
    payer, provider, age, status in words, owner and next deadline);
  - DuckDB: the same pack from the raw events (each case's timeline folded in SQL:
    FILTER aggregates, arg_min/arg_max, JSON extraction), the same open-referral rows
    from the raw events, and the pack over the exported facts;
* the figures compared (sums, medians and 90th percentiles): DuckDB's pack from the raw
  events must equal the report domain's, payer by payer, and the open cases must be the
  same cases.

Target (issue 13): PostgreSQL at most 1x DuckDB's time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import psycopg

from _common import (
    BenchError,
    admin_url,
    background_load,
    drop_database,
    median,
    recreate_database,
    run_main,
    say,
    server_facts,
    sqlalchemy_url,
    with_database,
)
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.report import reconciliation, rules
from careloop.report import service as report_service
from careloop.report.fold import FILING_MISSED_REASON

DB_NAME = "careloop_bench_reports"
DEFAULT_REFERRALS = 5_000_000
ZONE = "America/New_York"
TZ = ZoneInfo(ZONE)
#: The bench's "now": Thursday 3 December 2026, 12:00 UTC; the pack is November's.
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MONTH = date(2026, 11, 1)
SPAN_DAYS = 5 * 365
PAYERS = (
    "New England Health Plan",
    "Hudson Valley Medicaid Plan",
    "Constitution State Care",
    "Green Mountain Health",
)
MANAGER = Actor(user_id=None, role=Role.supervisor, organization_id=None, display_name="bench")

# ---- the plan: one row per case, every step decided from its number ---------------------

PLAN = """
SET TIME ZONE 'UTC';
CREATE UNLOGGED TABLE bench_plan AS
WITH base AS (
  SELECT i,
         (i::bigint * 2654435761) %% 1000 AS h,
         %(start)s::timestamptz + (i - 1) * %(step)s::interval AS received
  FROM generate_series(1, %(n)s) AS i
), flags AS (
  SELECT *, received > %(now)s::timestamptz - interval '21 days' AS recent FROM base
), plan AS (
  SELECT *,
    recent OR h %% 100 = 0 AS is_open,
    (ARRAY['portal','fhir','fax','email','phone','batch'])[1 + i %% 6] AS channel,
    1 + i %% 4 AS payer_id,
    (ARRAY['home_health','standard_dme','complex_dme','infusion'])[1 + i %% 4] AS service_class,
    h %% 100 < 12 AS clarified,
    CASE WHEN (recent AND h %% 10 = 0)
              OR received + (h %% 48) * interval '1 hour' > %(now)s::timestamptz THEN NULL
         ELSE received + (h %% 48) * interval '1 hour' END AS ack_at,
    (NOT recent OR h %% 3 = 0) AND received + interval '34 hours' <= %(now)s::timestamptz
      AS has_offer,
    1 + i %% 50 AS provider1,
    1 + (i + 1) %% 50 AS provider2,
    h %% 10 < 3 AND received + interval '200 hours' <= %(now)s::timestamptz AS has_auth,
    CASE WHEN h %% 2 = 0 THEN 'expedited' ELSE 'standard' END AS priority,
    (ARRAY['missing_information','not_medically_necessary','not_covered',
           'prior_authorization_absent','out_of_network','timely_filing_expired'])[1 + h %% 6]
      AS reason,
    received + (6 + h %% 90) * interval '1 hour' AS start_at
  FROM flags
)
SELECT i AS id, h, received, recent, is_open, channel, payer_id, service_class, clarified,
  ack_at, has_offer,
  has_offer AND h %% 5 = 0 AS declined,
  has_offer AND h %% 7 <> 0 AS accepted,
  provider1, provider2, has_auth, priority,
  has_auth AND h %% 10 = 0 AS denied,
  has_auth AND h %% 20 = 0 AS appealed,
  has_auth AND h %% 40 = 0 AS overturned,
  reason,
  received + interval '26 hours' AS auth_at,
  received + interval '26 hours' + (1 + h %% 100) * interval '1 hour' AS decided_at,
  (NOT is_open OR (recent AND h %% 2 = 0)) AND start_at <= %(now)s::timestamptz
    AND NOT (h %% 100 = 0) AS started,
  start_at,
  start_at <= received + interval '72 hours' AS on_time,
  CASE WHEN NOT is_open THEN received + interval '20 days' END AS closed_at
FROM plan;
ALTER TABLE bench_plan ADD PRIMARY KEY (id);
"""

REFERRALS = """
INSERT INTO payers (id, code, name, rules, active, created_at)
SELECT g, 'P' || g, (%(payers)s::text[])[g], '{}'::jsonb, true, %(now)s::timestamptz
FROM generate_series(1, 4) g;
INSERT INTO referrals (id, case_number, channel, urgency, status, version, member_first_name,
  member_last_name, member_birth_date, duplicate_key, access_barriers, diagnoses,
  service_class, time_zone, findings, escalated, ack_due_at, service_due_at, received_at,
  updated_at, payer_id)
SELECT id, 'CL-' || extract(year FROM received)::int || '-' || lpad(id::text, 7, '0'), channel,
  'routine', CASE WHEN is_open THEN 'acknowledged' ELSE 'closed' END, 1,
  (ARRAY['Dorothy','Walter','Agnes','Harold'])[1 + id %% 4], 'Member' || (id %% 997),
  date '1940-01-01' + (id %% 15000), lpad(to_hex(id), 32, '0'), '[]', '["J44.1"]',
  service_class, 'America/New_York', '[]', false, received + interval '1 day',
  received + interval '72 hours', received, received, payer_id
FROM bench_plan;
"""

#: Each case's timeline, in the order the steps were written (seq), one INSERT. The
#: lateral VALUES yields each case's rows together, so event ids follow each case's steps.
EVENTS = """
SET TIME ZONE 'UTC';
INSERT INTO referral_events (referral_id, at, type, actor_user_id, actor_label, channel,
  provider_id, data)
SELECT p.id, e.at, e.type, NULL, 'bench', e.channel, e.provider_id, e.data
FROM bench_plan p CROSS JOIN LATERAL (VALUES
  (1, p.received, 'referral.received', p.channel, NULL::int, jsonb_build_object(
     'status', CASE WHEN p.clarified THEN 'needs_clarification' ELSE 'received' END,
     'service_class', p.service_class,
     'ack_due_at', to_jsonb(p.received + interval '1 day'),
     'service_due_at', to_jsonb(p.received + interval '72 hours')), true),
  (2, p.received, 'referral.assigned', NULL, NULL,
     jsonb_build_object('case_manager', 'Case manager ' || (1 + p.id %% 40)), true),
  (3, p.received, 'referral.clarification_requested', NULL, NULL,
     '{"missing": [{"code": "member_phone_missing", "field": "member.phone"}]}'::jsonb,
     p.clarified),
  (4, p.ack_at, 'referral.acknowledged', NULL, NULL,
     '{"from": "received", "to": "acknowledged"}'::jsonb, p.ack_at IS NOT NULL),
  (5, p.auth_at, 'authorization.requested', NULL, NULL, jsonb_build_object(
     'authorization_id', p.id, 'priority', p.priority, 'to', 'authorization_pending'),
     p.has_auth),
  (6, p.decided_at, CASE WHEN p.denied THEN 'authorization.denied'
                          ELSE 'authorization.approved' END, NULL, NULL, jsonb_build_object(
     'authorization_id', p.id, 'to', CASE WHEN p.denied THEN 'denied' ELSE 'authorized' END,
     'reason', CASE WHEN p.denied THEN p.reason END), p.has_auth),
  (7, p.decided_at + interval '5 hours', 'authorization.appealed', NULL, NULL,
     jsonb_build_object('authorization_id', p.id, 'to', 'authorization_pending'), p.appealed),
  (8, p.decided_at + interval '35 hours', CASE WHEN p.overturned THEN 'authorization.approved'
                                               ELSE 'authorization.denied' END, NULL, NULL,
     jsonb_build_object('authorization_id', p.id,
       'to', CASE WHEN p.overturned THEN 'authorized' ELSE 'denied' END,
       'reason', CASE WHEN p.overturned THEN NULL ELSE p.reason END), p.appealed),
  (9, p.received + interval '30 hours', 'offer.made', NULL, p.provider1,
     '{"to": "offered"}'::jsonb, p.has_offer),
  (10, p.received + interval '31 hours', 'offer.declined', NULL, p.provider1,
     '{}'::jsonb, p.declined),
  (11, p.received + interval '32 hours', 'offer.made', NULL, p.provider2,
     '{"to": "offered"}'::jsonb, p.declined),
  (12, p.received + interval '33 hours', 'offer.accepted', NULL,
     CASE WHEN p.declined THEN p.provider2 ELSE p.provider1 END,
     '{"to": "accepted"}'::jsonb, p.accepted),
  (13, p.start_at, CASE WHEN p.on_time THEN 'service.started_on_time'
                        ELSE 'service.started_late' END, NULL,
     CASE WHEN p.accepted THEN CASE WHEN p.declined THEN p.provider2 ELSE p.provider1 END END,
     jsonb_build_object('at', to_jsonb(p.start_at), 'to', 'fulfilled'), p.started),
  (14, p.closed_at, 'referral.closed', NULL, NULL, '{"to": "closed"}'::jsonb,
     NOT p.is_open)
) AS e(seq, at, type, channel, provider_id, data, keep)
WHERE e.keep;
"""

#: The report domain's rows for the same cases, from the same plan (what the worker's
#: fold keeps as events land; checked against the fold below).
FACTS = """
SET TIME ZONE 'UTC';
INSERT INTO report_case_facts
SELECT p.id, p.payer_id,
  CASE WHEN p.accepted THEN CASE WHEN p.declined THEN p.provider2 ELSE p.provider1 END END,
  CASE WHEN p.service_class IN ('standard_dme', 'complex_dme') THEN 'dme'
       ELSE p.service_class END,
  p.channel, p.received,
  date_trunc('week', p.received AT TIME ZONE 'America/New_York')::date,
  date_trunc('month', p.received AT TIME ZONE 'America/New_York')::date,
  CASE WHEN NOT p.is_open THEN 'closed' WHEN p.started THEN 'fulfilled'
       WHEN p.accepted THEN 'accepted' WHEN p.has_offer THEN 'offered'
       WHEN p.appealed THEN CASE WHEN p.overturned THEN 'authorized' ELSE 'denied' END
       WHEN p.has_auth THEN CASE WHEN p.denied THEN 'denied' ELSE 'authorized' END
       WHEN p.ack_at IS NOT NULL THEN 'acknowledged'
       WHEN p.clarified THEN 'needs_clarification' ELSE 'received' END,
  p.is_open, p.closed_at, 'Case manager ' || (1 + p.id %% 40),
  p.ack_at, COALESCE(p.ack_at - p.received <= interval '24 hours', false),
  extract(epoch FROM p.ack_at - p.received),
  p.clarified,
  CASE WHEN p.clarified THEN '["member_phone_missing"]'::jsonb ELSE '[]'::jsonb END,
  false, p.received + interval '72 hours',
  CASE WHEN p.started THEN p.start_at END,
  CASE WHEN p.started THEN p.on_time END,
  CASE WHEN p.started THEN extract(epoch FROM p.start_at - p.received) END,
  CASE WHEN p.declined THEN 2 WHEN p.has_offer THEN 1 ELSE 0 END,
  CASE WHEN p.accepted THEN 1 ELSE 0 END,
  CASE WHEN p.declined THEN false WHEN p.accepted THEN true END,
  CASE WHEN p.has_auth AND NOT p.denied THEN 1 ELSE 0 END,
  CASE WHEN p.denied THEN 1 ELSE 0 END,
  CASE WHEN p.appealed THEN 1 ELSE 0 END,
  CASE WHEN p.overturned THEN 1 ELSE 0 END,
  CASE WHEN p.appealed AND NOT p.overturned THEN 1 ELSE 0 END,
  CASE WHEN p.has_auth AND p.priority = 'standard' THEN 1 ELSE 0 END,
  CASE WHEN p.has_auth AND p.priority = 'standard'
       THEN extract(epoch FROM p.decided_at - p.auth_at) ELSE 0 END,
  CASE WHEN p.has_auth AND p.priority = 'expedited' THEN 1 ELSE 0 END,
  CASE WHEN p.has_auth AND p.priority = 'expedited'
       THEN extract(epoch FROM p.decided_at - p.auth_at) ELSE 0 END,
  CASE WHEN p.denied THEN p.reason END,
  CASE WHEN p.appealed AND NOT p.overturned THEN p.decided_at + interval '35 hours'
       WHEN p.denied THEN p.decided_at END,
  CASE WHEN p.is_open THEN NULLIF(LEAST(
         CASE WHEN p.ack_at IS NULL THEN p.received + interval '1 day' END,
         CASE WHEN NOT p.started THEN p.received + interval '72 hours' END), NULL) END,
  sum(1 + 1 + p.clarified::int + (p.ack_at IS NOT NULL)::int + 2 * p.has_auth::int
      + 2 * p.appealed::int + p.has_offer::int + 2 * p.declined::int + p.accepted::int
      + p.started::int + (NOT p.is_open)::int) OVER (ORDER BY p.id)
FROM bench_plan p;
"""


def timed(label: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = work()
    say(f"  {label} ({time.perf_counter() - started:.0f} s)")
    return out


def script(conn: psycopg.Connection[Any], text: str, params: dict[str, Any]) -> None:
    """Run each statement of ``text`` (parameters bound where it has any)."""
    for statement in text.split(";\n"):
        if statement.strip():
            conn.execute(statement, params)  # type: ignore[arg-type]


def load(url: str, referrals: int) -> None:
    start = NOW - timedelta(days=SPAN_DAYS)
    step = timedelta(days=SPAN_DAYS) / referrals
    params = {"n": referrals, "start": start, "step": step, "now": NOW, "payers": list(PAYERS)}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET session_replication_role = replica")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
            "('referrals', 'referral_events', 'report_case_facts') "
            "AND indexname NOT LIKE 'pk_%%' AND indexname NOT LIKE 'uq_%%'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        timed("plan", lambda: script(conn, PLAN, params))
        timed("referrals", lambda: script(conn, REFERRALS, params))
        timed("events", lambda: script(conn, EVENTS, params))
        timed("case facts", lambda: script(conn, FACTS, params))
        for name, definition in indexes:
            timed(f"index {name}", lambda d=definition: conn.execute(d))
        conn.execute(
            "SELECT setval('referral_events_id_seq', (SELECT max(id) FROM referral_events))"
        )
        conn.execute("SELECT setval('referrals_id_seq', (SELECT max(id) FROM referrals))")
        timed("vacuum analyze", lambda: conn.execute("VACUUM (ANALYZE)"))


def check_facts(database: Database, sample: int, referrals: int) -> None:
    """Sampled cases folded again from their events by the report domain must equal the
    facts rows written in bulk."""
    ids = sorted({1 + (k * 7919) % referrals for k in range(sample)} | {referrals})
    clock = FixedClock(NOW)
    with database.unit_of_work() as session:
        kept = {r["referral_id"]: r for r in report_service.case_facts_of(session, ids)}
        folded = report_service.fold_rows(session, ids, clock=clock, zone=ZONE)
    for row in folded:
        want = kept.get(row["referral_id"])
        for key, value in row.items():
            got = want[key] if want else None
            same = (
                abs(got - value) < 1e-6
                if isinstance(value, float) and got is not None
                else got == value
            )
            if not same:
                raise BenchError(
                    f"case {row['referral_id']}: {key} is {got!r} in the bulk facts, "
                    f"{value!r} by the report domain's fold"
                )
    say(f"  {len(folded)} sampled cases: the bulk facts are the report domain's fold")


def export(url: str, folder: Path) -> duckdb.DuckDBPyConnection:
    """Referrals, payers, events and facts copied to CSV and loaded into DuckDB."""
    tables = {
        "referrals": (
            "SELECT id, case_number, payer_id, received_at FROM referrals",
            "id BIGINT, case_number VARCHAR, payer_id INTEGER, received_at TIMESTAMPTZ",
        ),
        "payers": ("SELECT id, name FROM payers", "id INTEGER, name VARCHAR"),
        "events": (
            "SELECT id, referral_id, at AS event_at, type, channel, provider_id, data::text "
            "FROM referral_events",
            "id BIGINT, referral_id BIGINT, event_at TIMESTAMPTZ, type VARCHAR, channel VARCHAR, "
            "provider_id INTEGER, data VARCHAR",
        ),
        "facts": ("SELECT * FROM report_case_facts", None),
    }
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for name, (query, columns) in tables.items():
            path = folder / f"{name}.csv"
            statement = f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"
            with path.open("wb") as out, conn.cursor() as cur, cur.copy(statement) as copy:
                for chunk in copy:
                    out.write(chunk)
            if columns is None:
                duck.execute(
                    f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=true)"
                )
            else:
                spec = (
                    "{"
                    + ", ".join(
                        f"'{c.split()[0]}': '{c.split(maxsplit=1)[1]}'" for c in columns.split(", ")
                    )
                    + "}"
                )
                duck.execute(
                    f"CREATE TABLE {name} AS SELECT * FROM read_csv('{path}', header=true, "
                    f"columns={spec})"
                )
            path.unlink()
            say(f"  {name} in DuckDB")
    return duck


# ---- DuckDB: the analyst's SQL over the raw rows ------------------------------------------

DUCK_CASES = """
WITH m AS (SELECT id, payer_id FROM referrals WHERE received_at >= $a AND received_at < $b),
x AS (
  SELECT e.*, max(CASE WHEN e.type = 'authorization.appealed' THEN e.id END)
           OVER (PARTITION BY e.referral_id) AS appealed_id,
         bool_or(e.type = 'grievance.opened'
                 AND json_extract_string(e.data, '$.subject') = 'provider_quality')
           OVER (PARTITION BY e.referral_id, json_extract_string(e.data, '$.grievance_id'))
           AS about_provider
  FROM events e SEMI JOIN m ON e.referral_id = m.id
),
c AS (
  SELECT referral_id,
    min(event_at) FILTER (WHERE type = 'referral.received') AS received_at,
    min(event_at) FILTER (WHERE type = 'referral.acknowledged') AS ack_at,
    max(CAST(json_extract_string(data, '$.service_due_at') AS TIMESTAMPTZ))
      FILTER (WHERE type = 'referral.received') AS service_due_at,
    bool_or(type = 'referral.clarification_requested') AS clarified,
    count(*) FILTER (WHERE type = 'offer.made') AS offers_made,
    count(*) FILTER (WHERE type = 'offer.accepted') AS offers_accepted,
    arg_min(type, id) FILTER (WHERE type IN ('offer.accepted', 'offer.declined',
                                             'offer.expired')) AS first_outcome,
    arg_min(CAST(json_extract_string(data, '$.at') AS TIMESTAMPTZ), id)
      FILTER (WHERE type LIKE 'service.started%') AS started_at,
    arg_min(type, id) FILTER (WHERE type LIKE 'service.started%') AS start_type,
    bool_or(type IN ('referral.closed', 'referral.cancelled')) AS closed,
    count(*) FILTER (WHERE type IN ('authorization.approved', 'authorization.partially_approved')
                     AND (appealed_id IS NULL OR id < appealed_id)) AS approved,
    count(*) FILTER (WHERE type = 'authorization.denied'
                     AND (appealed_id IS NULL OR id < appealed_id)) AS denied,
    count(*) FILTER (WHERE type = 'authorization.appealed') AS appealed,
    count(*) FILTER (WHERE type IN ('authorization.approved', 'authorization.partially_approved')
                     AND id > appealed_id) AS overturned,
    count(*) FILTER (WHERE type = 'authorization.denied' AND id > appealed_id) AS upheld,
    min(event_at) FILTER (WHERE type = 'authorization.requested') AS requested_at,
    arg_min(json_extract_string(data, '$.priority'), id)
      FILTER (WHERE type = 'authorization.requested') AS priority,
    min(event_at) FILTER (WHERE type IN ('authorization.approved',
                                         'authorization.partially_approved',
                                         'authorization.denied')
                    AND (appealed_id IS NULL OR id < appealed_id)) AS decided_at,
    count(*) FILTER (WHERE type = 'claim.prepared') AS claims,
    count(*) FILTER (WHERE type = 'referral.escalated'
                     AND json_extract_string(data, '$.reason') = $filing) AS filing_missed,
    count(*) FILTER (WHERE type = 'grievance.opened' AND about_provider) AS grievances,
    count(*) FILTER (WHERE type = 'grievance.resolved' AND about_provider
                     AND json_extract_string(data, '$.resolution') = 'substantiated')
      AS grievances_substantiated
  FROM x GROUP BY referral_id
)
SELECT m.payer_id,
  count(*) AS referrals,
  count(*) FILTER (WHERE ack_at IS NOT NULL OR received_at < $cut) AS ack_decided,
  count(*) FILTER (WHERE ack_at - received_at <= INTERVAL 24 HOUR) AS ack_hits,
  count(ack_at) AS ack_n,
  coalesce(sum(epoch(ack_at - received_at)), 0) AS ack_seconds,
  count(started_at) AS start_n,
  coalesce(sum(epoch(started_at - received_at)), 0) AS start_seconds,
  count(*) FILTER (WHERE start_type IS NOT NULL
                   OR (NOT closed AND service_due_at < $now)) AS on_time_decided,
  count(*) FILTER (WHERE start_type = 'service.started_on_time') AS on_time_hits,
  sum(offers_made) AS offers_made,
  sum(offers_accepted) AS offers_accepted,
  count(first_outcome) AS first_offers,
  count(*) FILTER (WHERE first_outcome = 'offer.accepted') AS first_offers_accepted,
  count(*) FILTER (WHERE clarified) AS clarified,
  sum(approved) AS auth_approved, sum(denied) AS auth_denied, sum(appealed) AS auth_appealed,
  sum(overturned) AS auth_overturned, sum(upheld) AS auth_upheld,
  count(*) FILTER (WHERE decided_at IS NOT NULL AND priority = 'standard') AS auth_standard_n,
  coalesce(sum(epoch(decided_at - requested_at)) FILTER (WHERE priority = 'standard'), 0)
    AS auth_standard_seconds,
  count(*) FILTER (WHERE decided_at IS NOT NULL AND priority = 'expedited')
    AS auth_expedited_n,
  coalesce(sum(epoch(decided_at - requested_at)) FILTER (WHERE priority = 'expedited'), 0)
    AS auth_expedited_seconds,
  sum(claims) AS claims, sum(filing_missed) AS filing_missed, sum(grievances) AS grievances,
  sum(grievances_substantiated) AS grievances_substantiated,
  quantile_cont(epoch(ack_at - received_at), 0.5) AS ack_p50,
  quantile_cont(epoch(ack_at - received_at), 0.9) AS ack_p90,
  quantile_cont(epoch(started_at - received_at), 0.5) AS start_p50,
  quantile_cont(epoch(started_at - received_at), 0.9) AS start_p90
FROM c JOIN m ON m.id = c.referral_id
GROUP BY m.payer_id ORDER BY m.payer_id
"""

DUCK_OPEN = """
WITH c AS (
  SELECT referral_id,
    bool_or(type IN ('referral.closed', 'referral.cancelled')) AS closed,
    arg_max(json_extract_string(data, '$.to'), id)
      FILTER (WHERE json_extract_string(data, '$.to') IS NOT NULL) AS last_to,
    arg_max(json_extract_string(data, '$.status'), id)
      FILTER (WHERE type = 'referral.received') AS received_status,
    arg_max(json_extract_string(data, '$.case_manager'), id)
      FILTER (WHERE type IN ('referral.assigned', 'referral.reassigned',
                             'referral.unassigned')) AS owner,
    arg_max(provider_id, id) FILTER (WHERE type = 'offer.accepted') AS provider_id,
    min(event_at) FILTER (WHERE type = 'referral.acknowledged') AS ack_at,
    bool_or(type LIKE 'service.started%') AS started,
    max(CAST(json_extract_string(data, '$.ack_due_at') AS TIMESTAMPTZ))
      FILTER (WHERE type = 'referral.received') AS ack_due,
    max(CAST(json_extract_string(data, '$.service_due_at') AS TIMESTAMPTZ))
      FILTER (WHERE type = 'referral.received') AS service_due
  FROM events GROUP BY referral_id
)
SELECT p.name, c.provider_id, r.case_number, r.received_at,
  coalesce(c.last_to, c.received_status) AS status, c.owner,
  least(CASE WHEN c.ack_at IS NULL THEN c.ack_due END,
        CASE WHEN NOT c.started THEN c.service_due END) AS next_due
FROM c JOIN referrals r ON r.id = c.referral_id LEFT JOIN payers p ON p.id = r.payer_id
WHERE NOT c.closed
ORDER BY p.name, c.provider_id, r.received_at
"""

#: The report domain's aggregate (``repository.kpi_counters``) as DuckDB SQL, over the
#: exported facts: the same rows the PostgreSQL figure reads.
DUCK_FACTS = """
SELECT payer_id,
  count(*) AS referrals,
  count(*) FILTER (WHERE acknowledged_at IS NOT NULL OR received_at < $cut) AS ack_decided,
  count(*) FILTER (WHERE ack_within_24h) AS ack_hits,
  count(ack_seconds) AS ack_n, coalesce(sum(ack_seconds), 0) AS ack_seconds,
  count(start_seconds) AS start_n, coalesce(sum(start_seconds), 0) AS start_seconds,
  count(*) FILTER (WHERE started_on_time IS NOT NULL
                   OR (is_open AND service_due_at < $now)) AS on_time_decided,
  count(*) FILTER (WHERE started_on_time) AS on_time_hits,
  sum(offers_made) AS offers_made, sum(offers_accepted) AS offers_accepted,
  count(first_offer_accepted) AS first_offers,
  count(*) FILTER (WHERE first_offer_accepted) AS first_offers_accepted,
  count(*) FILTER (WHERE needed_clarification) AS clarified,
  sum(auth_approved) AS auth_approved, sum(auth_denied) AS auth_denied,
  sum(auth_appealed) AS auth_appealed, sum(auth_overturned) AS auth_overturned,
  sum(auth_upheld) AS auth_upheld, sum(auth_standard_n) AS auth_standard_n,
  sum(auth_standard_seconds) AS auth_standard_seconds,
  sum(auth_expedited_n) AS auth_expedited_n,
  sum(auth_expedited_seconds) AS auth_expedited_seconds,
  sum(claims) AS claims, sum(filing_missed) AS filing_missed, sum(grievances) AS grievances,
  sum(grievances_substantiated) AS grievances_substantiated,
  quantile_cont(ack_seconds, 0.5) AS ack_p50, quantile_cont(ack_seconds, 0.9) AS ack_p90,
  quantile_cont(start_seconds, 0.5) AS start_p50,
  quantile_cont(start_seconds, 0.9) AS start_p90
FROM facts WHERE received_month = $month GROUP BY payer_id ORDER BY payer_id
"""


def month_bounds() -> tuple[datetime, datetime]:
    first = datetime(MONTH.year, MONTH.month, 1, tzinfo=TZ)
    after = datetime(MONTH.year, MONTH.month + 1, 1, tzinfo=TZ)
    return first.astimezone(UTC), after.astimezone(UTC)


def pg_pack(database: Database) -> dict[int, rules.Figures]:
    with database.unit_of_work() as session:
        pack = report_service.kpi_pack(
            session,
            MANAGER,
            grain="month",
            start=MONTH,
            end=MONTH,
            dimension="payer",
            clock=FixedClock(NOW),
            zone=ZONE,
            with_contacts=False,
        )
    return {int(row.key): row.figures for row in pack.rows}


def pg_open(database: Database) -> list[list[Any]]:
    with database.unit_of_work() as session:
        made = reconciliation.open_referrals(session, NOW, ZONE)
    return made.sections[1].rows


def _figures(cursor: duckdb.DuckDBPyConnection) -> dict[int, rules.Figures]:
    names = [d[0] for d in cursor.description or []]
    out = {}
    for row in cursor.fetchall():
        values = dict(zip(names, row, strict=True))
        out[int(row[0])] = rules.Figures(rules.counters_from(values), rules.spread_from(values))
    return out


def duck_pack(duck: duckdb.DuckDBPyConnection) -> dict[int, rules.Figures]:
    a, b = month_bounds()
    params = {
        "a": a,
        "b": b,
        "now": NOW,
        "cut": NOW - rules.ACK_WITHIN,
        "filing": FILING_MISSED_REASON,
    }
    return _figures(duck.execute(DUCK_CASES, params))


def duck_open(duck: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return duck.execute(DUCK_OPEN).fetchall()


def duck_facts(duck: duckdb.DuckDBPyConnection) -> dict[int, rules.Figures]:
    params = {"cut": NOW - rules.ACK_WITHIN, "month": MONTH, "now": NOW}
    return _figures(duck.execute(DUCK_FACTS, params))


def compare(pg: dict[int, rules.Figures], duck: dict[int, rules.Figures]) -> None:
    """The same sums, medians and 90th percentiles, payer by payer."""
    if pg.keys() != duck.keys():
        raise BenchError(f"payers differ: PostgreSQL {sorted(pg)}, DuckDB {sorted(duck)}")
    for payer, figures in pg.items():
        for part in ("counters", "spread"):
            ours, theirs = getattr(figures, part), getattr(duck[payer], part)
            for f in fields(ours):
                x, y = getattr(ours, f.name), getattr(theirs, f.name)
                same = x is y if x is None or y is None else abs(x - y) <= 1e-6 * max(1.0, abs(x))
                if not same:
                    raise BenchError(f"payer {payer}: {f.name} is {x} in PostgreSQL, {y} in DuckDB")


def measure(
    args: argparse.Namespace, database: Database, duck: duckdb.DuckDBPyConnection
) -> dict[str, list[float]]:
    work: dict[str, Callable[[], Any]] = {
        "PostgreSQL: monthly KPI pack (report domain)": lambda: pg_pack(database),
        "DuckDB: monthly KPI pack from the raw events": lambda: duck_pack(duck),
        "DuckDB: monthly KPI pack over the exported facts": lambda: duck_facts(duck),
        "PostgreSQL: open-referral report (report domain)": lambda: pg_open(database),
        "DuckDB: open referrals from the raw events": lambda: duck_open(duck),
    }
    times: dict[str, list[float]] = {label: [] for label in work}
    for _ in range(args.repeat):
        for label, call in work.items():
            started = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - started)
    return times


def run(args: argparse.Namespace) -> int:
    admin = admin_url()
    url = with_database(admin, args.db_name)
    say(f"recreating {args.db_name} and migrating ...")
    recreate_database(admin, args.db_name)
    upgrade_database(sqlalchemy_url(url))
    say(f"generating {args.referrals:,} referrals with their timelines in SQL ...")
    started = time.perf_counter()
    load(url, args.referrals)
    load_seconds = time.perf_counter() - started
    database = Database.from_url(sqlalchemy_url(url))
    check_facts(database, args.check, args.referrals)
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM referral_events").fetchone()
        open_count = conn.execute("SELECT count(*) FROM report_case_facts WHERE is_open").fetchone()
    facts = server_facts(url, args.db_name)
    say("exporting the rows to DuckDB ...")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        duck = export(url, Path(tmp))
        export_seconds = time.perf_counter() - started
    say("comparing the figures ...")
    pg, dk = pg_pack(database), duck_pack(duck)
    compare(pg, dk)
    compare(pg, duck_facts(duck))
    opened, dk_open = pg_open(database), duck_open(duck)
    if sorted(r[2] for r in opened) != sorted(r[2] for r in dk_open):
        raise BenchError("the open cases differ between PostgreSQL and DuckDB")
    say(f"  same pack ({len(pg)} payers) and same {len(opened):,} open cases")
    load1 = os.getloadavg()[0]
    quiet = background_load()
    say(f"measuring ({args.repeat} rounds) ...")
    times = measure(args, database, duck)
    database.engine.dispose()
    print()
    print(
        f"reports over {args.referrals:,} referrals, {events[0] if events else 0:,} timeline "
        f"events, {open_count[0] if open_count else 0:,} open "
        f"(PostgreSQL {facts['server_version']}, "
        f"shared_buffers {facts['shared_buffers']}, database {facts['database_size']}; "
        f"DuckDB {duckdb.__version__}, {os.cpu_count()} cores)"
    )
    print(f"  generated in {load_seconds:.0f} s; exported to DuckDB in {export_seconds:.0f} s")
    print(f"  machine before measuring: {quiet:.0f} % of all cores busy, load average {load1:.2f}")
    print()
    print(f"  {'':52} {'median':>9}  (of {args.repeat})")
    for label, samples in times.items():
        print(f"  {label:52} {median(samples) * 1000:7.0f}ms")
    pack_ratio = median(times["PostgreSQL: monthly KPI pack (report domain)"]) / median(
        times["DuckDB: monthly KPI pack from the raw events"]
    )
    open_ratio = median(times["PostgreSQL: open-referral report (report domain)"]) / median(
        times["DuckDB: open referrals from the raw events"]
    )
    status = 0
    for name, ratio in (("monthly KPI pack", pack_ratio), ("open-referral report", open_ratio)):
        ok = ratio <= 1.0
        status |= not ok
        print(
            f"  {name}: PostgreSQL at {ratio:.2f}x DuckDB's time: "
            f"{'PASS' if ok else 'FAIL'} (target at most 1x)"
        )
    if not args.keep_db:
        drop_database(admin, args.db_name)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--referrals", type=int, default=DEFAULT_REFERRALS)
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each measurement")
    parser.add_argument("--check", type=int, default=2000, help="cases folded again to check")
    parser.add_argument("--db-name", default=DB_NAME, help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")
    return run(parser.parse_args())


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
