"""Intake throughput: referrals accepted per second through the HTTP API, next to the raw
rate of the same PostgreSQL measured in the same run, with p50/p99 latency, and the time
to check one referral with no I/O.

    make bench                       # or: .venv/bin/python bench/intake.py
    .venv/bin/python bench/intake.py --quick
    .venv/bin/python bench/intake.py --profile var/profile   # + py-spy of the workers
                                     # (API load there, FHIR load in var/profile/fhir)

What runs (DESIGN.md §7: figures are ratios against the machine's own limit):

* raw: ``pgbench`` with 8 clients, each transaction one referral-sized row (~40 columns,
  ~1.5 kB) plus one audit row into scratch tables (bench/pgbench_schema.sql and
  bench/pgbench_referral.sql), durable commits;
* API: ``careloop serve --workers 2`` on a fresh database (CARELOOP_BENCH_POSTGRES_URL names
  the server, default postgresql://postgres@127.0.0.1:5432/postgres; the bench drops and
  recreates ``careloop_bench`` there), 16 keep-alive clients POSTing one referral each per
  request, every one a new member, with ``wrk`` (bench/intake_load.lua) or, when wrk is
  missing, the lean asyncio client bench/loadgen.py;
* FHIR: the same load POSTing the tests' referral transaction Bundle (Patient, Coverage,
  Practitioner, Conditions, a ServiceRequest and a DeviceRequest) to ``/fhir``, one new
  member per request; its cost is the JSON path's rate over the FHIR path's (target: at
  most 1.5x), with the server CPU per referral of each beside it;
* the raw, API and FHIR runs alternate, so a change of background load touches all; figures
  are medians over the runs, and the ratios are medians of the per-run ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

import psycopg
from psycopg import sql

from _common import (
    BENCH,
    HOST,
    PRODUCTION,
    REPO,
    BenchError,
    Server,
    add_database_options,
    analyze_as_in_service,
    careloop_cli,
    descendants_of_me,
    drop_database,
    free_port,
    machine_cpu,
    median,
    proc_entries,
    process_cpu_seconds,
    recreate_database,
    run_main,
    say,
    wait_for_quiet,
    with_database,
)
from careloop.payer.rules import DEFAULT_PAYER_RULES
from careloop.referral import rules
from careloop.referral.schemas import ReferralCreate
from careloop.web.body import parse_model

SERVER_WORKERS = 2
CONCURRENCY = 16
PGBENCH_CLIENTS = 8
DEFAULT_DB_NAME = "careloop_bench"

# Targets: the first intake-throughput issue's rate, then the fast-path issue's ratio to
# raw PostgreSQL, p99 at 16 clients and server CPU per accepted referral.
TARGET_RATE = 500.0  # referrals/s
TARGET_RATIO = 0.20  # of the raw PostgreSQL rate
TARGET_P99_MS = 50.0
TARGET_CPU_MS = 1.5  # server CPU per accepted referral
TARGET_CHECK_US = 100.0
TARGET_FHIR_COST = 1.5  # the FHIR path's cost per referral, as a multiple of the JSON path's

# Other work above this share of all cores makes the figures unreliable: wait, then warn.
QUIET_PCT = 15.0


# ---- small utilities ----------------------------------------------------------------------


def as_letters(n: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    while True:
        n, r = divmod(n, 26)
        out.append(letters[r])
        if n == 0:
            return "".join(out)


def load_factory(name: str = "referral") -> ModuleType:
    """tests/factories/<name>.py, by path: the valid body the tests use."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))  # the FHIR factory imports the referral one
    path = REPO / "tests" / "factories" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"careloop_bench_{name}_factory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- CPU accounting from /proc ------------------------------------------------------------


#: The database the bench measures; PostgreSQL's processes serving another database are
#: other work on the machine (set by ``run``).
BENCH_DATABASE = [DEFAULT_DB_NAME]


def database_of(pid: int) -> str | None:
    """The database a PostgreSQL process serves, from its title ("postgres: 15/main:
    user db host(port) state", "... autovacuum worker db"); None for the server's own
    processes (WAL writer, checkpointer, ...), which serve every database."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    words = title.split(": ", 2)[-1].split()
    if words[:2] == ["autovacuum", "worker"]:
        return words[2] if len(words) > 2 else None
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return None


def _ours(name: str, pid: int) -> bool:
    """A process of PostgreSQL that works for the bench's database (or for all)."""
    return name == "postgres" and database_of(pid) in (None, BENCH_DATABASE[0])


def foreign_cpu_seconds() -> dict[int, float]:
    """CPU seconds of every process that is neither this bench's PostgreSQL work nor
    started by this bench (the other work on a shared machine, other databases' queries
    included), by pid."""
    entries = list(proc_entries())
    ours = descendants_of_me(entries)
    return {
        pid: cpu
        for pid, name, ppid, cpu in entries
        if not _ours(name, pid) and pid != 2 and ppid != 2 and pid not in ours  # 2: kthreadd
    }


