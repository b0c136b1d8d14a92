"""Portal page latency: the case page of a case with 300 timeline events and the staff
work queue page, through a real server with a signed-in session cookie, over the work
queue bench's data, next to same-run baselines.

    .venv/bin/python bench/pages.py                       # 2,000,000 referrals
    .venv/bin/python bench/pages.py --referrals 200000    # quicker

What runs:

* the work-queue bench's database and loader (``bench/workqueue.py``): a dedicated
  database ``careloop_bench_pages``, dropped, recreated and migrated; a case manager made
  with the CLI; ``--referrals`` synthetic referrals with their clocks loaded with COPY,
  indexes rebuilt, VACUUM (ANALYZE);
* the case manager gets a portal password and an enrolled TOTP secret through the
  identity service (no demo setting), and signs in through the portal's own forms
  (password, then the current TOTP code) like a person: the bench holds the session
  cookie it was given. Each page request then checks the session (and touches its idle
  time), checks the role, reads through the services, audits the reads, commits, renders;
* one case submitted through the API (``POST /api/v1/referrals``, the tests' valid
  body) and given 300 timeline events (INSERT), so the case page draws a long history;
* baselines in the same run: a ``/healthz`` round trip on the same keep-alive connection
  (HTTP, the middleware and a ``SELECT 1``), and the bare SQL of each page's main
  statement (the timeline of the case; the next 50 open clocks of the intake team);
* the staff dashboard's snapshot computed once, as the worker's pass does every few
  minutes (its time is printed: it reads every referral of the last eight weeks);
* ``GET /cases/{case}`` and ``GET /staff`` (the queue with its filters and the KPI charts),
  alternating in ``--rounds`` blocks with the baselines; median and p99 of each.

Target (portal issue): median under 50 ms for each page.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg

from _common import (
    HOST,
    PRODUCTION,
    BenchError,
    Server,
    admin_url,
    drop_database,
    free_port,
    machine_cpu,
    median,
    percentile,
    recreate_database,
    run_main,
    say,
    sqlalchemy_url,
    with_database,
)
from careloop.core.clock import SystemClock
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.secrets import totp_code
from careloop.report import service as report_service
from careloop.settings import Settings
from intake import load_factory
from workqueue import BARE_SQL, MANAGER_EMAIL, load, make_case_manager

DB_NAME = "careloop_bench_pages"
DEFAULT_REFERRALS = 2_000_000
EVENTS = 300
TARGET_MEDIAN_MS = 50.0
PASSWORD = "bench pages password 2026"  # noqa: S105 - the synthetic bench account
SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"  # noqa: S105 - its TOTP secret
_CSRF = re.compile(r'name="(?:csrf_token|signin_token)" value="([^"]+)"')
TIMELINE_SQL = (
    "SELECT id, at, type, actor_label, channel, data FROM referral_events "
    "WHERE referral_id = %s ORDER BY at, id"
)


# ---- the browser ------------------------------------------------------------------------


class Browser:
    """One keep-alive connection that keeps the cookies it is given, as a browser does."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def call(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        for value in response.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, dict(response.headers), data

    def close(self) -> None:
        self.conn.close()


def csrf_in(html: bytes) -> str:
    found = _CSRF.search(html.decode())
    if not found:
        raise BenchError("no CSRF token on the sign-in page")
    return found.group(1)


def sign_in(browser: Browser) -> None:
    """Password, then the TOTP code, through the portal's forms."""
    status, _, page = browser.call("GET", "/signin")
    form = {"email": MANAGER_EMAIL, "password": PASSWORD, "next": "/"}
    status, headers, body = browser.call("POST", "/signin", {**form, "csrf_token": csrf_in(page)})
    if status != 303 or not headers.get("location", "").startswith("/signin/totp"):
        raise BenchError(f"password step answered {status}: {body[:300]!r}")
    status, _, page = browser.call("GET", "/signin/totp")
    code = totp_code(SECRET, datetime.now(UTC))
    status, _, body = browser.call(
        "POST", "/signin/totp", {"code": code, "csrf_token": csrf_in(page), "next": "/"}
    )
    if status != 303:
        raise BenchError(f"TOTP step answered {status}: {body[:300]!r}")


