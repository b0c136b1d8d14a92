"""A lean HTTP/1.1 load generator for bench/intake.py when `wrk` is not installed.

Keep-alive connections on raw asyncio streams (uvloop when present), requests built from
pre-encoded pieces, one latency sample per request; bounded in time, it stops by itself
and prints one line ``BENCH_RESULT {json}`` with the same keys as bench/intake_load.lua.

    python bench/loadgen.py --port PORT --token TOKEN --template FILE --tag TAG
                            [--path /fhir --content-type application/fhir+json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from array import array
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # never anything else: this is a load generator
PATH = "/api/v1/referrals"
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def as_letters(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 26)
        out.append(LETTERS[r])
        if n == 0:
            return "".join(out)


class Requests:
    """Request bytes for client ``index``: one new member per request."""

    def __init__(
        self,
        template: str,
        token: str,
        tag: str,
        port: int,
        path: str = PATH,
        content_type: str = "application/json",
    ) -> None:
        head, rest = template.split("__LAST__", 1)
        middle, tail = rest.split("__BIRTH__", 1)
        self.head, self.middle, self.tail = head.encode(), middle.encode(), tail.encode()
        self.headers = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
        ).encode()
        self.tag = tag

    def make(self, client: int, counter: int) -> bytes:
        last = f"Hale{self.tag}{as_letters(client)}x{as_letters(counter)}".encode()
        birth = (
            f"{1930 + counter % 40:04d}-{1 + (counter // 40) % 12:02d}-"
            f"{1 + (counter // 480) % 28:02d}"
        ).encode()
        body = b"".join((self.head, last, self.middle, birth, self.tail))
        return b"%sContent-Length: %d\r\n\r\n%s" % (self.headers, len(body), body)


class Stats:
    def __init__(self) -> None:
        self.latencies_ns = array("q")
        self.statuses: dict[int, int] = {}
        self.socket_errors = 0


async def client(index: int, port: int, requests: Requests, deadline: float, stats: Stats) -> float:
    """Send requests back to back until ``deadline``; return when the last one ended."""
    reader, writer = await asyncio.open_connection(HOST, port)
    counter = 0
    finished = time.perf_counter()
    try:
        while time.perf_counter() < deadline:
            counter += 1
            payload = requests.make(index, counter)
            started = time.perf_counter_ns()
            writer.write(payload)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            stats.latencies_ns.append(time.perf_counter_ns() - started)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            finished = time.perf_counter()
    except (OSError, asyncio.IncompleteReadError):
        stats.socket_errors += 1
    finally:
        writer.close()
    return finished


def percentile(sorted_ns: list[int], fraction: float) -> float:
    if not sorted_ns:
        return 0.0
    index = min(len(sorted_ns) - 1, round(fraction * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


async def run(args: argparse.Namespace) -> dict[str, float | int]:
    requests = Requests(
        Path(args.template).read_text(),
        args.token,
        args.tag,
        args.port,
        args.path,
        args.content_type,
    )
    stats = Stats()
    started = time.perf_counter()
    deadline = started + args.duration
    ends = await asyncio.gather(
        *(client(i, args.port, requests, deadline, stats) for i in range(args.concurrency))
    )
    elapsed = max(ends) - started
    samples = sorted(stats.latencies_ns)
    completed = len(samples)
    return {
        "completed": completed,
        "duration_s": elapsed,
        "non_2xx": sum(n for status, n in stats.statuses.items() if status >= 300),
        "socket_errors": stats.socket_errors,
        "timeouts": 0,
        "p50_ms": percentile(samples, 0.50),
        "p90_ms": percentile(samples, 0.90),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": samples[-1] / 1e6 if samples else 0.0,
        "mean_ms": sum(samples) / completed / 1e6 if completed else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--template", required=True, help="body with __LAST__ and __BIRTH__")
    parser.add_argument("--tag", default="a", help="letters that keep runs' members apart")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--path", default=PATH, help="where to POST (the FHIR path: /fhir)")
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    runner: Callable[[Coroutine[Any, Any, dict[str, float | int]]], dict[str, float | int]]
    runner = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional speed-up

        runner = uvloop.run
    result = runner(run(args))
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