def postgres_cpu_seconds() -> float:
    """CPU seconds of PostgreSQL's processes for the bench's database, and of its own."""
    return sum(cpu for pid, name, _, cpu in proc_entries() if _ours(name, pid))


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuWindow:
    """CPU used during a window: the machine, the server workers, the client, postgres."""

    workers: list[int]
    started: float = 0.0
    machine_busy0: float = 0.0
    workers0: list[float] = field(default_factory=list)
    children0: float = 0.0
    postgres0: float = 0.0
    foreign0: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0
    machine_busy: float = 0.0
    worker_cpu: list[float] = field(default_factory=list)
    client_cpu: float = 0.0
    postgres_cpu: float = 0.0
    other_cpu: float = 0.0

    def __enter__(self) -> CpuWindow:
        self.started = time.perf_counter()
        self.machine_busy0 = machine_cpu()[0]
        self.workers0 = [process_cpu_seconds(pid) for pid in self.workers]
        self.children0 = children_cpu_seconds()
        self.postgres0 = postgres_cpu_seconds()
        self.foreign0 = foreign_cpu_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.machine_busy = machine_cpu()[0] - self.machine_busy0
        self.worker_cpu = [
            process_cpu_seconds(pid) - before
            for pid, before in zip(self.workers, self.workers0, strict=True)
        ]
        self.client_cpu = children_cpu_seconds() - self.children0
        self.postgres_cpu = postgres_cpu_seconds() - self.postgres0
        foreign = foreign_cpu_seconds()
        self.other_cpu = sum(
            foreign[pid] - before for pid, before in self.foreign0.items() if pid in foreign
        )

    def share(self, cpu_seconds: float) -> float:
        """CPU seconds as a percentage of one core over the window."""
        return 100 * cpu_seconds / self.seconds if self.seconds else 0.0


# ---- the database -------------------------------------------------------------------------


def prepare_app_database(env: dict[str, str]) -> str:
    """Migrate, register the payer and an intake agent; return the agent's token."""
    careloop_cli(env, "db", "upgrade")
    careloop_cli(env, "payer", "add", "NEHP", "New England Health Plan")
    careloop_cli(env, "user", "add", "bench@example.test", "--role", "intake_agent")
    return careloop_cli(env, "token", "issue", "bench@example.test").strip().splitlines()[-1]