# ---- the data ---------------------------------------------------------------------------


def portal_access(url: str) -> None:
    """The bench case manager's password and authenticator, through the service."""
    database = Database.from_url(sqlalchemy_url(url))
    try:
        with database.unit_of_work() as session:
            identity_service.set_password(session, MANAGER_EMAIL, PASSWORD)
            identity_service.enrol_totp(session, MANAGER_EMAIL, secret=SECRET, clock=SystemClock())
    finally:
        database.engine.dispose()


def dashboard_snapshot(url: str) -> float:
    """The staff dashboard's figures as the worker's pass computes them every few minutes
    (the page reads this snapshot); returns the seconds it took."""
    database = Database.from_url(sqlalchemy_url(url))
    try:
        started = time.perf_counter()
        with database.unit_of_work() as session:
            report_service.refresh_dashboard(
                session, clock=SystemClock(), zone=Settings().display_time_zone, force=True
            )
        return time.perf_counter() - started
    finally:
        database.engine.dispose()


def long_case(port: int, token: str, url: str) -> tuple[str, int]:
    """A case submitted through the API, then given ``EVENTS`` timeline events."""
    payload: dict[str, Any] = load_factory().referral_payload(datetime.now(UTC))
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request(
        "POST",
        "/api/v1/referrals",
        body=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    response = conn.getresponse()
    answer = response.read()
    conn.close()
    if response.status != 201:
        raise BenchError(f"the case was refused: {response.status} {answer[:300]!r}")
    case_number = str(json.loads(answer)["case_number"])
    now = datetime.now(UTC)
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT id FROM referrals WHERE case_number = %s", (case_number,)
        ).fetchone()
        if row is None:
            raise BenchError(f"{case_number} is not in the database")
        referral_id = int(row[0])
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO referral_events (referral_id, at, type, actor_label, channel, data) "
                "VALUES (%s, %s, 'referral.note_added', 'Bench Manager', 'phone', %s)",
                [
                    (referral_id, now + timedelta(seconds=i), json.dumps({"note": f"call {i}"}))
                    for i in range(EVENTS)
                ],
            )
        db.execute("ANALYZE referral_events")
    return case_number, referral_id


# ---- measuring ----------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    samples_ms: list[float]

    @property
    def median(self) -> float:
        return median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)


def timed_get(browser: Browser, path: str, expect: bytes) -> float:
    begin = time.perf_counter_ns()
    status, _, body = browser.call("GET", path)
    elapsed = (time.perf_counter_ns() - begin) / 1e6
    if status != 200 or expect not in body:
        raise BenchError(f"GET {path} answered {status}: {body[:300]!r}")
    return elapsed


def timed_sql(db: psycopg.Connection[Any], statement: str, parameters: tuple[Any, ...]) -> float:
    begin = time.perf_counter_ns()
    db.execute(statement, parameters, prepare=True).fetchall()
    return (time.perf_counter_ns() - begin) / 1e6


