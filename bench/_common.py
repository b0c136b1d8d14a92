"""What the bench scripts share: messages, statistics, the bench database and synthetic
referral rows, the careloop CLI and server, and how busy the machine is (from /proc). Each
script imports it by name; Python puts the script's folder (bench/) first on the path."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CARELOOP = Path(sys.executable).parent / "careloop"
HOST = "127.0.0.1"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench cannot measure: a tool is missing, or the server or database failed."""


# ---- small utilities ----------------------------------------------------------------------


def say(message: str) -> None:
    """Progress goes to stderr; the figures alone go to stdout."""
    print(message, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 samples is the 990th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def raise_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """A SIGTERM unwinds like an exception, so servers and databases are cleaned up."""
    raise SystemExit(128 + signum)


def run_main(main: Callable[[], int | None], *, interrupted: str) -> NoReturn:
    """Run a bench's ``main``: exit 2 with the reason when it cannot measure, 130 on Ctrl-C;
    a SIGTERM unwinds it too, so that its servers and databases are cleaned up."""
    signal.signal(signal.SIGTERM, raise_on_sigterm)
    try:
        sys.exit(main())
    except BenchError as exc:
        say(f"bench failed: {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        say(interrupted)
        sys.exit(130)


# ---- the bench database -------------------------------------------------------------------


def admin_url() -> str:
    """The PostgreSQL server the benches use (CARELOOP_BENCH_POSTGRES_URL)."""
    return os.environ.get("CARELOOP_BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy's psycopg 3 dialect."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else url


def recreate_database(admin: str, name: str) -> None:
    try:
        conn = psycopg.connect(admin, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"cannot reach PostgreSQL at {admin} (set CARELOOP_BENCH_POSTGRES_URL): {exc}"
        ) from None
    with conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def analyze_as_in_service(url: str) -> None:
    """VACUUM ANALYZE the database after a warm-up. A database in service has its
    statistics (autovacuum analyzes tables as they grow); a bench's starts empty, and the
    plans its connections cached then, for tables of no rows, would otherwise last until
    autovacuum came by, mid-run or not."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def server_facts(url: str, name: str) -> dict[str, str]:
    """The PostgreSQL settings that move the figures, and the database's size."""
    with psycopg.connect(url) as conn:
        facts = {}
        for setting in ("server_version", "shared_buffers", "synchronous_commit"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
            facts[setting] = str(row[0]) if row else "?"
        row = conn.execute("SELECT pg_size_pretty(pg_database_size(%s))", (name,)).fetchone()
        facts["database_size"] = str(row[0]) if row else "?"
    return facts


#: The referral columns a bench loads with COPY (the NOT NULL ones and a few more).
REFERRAL_COPY_COLUMNS = (
    "id",
    "case_number",
    "channel",
    "urgency",
    "status",
    "version",
    "member_first_name",
    "member_last_name",
    "member_birth_date",
    "duplicate_key",
    "address_zip",
    "access_barriers",
    "diagnoses",
    "service_class",
    "time_zone",
    "findings",
    "escalated",
    "ack_due_at",
    "service_due_at",
    "received_at",
    "updated_at",
)


#: Synthetic members and services (no real person's data).
FIRST_NAMES = ("Dorothy", "Walter", "Agnes", "Harold", "Mildred", "Eugene", "Florence", "Irving")
LAST_NAMES = ("Hale", "Okafor", "Nguyen", "Russo", "Kowalski", "Baptiste", "Lindqvist", "Moreau")
SERVICE_CLASSES = ("home_health", "standard_dme", "complex_dme", "infusion")


def copy_time(value: datetime) -> str:
    """An instant in COPY text format."""
    return value.isoformat(sep=" ")


def referral_copy_fields(
    i: int, *, status: str, received: datetime, channel: str = "fax", urgency: str = "routine"
) -> list[str]:
    """The values of REFERRAL_COPY_COLUMNS (COPY text) of the i-th synthetic referral
    (id i + 1): acknowledgement due a day after receipt, service three days after."""
    ref_id = i + 1
    return [
        str(ref_id),
        f"CL-{received.year}-{ref_id:07d}",
        channel,
        urgency,
        status,
        "1",
        FIRST_NAMES[i % 8],
        f"{LAST_NAMES[(i // 8) % 8]}{i % 997}",
        f"19{30 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        f"{ref_id:032x}",
        f"06{i % 1000:03d}",
        "[]",
        '["J44.1"]',
        SERVICE_CLASSES[i % 4],
        "America/New_York",
        "[]",
        "f",
        copy_time(received + timedelta(days=1)),
        copy_time(received + timedelta(days=3)),
        copy_time(received),
        copy_time(received),
    ]


#: Production as the benches serve it. Production refuses the demo's synthetic billing
#: identity (claims and X12 would carry it to payers), so the benches give their own:
#: synthetic too, with valid check digits.
PRODUCTION = {
    "CARELOOP_ENVIRONMENT": "production",
    "CARELOOP_BILLING_NPI": "1900010004",
    "CARELOOP_BILLING_TAX_ID": "900000001",
    "CARELOOP_CLEARINGHOUSE_NPI": "1900010012",
}


def add_database_options(parser: argparse.ArgumentParser, default_name: str) -> None:
    """--postgres-url, --db-name and --keep-db, as every bench spells them."""
    parser.add_argument(
        "--postgres-url",
        default=admin_url(),
        help="a database URL on the server to use (env CARELOOP_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--db-name", default=default_name, help="dropped and recreated")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database")


def careloop_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(CARELOOP), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"careloop {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


# ---- CPU accounting from /proc ------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def proc_entries() -> Iterator[tuple[int, str, int, float]]:
    """(pid, command name, parent pid, CPU seconds) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat.rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        yield int(entry.name), name, int(fields[1]), cpu


def descendants_of_me(entries: Iterable[tuple[int, str, int, float]]) -> set[int]:
    """The pids of this process and everything it started (from ``proc_entries``)."""
    rows = list(entries)
    parent = {pid: ppid for pid, _, ppid, _ in rows}
    me = os.getpid()

    def ours(pid: int) -> bool:
        for _ in range(64):
            if pid == me:
                return True
            if pid <= 1:
                return False
            pid = parent.get(pid, 0)
        return False

    return {pid for pid, _, _, _ in rows if ours(pid)}


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def background_load(seconds: float = 1.0) -> float:
    """Percentage of all cores busy while the bench does nothing."""
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    return 100 * (busy1 - busy0) / max(total1 - total0, 1e-9)


def wait_for_quiet(limit_pct: float, max_wait: float) -> float:
    """Wait (up to ``max_wait`` s) until other work on the machine uses less than
    ``limit_pct`` % of all cores; return the last background load seen."""
    deadline = time.monotonic() + max_wait
    load = background_load()
    announced = False
    while load >= limit_pct and time.monotonic() < deadline:
        if not announced:
            say(f"  machine busy ({load:.0f} % of all cores): waiting up to {max_wait:.0f} s ...")
            announced = True
        load = background_load(2.0)
    return load


# ---- the server ---------------------------------------------------------------------------


class Server:
    """``careloop serve`` (``workers`` processes) in its own process group, stopped on exit."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, *, workers: int = 1) -> None:
        self.env = env
        self.port = port
        self.log_path = log_path
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(CARELOOP), "serve", "--host", HOST, "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"the server exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200 and (
                    self.workers == 1 or len(self.worker_pids()) == self.workers
                ):
                    return
            time.sleep(0.2)
        raise BenchError(f"the server did not answer /healthz in {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        """The server's worker processes (children of the master but its resource tracker)."""
        if self.process is None:
            return []
        master = self.process.pid
        pids = []
        for pid, _, ppid, _ in proc_entries():
            if ppid != master:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        return sorted(pids)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