def create_scratch_tables(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute((BENCH / "pgbench_schema.sql").read_text())


def stored_counts(url: str) -> tuple[int, int]:
    """(referrals, their creation audit records) in the bench database."""
    with psycopg.connect(url) as conn:
        referrals = conn.execute("SELECT count(*) FROM referrals").fetchone()
        audits = conn.execute(
            "SELECT count(*) FROM audit_records WHERE action = 'referral.create'"
        ).fetchone()
    assert referrals is not None and audits is not None
    return int(referrals[0]), int(audits[0])


def commits(url: str) -> int:
    """The next transaction id of the server (taking none): over a run, the write
    transactions begun, that is the intake groups stored, so referrals per commit is the
    group size the load produced (a rare other writer, such as autovacuum's analyze,
    counts too)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
    return int(row[0]) if row else 0


def server_facts(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        facts = {}
        for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers"):
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            facts[name] = str(row[0]) if row else "?"
        row = conn.execute("SELECT avg(pg_column_size(r.*))::int FROM referrals r").fetchone()
        facts["referral_row_bytes"] = str(row[0]) if row and row[0] else "?"
        row = conn.execute(
            "SELECT avg(pg_column_size(r.*))::int FROM bench_raw_referrals r"
        ).fetchone()
        facts["raw_row_bytes"] = str(row[0]) if row and row[0] else "?"
    return facts


# ---- the raw baseline: pgbench ------------------------------------------------------------


@dataclass
class PgbenchResult:
    tps: float
    latency_ms: float
    busy_pct: float
    other_pct: float = 0.0
    background_pct: float = 0.0


def run_pgbench(url: str, seconds: int) -> PgbenchResult:
    command = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={PGBENCH_CLIENTS}",
        "--jobs=2",
        f"--time={seconds}",
        f"--file={BENCH / 'pgbench_referral.sql'}",
        url,
    ]
    busy0, total0 = machine_cpu()
    with CpuWindow([]) as cpu:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
    busy1, total1 = machine_cpu()
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", done.stdout, re.MULTILINE)
    if done.returncode != 0 or tps is None:
        raise BenchError(f"pgbench failed:\n{done.stdout}{done.stderr}")
    return PgbenchResult(
        tps=float(tps.group(1)),
        latency_ms=float(latency.group(1)) if latency else float("nan"),
        busy_pct=100 * (busy1 - busy0) / max(total1 - total0, 1e-9),
        other_pct=cpu.share(cpu.other_cpu),
    )


# ---- the API server -----------------------------------------------------------------------


# ---- the load ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    completed: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    stored: int = 0
    commits: int = 0
    background_pct: float = 0.0
    cpu: CpuWindow | None = None
    connections: list[int] = field(default_factory=list)

    @property
    def other_pct(self) -> float:
        return self.cpu.share(self.cpu.other_cpu) if self.cpu else 0.0

    @property
    def accepted(self) -> int:
        return self.completed - self.non_2xx

    @property
    def rate(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    @property
    def per_commit(self) -> float:
        """Referrals stored per write transaction: the intake groups' mean size."""
        return self.stored / self.commits if self.commits else 0.0


@dataclass
class LoadSetup:
    client: str  # "wrk" or "python"
    port: int
    token: str
    template: Path
    path: str = "/api/v1/referrals"
    content_type: str = "application/json"
    created: int = 201  # the status of a stored referral


def load_command(setup: LoadSetup, seconds: float, tag: str) -> list[str]:
    if setup.client == "wrk":
        return [
            "wrk",
            "--threads=1",
            f"--connections={CONCURRENCY}",
            f"--duration={max(1, round(seconds))}s",
            "--timeout=10s",
            f"--script={BENCH / 'intake_load.lua'}",
            f"http://{HOST}:{setup.port}",
            "--",
            str(setup.template),
            setup.token,
            tag,
            setup.path,
            setup.content_type,
        ]
    return [
        sys.executable,
        str(BENCH / "loadgen.py"),
        f"--port={setup.port}",
        f"--token={setup.token}",
        f"--template={setup.template}",
        f"--tag={tag}",
        f"--duration={seconds}",
        f"--concurrency={CONCURRENCY}",
        f"--path={setup.path}",
        f"--content-type={setup.content_type}",
    ]


def connections_per_worker(port: int, workers: list[int]) -> list[int]:
    """Established client connections on ``port`` held by each worker (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    counts = []
    for pid in workers:
        count = 0
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        count += 1
        counts.append(count)
    return counts


def run_load(setup: LoadSetup, seconds: float, tag: str, workers: list[int]) -> LoadResult:
    command = load_command(setup, seconds, tag)
    with CpuWindow(workers) as cpu:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            spread: list[int] = []
            for _ in range(3):  # a few looks: the table is read while it changes
                time.sleep(min(1.0, seconds / 4))
                spread = max(spread, connections_per_worker(setup.port, workers), key=sum)
            stdout, stderr = process.communicate(timeout=seconds + 60)
        except BaseException:
            process.kill()
            process.wait()
            raise
    found = re.search(r"^BENCH_RESULT (\{.*\})$", stdout, re.MULTILINE)
    if process.returncode != 0 or found is None:
        raise BenchError(f"the load generator failed:\n{stdout}{stderr}")
    result = LoadResult(**json.loads(found.group(1)))
    result.cpu = cpu
    result.connections = spread
    return result


def body_template(now: datetime) -> str:
    """The tests' valid referral, with markers for the member's last name and birth date."""
    payload: dict[str, Any] = load_factory().referral_payload(now)
    payload["member"]["last_name"] = "__LAST__"
    payload["member"]["birth_date"] = "__BIRTH__"
    return json.dumps(payload, separators=(",", ":"))


def fhir_template(now: datetime) -> str:
    """The tests' referral transaction Bundle, with the same markers in its Patient."""
    bundle: dict[str, Any] = load_factory("fhir").referral_bundle(now, last_name="__LAST__")
    patient = bundle["entry"][0]["resource"]
    assert patient["resourceType"] == "Patient"
    patient["birthDate"] = "__BIRTH__"
    text = json.dumps(bundle, separators=(",", ":"))
    if not 0 <= text.find("__LAST__") < text.find("__BIRTH__"):
        raise BenchError("the FHIR template needs __LAST__ before __BIRTH__")
    return text


def probe(setup: LoadSetup) -> None:
    """One request before the load: the created status, or stop with what the server said."""
    body = (
        setup.template.read_text().replace("__LAST__", "Probe").replace("__BIRTH__", "1950-06-01")
    )
    conn = http.client.HTTPConnection(HOST, setup.port, timeout=60)
    conn.request(
        "POST",
        setup.path,
        body=body.encode(),
        headers={"Authorization": f"Bearer {setup.token}", "Content-Type": setup.content_type},
    )
    response = conn.getresponse()
    answer = response.read()
    if response.status != setup.created:
        raise BenchError(f"a valid referral got {response.status}: {answer[:500]!r}")


# ---- the check with no I/O ----------------------------------------------------------------


@dataclass
class CheckTimings:
    check_us: float
    pydantic_us: float
    parse_model_us: float


def _time_per_call(call: Callable[[int], object], iterations: int, runs: int) -> float:
    """Median over ``runs`` of the mean time of one call, in microseconds."""
    for i in range(min(iterations, 2000)):  # warm-up: code tables, caches
        call(i)
    results = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        for i in range(iterations):
            call(i)
        results.append((time.perf_counter_ns() - started) / iterations / 1000)
    return median(results)


def time_checks(template: str, now: datetime, iterations: int, runs: int) -> CheckTimings:
    variants = 256
    bodies = [
        template.replace("__LAST__", f"Hale{as_letters(i)}")
        .replace("__BIRTH__", f"{1930 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}")
        .encode()
        for i in range(variants)
    ]
    drafts = [ReferralCreate.model_validate_json(body) for body in bodies]
    facts = rules.PayerFacts(
        named=True, found=True, name="New England Health Plan", rules=DEFAULT_PAYER_RULES
    )

    def check(i: int) -> object:
        draft = drafts[i % variants]
        findings = rules.check_referral(draft, payer=facts, now=now, received_at=now)
        address = draft.member.address
        deadlines = rules.compute_deadlines(
            rules=facts.rules,
            received_at=now,
            now=now,
            items=[(item.code.upper(), item.code_system) for item in draft.items],
            time_zone=rules.member_time_zone(
                draft.member.time_zone, address.zip if address else None
            ),
            discharge_at=draft.discharge_at,
        )
        member = draft.member
        key = rules.duplicate_key(member.first_name, member.last_name, member.birth_date)
        return findings, deadlines, key

    def validate(i: int) -> object:
        return ReferralCreate.model_validate_json(bodies[i % variants])

    def parse(i: int) -> object:
        return parse_model(
            bodies[i % variants], ReferralCreate, content_type="application/json", max_depth=32
        )

    return CheckTimings(
        check_us=_time_per_call(check, iterations, runs),
        pydantic_us=_time_per_call(validate, iterations, runs),
        parse_model_us=_time_per_call(parse, iterations, runs),
    )


# ---- profiling with py-spy (optional) -----------------------------------------------------


def profile_workers(
    setup: LoadSetup, workers: list[int], seconds: float, out_dir: Path
) -> list[Path]:
    """One extra load run with py-spy sampling every worker; return the raw stack files."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        say("--profile: py-spy is not installed (.venv/bin/pip install py-spy); skipped")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = [out_dir / f"worker-{pid}.txt" for pid in workers]
    spies = [
        subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, round(seconds))),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                "--gil",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, output in zip(workers, outputs, strict=True)
    ]
    try:
        result = run_load(setup, seconds, "p", workers)
    finally:
        for spy in spies:
            try:
                spy.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
    say(f"profiled run: {result.rate:,.0f} referrals/s under py-spy (slower than measured)")
    return [path for path in outputs if path.exists()]


_LINE_NUMBER = re.compile(r":\d+\)$")


def read_stacks(paths: list[Path]) -> dict[tuple[str, ...], int]:
    """Samples by stack (root first, line numbers dropped) over py-spy's raw files."""
    stacks: dict[tuple[str, ...], int] = defaultdict(int)
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            frames = [_LINE_NUMBER.sub(")", f) for f in stack.split(";")]
            stacks[tuple(f for f in frames if not f.startswith("process "))] += int(count_text)
    return stacks


def write_flamegraph(paths: list[Path], svg: Path, width: int = 1600, row: int = 16) -> None:
    """A flame graph (SVG, root at the bottom, hover for the share) of the stacks."""
    stacks = read_stacks(paths)
    total = sum(stacks.values())
    if not total:
        return
    tree: dict[str, Any] = {"n": 0, "c": {}}
    for frames, count in stacks.items():
        node = tree
        node["n"] += count
        for frame in frames:
            node = node["c"].setdefault(frame, {"n": 0, "c": {}})
            node["n"] += count
    boxes: list[tuple[int, float, float, str, int]] = []  # depth, x, width, name, samples

    def walk(node: dict[str, Any], depth: int, x: float) -> int:
        deepest = depth
        for name, child in sorted(node["c"].items()):
            w = width * child["n"] / total
            if w >= 0.3:
                boxes.append((depth, x, w, name, child["n"]))
                deepest = max(deepest, walk(child, depth + 1, x))
            x += w
        return deepest

    depth = walk(tree, 0, 0.0) + 1
    height = (depth + 2) * row
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="monospace" font-size="11">',
        f'<text x="4" y="{row - 4}">CareLoop intake under load: {total} samples '
        "(py-spy, --gil), width = share of CPU</text>",
    ]
    for level, x, w, name, count in boxes:
        y = height - (level + 1) * row
        share = 100 * count / total
        hue = 20 + (hash(name.rsplit("(", 1)[-1]) % 40)
        label = escape(name)
        chars = int(w / 7)
        text = label if len(label) <= chars else (label[: chars - 2] + ".." if chars > 3 else "")
        out.append(
            f'<g><title>{label} {share:.1f} %</title><rect x="{x:.1f}" y="{y}" '
            f'width="{max(w - 0.5, 0.1):.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
            f'<text x="{x + 2:.1f}" y="{y + row - 4}">{text}</text></g>'
        )
    out.append("</svg>")
    svg.write_text("\n".join(out) + "\n")