def measure(
    browser: Browser, url: str, case_number: str, referral_id: int, requests: int, rounds: int
) -> tuple[list[Series], float, float]:
    case_path = f"/cases/{case_number}"
    lines: dict[str, list[float]] = {
        "healthz": [],
        "sql_timeline": [],
        "sql_queue": [],
        "case": [],
        "queue": [],
    }
    per_round = max(1, requests // rounds)
    with psycopg.connect(url, autocommit=True) as db:
        for _ in range(20):  # warm-up: templates, prepared statements, caches
            timed_get(browser, case_path, b"call 299")
            timed_get(browser, "/staff", b"Work queue")
            timed_sql(db, TIMELINE_SQL, (referral_id,))
            timed_sql(db, BARE_SQL, ("intake",))
        busy0, total0 = machine_cpu()
        for r in range(rounds):
            for _ in range(per_round):
                lines["healthz"].append(timed_get(browser, "/healthz", b"ok"))
                lines["sql_timeline"].append(timed_sql(db, TIMELINE_SQL, (referral_id,)))
                lines["sql_queue"].append(timed_sql(db, BARE_SQL, ("intake",)))
                lines["case"].append(timed_get(browser, case_path, b"call 299"))
                lines["queue"].append(timed_get(browser, "/staff", b"Work queue"))
            say(f"  round {r + 1}/{rounds} done")
        busy1, total1 = machine_cpu()
    busy = 100 * (busy1 - busy0) / max(total1 - total0, 1)
    labels = {
        "healthz": "baseline: GET /healthz round trip",
        "sql_timeline": f"baseline: bare SQL, the case's {EVENTS} events",
        "sql_queue": "baseline: bare SQL, next 50 open clocks",
        "case": f"page: case with {EVENTS} timeline events",
        "queue": "page: staff work queue (/staff)",
    }
    return [Series(labels[k], v) for k, v in lines.items()], busy, os.getloadavg()[0]


def report(referrals: int, series: list[Series], busy: float, load1: float) -> int:
    print()
    print(f"portal pages over {referrals:,} referrals (work-queue bench data), one signed-in")
    print("session, one keep-alive connection; figures are client round trips on 127.0.0.1")
    print()
    print(f"  {'':46} {'median':>9} {'p99':>9}  target")
    failed = 0
    for s in series:
        target = ""
        if s.label.startswith("page:"):
            ok = s.median < TARGET_MEDIAN_MS
            failed += not ok
            target = f"{'PASS' if ok else 'FAIL'} (median < {TARGET_MEDIAN_MS:g} ms)"
        print(f"  {s.label:46} {s.median:7.2f}ms {s.p99:7.2f}ms  {target}")
    print(f"  ({len(series[0].samples_ms)} requests per line)")
    print(
        f"  machine busy during the measurement: {busy:.0f} % of {os.cpu_count()} cores; "
        f"load average {load1:.2f}"
    )
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    admin = admin_url()
    url = with_database(admin, DB_NAME)
    say(f"recreating {DB_NAME} and migrating ...")
    recreate_database(admin, DB_NAME)
    upgrade_database(sqlalchemy_url(url))
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": sqlalchemy_url(url),
        **PRODUCTION,
        "CARELOOP_LOG_LEVEL": "WARNING",
        "CARELOOP_LOG_FORMAT": "json",
    }
    env.pop("CARELOOP_DEMO_SKIP_TOTP", None)
    token = make_case_manager(env)
    portal_access(url)
    say(f"loading {args.referrals:,} referrals and their clocks with COPY ...")
    load(url, args.referrals, datetime.now(UTC), manager_id=1)
    seconds = dashboard_snapshot(url)
    say(f"the worker's dashboard snapshot (weekly KPI rates) took {seconds:.2f} s to compute")
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(env, free_port(), Path(tmp) / "server.log")
        browser: Browser | None = None
        try:
            server.start()
            server.wait_ready()
            case_number, referral_id = long_case(server.port, token, url)
            browser = Browser(server.port)
            sign_in(browser)
            say(f"signed in; measuring {case_number} and the work queue ...")
            series, busy, load1 = measure(
                browser, url, case_number, referral_id, args.requests, args.rounds
            )
        finally:
            if browser is not None:
                browser.close()
            server.stop()
    status = report(args.referrals, series, busy, load1)
    if not args.keep:
        drop_database(admin, DB_NAME)
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else "")
    parser.add_argument("--referrals", type=int, default=DEFAULT_REFERRALS)
    parser.add_argument("--requests", type=int, default=500, help="per measured line")
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return run(parser.parse_args())


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")