_AREAS = (
    ("sqlalchemy", "SQLAlchemy"),
    ("psycopg", "psycopg (driver)"),
    ("pydantic", "pydantic"),
    ("fastapi", "FastAPI"),
    ("starlette", "Starlette"),
    ("uvicorn", "uvicorn"),
    ("anyio", "anyio (thread hand-off)"),
    ("structlog", "structlog"),
    ("careloop", "CareLoop"),
)


def _area(frame: str) -> str:
    where = "/" + frame.rsplit("(", 1)[-1]
    for needle, name in _AREAS:
        if f"/{needle}/" in where:
            return name
    return "Python and the standard library"


def summarise_profile(paths: list[Path], top: int = 10) -> str:
    """The top functions by CPU (self: samples in the function itself; inclusive: with
    what it calls, CareLoop's own functions), and self CPU by library."""
    stacks = read_stacks(paths)
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    areas: dict[str, int] = defaultdict(int)
    total = 0
    for frames, count in stacks.items():
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
            areas[_area(frames[-1])] += count
    if not total:
        return "no samples"
    lines = [f"py-spy: {total} samples over {len(paths)} worker(s)", ""]
    lines.append(f"top {top} functions by CPU (self):")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f} %  {frame}")
    lines += ["", f"top {top} CareLoop functions by CPU (inclusive):"]
    ours = [(f, c) for f, c in inclusive.items() if "careloop/" in f.rsplit("(", 1)[-1]]
    for frame, count in sorted(ours, key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f} %  {frame}")
    lines += ["", "CPU by library (self):"]
    for name, count in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {100 * count / total:5.1f} %  {name}")
    return "\n".join(lines)


# ---- the report ----------------------------------------------------------------------------


@dataclass
class Report:
    runs: int
    seconds: int
    client: str
    raw: list[PgbenchResult]
    api: list[LoadResult]
    fhir: list[LoadResult]
    checks: CheckTimings
    facts: dict[str, str]
    stored: tuple[int, int]

    def ratios(self) -> list[float]:
        return [a.rate / r.tps for a, r in zip(self.api, self.raw, strict=True) if r.tps]

    def fhir_costs(self) -> list[float]:
        """Per run: the JSON path's rate over the FHIR path's (time per referral, FHIR / JSON)."""
        return [a.rate / f.rate for a, f in zip(self.api, self.fhir, strict=True) if f.rate]

    def fhir_cpu_ratio(self) -> float:
        """Server CPU per referral, FHIR over JSON, over all the measured runs."""
        json_ms, fhir_ms = cpu_per_referral(self.api), cpu_per_referral(self.fhir)
        return fhir_ms / json_ms if json_ms else float("nan")

    def verdicts(self) -> dict[str, bool]:
        return {
            "fhir": bool(self.fhir_costs()) and median(self.fhir_costs()) <= TARGET_FHIR_COST,
            "rate": median([a.rate for a in self.api]) >= TARGET_RATE,
            "ratio": median(self.ratios()) >= TARGET_RATIO,
            "p99": median([a.p99_ms for a in self.api]) < TARGET_P99_MS,
            "cpu": cpu_per_referral(self.api) < TARGET_CPU_MS,
            "check": self.checks.check_us < TARGET_CHECK_US,
        }

    def render(self) -> str:
        raw = [r.tps for r in self.raw]
        rates = [a.rate for a in self.api]
        ratios = self.ratios()
        p50 = [a.p50_ms for a in self.api]
        p99 = [a.p99_ms for a in self.api]
        fhir_rates = [f.rate for f in self.fhir]
        fhir_p50 = [f.p50_ms for f in self.fhir]
        fhir_p99 = [f.p99_ms for f in self.fhir]
        costs = self.fhir_costs()
        ok = self.verdicts()

        def verdict(passed: bool) -> str:
            return "PASS" if passed else "FAIL"

        def runs_of(values: list[float], fmt: str) -> str:
            return " ".join(format(v, fmt) for v in values)

        rows = [
            ("what", "median", "runs", "target", ""),
            (
                f"raw PostgreSQL, pgbench {PGBENCH_CLIENTS} clients (tx/s)",
                f"{median(raw):,.0f}",
                runs_of(raw, ",.0f"),
                "",
                "",
            ),
            (
                f"API referrals accepted, {CONCURRENCY} clients (/s)",
                f"{median(rates):,.0f}",
                runs_of(rates, ",.0f"),
                f">= {TARGET_RATE:,.0f}",
                verdict(ok["rate"]),
            ),
            (
                "API / raw",
                f"{100 * median(ratios):.1f} %",
                runs_of([100 * r for r in ratios], ".1f"),
                f">= {100 * TARGET_RATIO:.0f} %",
                verdict(ok["ratio"]),
            ),
            ("latency p50 (ms)", f"{median(p50):.1f}", runs_of(p50, ".1f"), "", ""),
            (
                "latency p99 (ms)",
                f"{median(p99):.1f}",
                runs_of(p99, ".1f"),
                f"< {TARGET_P99_MS:.0f}",
                verdict(ok["p99"]),
            ),
            (
                "server CPU per accepted referral (ms)",
                f"{cpu_per_referral(self.api):.2f}",
                "all runs",
                f"< {TARGET_CPU_MS:.1f}",
                verdict(ok["cpu"]),
            ),
            (
                f"FHIR transaction Bundles accepted, {CONCURRENCY} clients (/s)",
                f"{median(fhir_rates):,.0f}",
                runs_of(fhir_rates, ",.0f"),
                "",
                "",
            ),
            (
                "FHIR latency p50 / p99 (ms)",
                f"{median(fhir_p50):.1f} / {median(fhir_p99):.1f}",
                " ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(fhir_p50, fhir_p99, strict=True)),
                "",
                "",
            ),
            (
                "FHIR cost per referral / JSON's",
                f"{median(costs):.2f}x",
                runs_of(costs, ".2f") + f" (server CPU: {self.fhir_cpu_ratio():.2f}x)",
                f"<= {TARGET_FHIR_COST:.1f}x",
                verdict(ok["fhir"]),
            ),
            (
                "check one referral, no I/O (us)",
                f"{self.checks.check_us:.1f}",
                "check_referral, compute_deadlines, duplicate_key",
                f"< {TARGET_CHECK_US:.0f}",
                verdict(ok["check"]),
            ),
            (
                "  for comparison: pydantic (us)",
                f"{self.checks.pydantic_us:.1f}",
                "ReferralCreate.model_validate_json",
                "",
                "",
            ),
            (
                "  for comparison: API body parse (us)",
                f"{self.checks.parse_model_us:.1f}",
                "web.body.parse_model",
                "",
                "",
            ),
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        out = [
            f"CareLoop intake benchmark: {self.runs} x {self.seconds} s per measurement, "
            f"client {self.client}, {SERVER_WORKERS} server workers, PostgreSQL "
            f"{self.facts.get('server_version', '?')} (synchronous_commit="
            f"{self.facts.get('synchronous_commit', '?')}, fsync={self.facts.get('fsync', '?')})",
            "",
        ]
        for index, row in enumerate(rows):
            line = "  ".join(
                cell.rjust(widths[i]) if i in (1,) else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            )
            out.append(line.rstrip())
            if index == 0:
                out.append("-" * len(line))
        out.append("")
        out += self._cpu_lines()
        referrals, audits = self.stored
        accepted = sum(a.accepted for a in self.api)
        failed = sum(a.non_2xx + a.socket_errors + a.timeouts for a in self.api)
        bundles = sum(f.accepted for f in self.fhir)
        fhir_failed = sum(f.non_2xx + f.socket_errors + f.timeouts for f in self.fhir)
        out.append(
            f"stored in the measured runs: {accepted:,} referrals answered 201 "
            f"({failed} errors) and {bundles:,} FHIR bundles answered 200 ({fhir_failed} "
            f"errors); the database holds {referrals:,} referrals and {audits:,} "
            "creation audit records in all (probe, warm-up and measured runs)"
        )
        out.append(
            f"row sizes: app referral row {self.facts.get('referral_row_bytes', '?')} B "
            f"(+ 2 items, 2 clocks, 1 event, 1 audit row); pgbench referral row "
            f"{self.facts.get('raw_row_bytes', '?')} B + 1 audit row"
        )
        others = [r.other_pct for r in self.raw] + [a.other_pct for a in self.api]
        out.append(
            "other processes on the machine during each run (% of one core), pgbench: "
            + " ".join(f"{r.other_pct:.0f}" for r in self.raw)
            + "; API: "
            + " ".join(f"{a.other_pct:.0f}" for a in self.api)
        )
        if max(others, default=0.0) >= 2 * QUIET_PCT:
            out.append(
                "WARNING: other work competed for the CPU during some runs: figures are lower "
                "and noisier than on an idle machine (compare runs, or rerun when it is quiet)"
            )
        missing = [a for a in self.api + self.fhir if a.stored < a.accepted]
        if missing:
            out.append("ERROR: some referrals answered 201 are not in the database")
        return "\n".join(out)

    def _cpu_lines(self) -> list[str]:
        windows = [a.cpu for a in self.api if a.cpu is not None]
        if not windows:
            return []
        seconds = sum(w.seconds for w in windows)
        per_worker = [sum(ws) for ws in zip(*(w.worker_cpu for w in windows), strict=True)]
        worker_pct = [100 * s / seconds for s in per_worker]
        client_pct = 100 * sum(w.client_cpu for w in windows) / seconds
        postgres_pct = 100 * sum(w.postgres_cpu for w in windows) / seconds
        busy_pct = 100 * sum(w.machine_busy for w in windows) / seconds
        cores = os.cpu_count() or 1
        raw_busy = median([r.busy_pct for r in self.raw])
        accepted = sum(a.accepted for a in self.api)
        server_ms = 1000 * sum(per_worker) / accepted if accepted else float("nan")
        return [
            f"CPU in the API runs (% of one core; {cores} cores = {100 * cores} %): "
            f"machine {busy_pct:.0f} %, server workers {sum(worker_pct):.0f} % "
            f"({', '.join(f'{p:.0f} %' for p in worker_pct)}), "
            f"postgres {postgres_pct:.0f} %, load client {client_pct:.0f} %, rest "
            f"{max(0.0, busy_pct - sum(worker_pct) - postgres_pct - client_pct):.0f} %",
            f"server CPU per accepted referral: {server_ms:.2f} ms; "
            f"machine busy during pgbench: {raw_busy:.0f} % of all cores",
            *self._spread_lines(),
        ]

    def _spread_lines(self) -> list[str]:
        spreads = [a.connections for a in self.api if a.connections]
        if not spreads:
            return []
        text = ", ".join("/".join(str(n) for n in spread) for spread in spreads)
        lines = [f"client connections per worker in each run: {text}"]
        uneven = [s for s in spreads if sum(s) and max(s) / sum(s) > 0.65]
        if uneven:
            lines.append(
                "  note: keep-alive connections are accepted by whichever worker wakes first "
                "and stay there; an uneven split leaves one process (one core under the GIL) "
                "doing most of the work"
            )
        return lines


def cpu_per_referral(results: list[LoadResult]) -> float:
    """Server workers' CPU milliseconds per accepted referral over ``results``."""
    cpu = sum(sum(r.cpu.worker_cpu) for r in results if r.cpu is not None)
    accepted = sum(r.accepted for r in results)
    return 1000 * cpu / accepted if accepted else float("nan")


# ---- main ----------------------------------------------------------------------------------


def choose_client(wanted: str) -> str:
    has_wrk = shutil.which("wrk") is not None
    if wanted == "wrk" and not has_wrk:
        raise BenchError(
            "wrk is not installed: `apt-get install -y wrk`, or run with --client python"
        )
    if wanted == "auto" and not has_wrk:
        say(
            "note: wrk is not installed (`apt-get install -y wrk`); using the asyncio client "
            "bench/loadgen.py, which takes more of the CPU the server needs"
        )
        return "python"
    return "wrk" if wanted in ("auto", "wrk") else "python"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Referrals/s through the API next to raw PostgreSQL (see module docs)."
    )
    parser.add_argument("--quick", action="store_true", help="1 short run of each, fewer loops")
    parser.add_argument("--runs", type=int, help="runs of each measurement (default 3)")
    parser.add_argument("--seconds", type=int, help="length of each run (default 10)")
    parser.add_argument("--warmup", type=float, help="unmeasured API load first (default 5 s)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--max-wait",
        type=float,
        help="seconds to wait for other work on the machine to calm down before each run "
        "(default 120; 15 with --quick)",
    )
    add_database_options(parser, DEFAULT_DB_NAME)
    parser.add_argument(
        "--profile",
        type=Path,
        nargs="?",
        const=REPO / "var" / "profile",
        metavar="DIR",
        help="also sample the workers with py-spy under the same load: a flame graph "
        "(flamegraph.svg), the raw stacks and the top functions by CPU in DIR "
        "(default var/profile)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.seconds = args.seconds or (3 if args.quick else 10)
    args.warmup = args.warmup if args.warmup is not None else (3.0 if args.quick else 5.0)
    args.max_wait = args.max_wait if args.max_wait is not None else (15.0 if args.quick else 120.0)
    return args


def measure(
    args: argparse.Namespace, setup: LoadSetup, fhir_setup: LoadSetup, server: Server, url: str
) -> tuple[list[PgbenchResult], list[LoadResult], list[LoadResult]]:
    """Probe, warm up, then alternate pgbench, API and FHIR runs; profile last if asked."""
    workers = server.worker_pids()
    probe(setup)
    probe(fhir_setup)
    say(f"warm-up: {args.warmup:.0f} s of load on each path ...")
    for one, tag in ((setup, "w"), (fhir_setup, "v")):
        warm = run_load(one, args.warmup, tag, workers)
        if warm.accepted == 0:
            raise BenchError(f"no referral accepted in the warm-up:\n{server.log_tail()}")
    analyze_as_in_service(url)
    raw: list[PgbenchResult] = []
    api: list[LoadResult] = []
    fhir: list[LoadResult] = []
    for run in range(args.runs):
        quiet = wait_for_quiet(QUIET_PCT, args.max_wait)
        raw.append(run_pgbench(url, args.seconds))
        raw[-1].background_pct = quiet
        quiet = wait_for_quiet(QUIET_PCT, args.max_wait)
        before, committed = stored_counts(url)[0], commits(url)
        result = run_load(setup, args.seconds, as_letters(run + 1), workers)
        result.stored = stored_counts(url)[0] - before
        result.commits = commits(url) - committed
        result.background_pct = quiet
        api.append(result)
        say(
            f"run {run + 1}/{args.runs}: pgbench {raw[-1].tps:,.0f} tx/s, API "
            f"{result.rate:,.0f} referrals/s (p50 {result.p50_ms:.1f} ms, p99 "
            f"{result.p99_ms:.1f} ms, {result.non_2xx} non-2xx, stored {result.stored:,} "
            f"in {result.commits:,} commits ({result.per_commit:.1f} a commit); "
            f"connections per worker {'/'.join(map(str, result.connections))}; "
            f"other work during pgbench / API: {raw[-1].other_pct:.0f} % / "
            f"{result.other_pct:.0f} % of a core)"
        )
        quiet = wait_for_quiet(QUIET_PCT, args.max_wait)
        before, committed = stored_counts(url)[0], commits(url)
        bundles = run_load(fhir_setup, args.seconds, "f" + as_letters(run + 1), workers)
        bundles.stored = stored_counts(url)[0] - before
        bundles.commits = commits(url) - committed
        bundles.background_pct = quiet
        fhir.append(bundles)
        say(
            f"run {run + 1}/{args.runs}: FHIR {bundles.rate:,.0f} referrals/s (p50 "
            f"{bundles.p50_ms:.1f} ms, p99 {bundles.p99_ms:.1f} ms, {bundles.non_2xx} non-2xx, "
            f"stored {bundles.stored:,} in {bundles.commits:,} commits ({bundles.per_commit:.1f} "
            f"a commit); other work {bundles.other_pct:.0f} % of a core)"
        )
    if args.profile:
        for name, one, out in (("API", setup, args.profile), ("FHIR", fhir_setup, fhir_dir(args))):
            say(f"profiling the workers under the {name} load with py-spy for {args.seconds} s ...")
            paths = profile_workers(one, workers, args.seconds, out)
            if paths:
                (out / "summary.txt").write_text(summarise_profile(paths) + "\n")
                write_flamegraph(paths, out / "flamegraph.svg")
                say(f"py-spy stacks, summary and flamegraph.svg of the {name} load in {out}/")
    return raw, api, fhir


def fhir_dir(args: argparse.Namespace) -> Path:
    """Where ``--profile`` puts the FHIR load's stacks: beside the API load's."""
    return Path(args.profile) / "fhir"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Even when started in the background (where shells ignore SIGINT): Ctrl-C stops cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if shutil.which("pgbench") is None:
        raise BenchError("pgbench is not on PATH (Debian: apt-get install postgresql-client)")
    client = choose_client(args.client)
    now = datetime.now(UTC)
    template = body_template(now)

    say("timing the check with no I/O ...")
    iterations = 2_000 if args.quick else 20_000
    checks = time_checks(template, now, iterations, 3 if args.quick else 5)

    url = with_database(args.postgres_url, args.db_name)
    BENCH_DATABASE[0] = args.db_name
    say(f"recreating database {args.db_name} ...")
    recreate_database(args.postgres_url, args.db_name)
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": url,
        **PRODUCTION,
        "CARELOOP_LOG_FORMAT": "json",
    }
    with tempfile.TemporaryDirectory(prefix="careloop-bench-") as tmp:
        server = Server(env, free_port(), Path(tmp) / "server.log", workers=SERVER_WORKERS)
        try:
            token = prepare_app_database(env)
            create_scratch_tables(url)
            template_path = Path(tmp) / "body.json"
            template_path.write_text(template)
            setup = LoadSetup(client, server.port, token, template_path)
            bundle_path = Path(tmp) / "bundle.json"
            bundle_path.write_text(fhir_template(now))
            fhir_setup = replace(
                setup,
                template=bundle_path,
                path="/fhir",
                content_type="application/fhir+json",
                created=200,
            )
            say(f"starting the server on {HOST}:{server.port} ...")
            server.start()
            server.wait_ready(timeout=240.0)  # a busy shared machine starts slowly
            raw, api, fhir = measure(args, setup, fhir_setup, server, url)
            report = Report(
                runs=args.runs,
                seconds=args.seconds,
                client=client,
                raw=raw,
                api=api,
                fhir=fhir,
                checks=checks,
                facts=server_facts(url),
                stored=stored_counts(url),
            )
        finally:
            server.stop()
            if not args.keep_db:
                with contextlib.suppress(psycopg.Error):
                    drop_database(args.postgres_url, args.db_name)
    print(report.render())
    if args.profile:
        for name, out in (("API", args.profile), ("FHIR", fhir_dir(args))):
            if (out / "summary.txt").exists():
                print(f"\n{name} load:")
                print((out / "summary.txt").read_text())
    if args.strict and not all(report.verdicts().values()):
        return 1
    return 0


if __name__ == "__main__":
    run_main(main, interrupted="interrupted; the server was stopped")
