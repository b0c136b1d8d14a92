"""A large file's batches stored side by side, each by a worker process of its own
(PostgreSQL only: SQLite has one writer at a time).

A batch is one transaction, as when ``tasks.run_job`` stores them one after the other;
here two or more are open at once, so one batch's Python runs while the database takes in
another's rows. What the file's order decides stays in the file's order:

* a row whose external id a line before it carries is refused, the first kept: this
  process keeps the ids met, batch after batch, as the one-after-the-other run does;
* batch n takes its case numbers and its duplicate keys only once batch n-1 holds its
  own, so the case numbers rise with the lines, and two batches sharing a key wait for
  each other in the database, the later for the earlier, never the other way round
  (no wait that PostgreSQL could not see as a deadlock);
* batch n commits only after batch n-1 has committed, so the job's ``lines_done`` still
  means that every line up to it is stored, and a restart resumes after it;
* a batch that fails stops the job: the batches before it commit, the ones after it roll
  back, and the failure is raised here as :class:`BatchFailedError`.

This process reads the file and hands each batch's rows to a free worker; a worker checks
them (reads only), waits for its turn to number and lock, stores, waits for its turn to
commit, records the progress and commits. Messages travel over one pipe per worker.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from sqlalchemy.engine import Engine

from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.imports import rules, service
from careloop.imports.files import RawRow
from careloop.imports.rules import RowProblem
from careloop.imports.schemas import ImportJobRead


class BatchFailedError(RuntimeError):
    """A batch of a job run side by side could not be stored (the batches before it
    are; the job resumes after them)."""


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    pipe: Connection
    batch: int | None = None


def run_batches(
    database: Database,
    job_id: int,
    rows: Iterator[RawRow],
    *,
    clock: Clock,
    processes: int,
    batch_rows: int,
    on_batch: Callable[[ImportJobRead], None],
) -> None:
    """Store the rows batch by batch with ``processes`` workers; ``on_batch`` is called
    with the job's progress after each commit, in the file's order."""
    # Forked, not spawned: a worker starts at once with the code sets this process has
    # loaded (spawning one loads them again, about six seconds), and touches nothing of
    # this process but the engine it leaves behind (_work).
    context = multiprocessing.get_context("fork")
    url = database.engine.url.render_as_string(hide_password=False)
    workers: list[_Worker] = []
    try:
        for n in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_work,
                args=(
                    database.engine,
                    [w.pipe for w in workers] + [ours],
                    url,
                    database.config,
                    clock,
                    job_id,
                    theirs,
                ),
                name=f"careloop-import-{job_id}-{n}",
                daemon=True,
            )
            workers.append(_Worker(process, ours))
            process.start()
            theirs.close()
        _drive(workers, _batches(rows, batch_rows), on_batch)
    finally:
        for worker in workers:
            with contextlib.suppress(OSError):  # unless it has stopped already
                worker.pipe.send(("exit",))  # a worker still storing a batch rolls it back
            worker.pipe.close()
        for worker in workers:
            if worker.process.pid is None:
                continue  # never started
            worker.process.join(timeout=60)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()


def _batches(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    batch: list[RawRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _drive(
    workers: list[_Worker],
    batches: Iterator[list[RawRow]],
    on_batch: Callable[[ImportJobRead], None],
) -> None:
    """Hand out the batches and give each its turns, until every batch handed out has
    committed or, after a failure, stopped."""
    turns = _Turns(on_batch)
    unreadable: Exception | None = None
    reading = True
    while True:
        for worker in workers:
            if not reading or turns.failed is not None:
                break
            if worker.batch is None:
                try:
                    batch = next(batches, None)
                except Exception as exc:  # raised once the batches before it are stored
                    unreadable, batch = exc, None
                if batch is None:
                    reading = False
                    break
                turns.hand(worker, batch)
        busy = [w for w in workers if w.batch is not None]
        if not busy:
            break
        for pipe in wait([w.pipe for w in busy]):
            turns.heard(next(w for w in busy if w.pipe is pipe))
        turns.give()
    if turns.failed is not None:
        raise BatchFailedError(f"Batch {turns.failed + 1} of the file: {turns.failure}.")
    if unreadable is not None:
        raise unreadable


class _Turns:
    """Where the file's batches are: which have been checked (with their good rows'
    keys), which hold their keys, which are stored and waiting to commit, which
    committed; and the external ids met so far in the file."""

    def __init__(self, on_batch: Callable[[ImportJobRead], None]) -> None:
        self.on_batch = on_batch
        self.owner: dict[int, _Worker] = {}
        self.handed = 0
        self.checked: dict[int, list[tuple[int, str]]] = {}
        self.next_to_lock = 0
        self.locked = -1
        self.stored: set[int] = set()
        self.committed = -1
        self.failed: int | None = None
        self.failure = ""
        self.seen: dict[str, int] = {}

    def hand(self, worker: _Worker, batch: list[RawRow]) -> None:
        worker.batch = n = self.handed
        self.owner[n] = worker
        worker.pipe.send(("batch", n, batch))
        self.handed += 1

    def heard(self, worker: _Worker) -> None:
        """Take a worker's message: where its batch is now."""
        try:
            message: tuple[Any, ...] = worker.pipe.recv()
        except EOFError:
            message = ("failed", worker.batch, "the worker process stopped")
        kind, n = message[0], int(message[1])
        if kind == "checked":
            self.checked[n] = message[2]
        elif kind == "locked":
            self.locked = n
        elif kind == "stored":
            self.stored.add(n)
        elif kind == "committed":
            self.committed = n
            worker.batch = None
            self.on_batch(message[2])
        else:  # failed, or stopped after a batch before it failed
            worker.batch = None
            if kind == "failed" and (self.failed is None or n < self.failed):
                self.failed, self.failure = n, str(message[2])

    def give(self) -> None:
        """Let the next batch number and lock once the one before it holds its keys
        (telling it which of its rows repeat an earlier line's external id), and the
        next commit once the one before it committed; after a failure, stop every
        later batch at its turn."""
        if self.failed is not None:
            for n in [n for n in self.checked if n > self.failed]:
                del self.checked[n]
                self.owner[n].pipe.send(("stop", n))
            for n in [n for n in self.stored if n > self.failed]:
                self.stored.discard(n)
                self.owner[n].pipe.send(("stop", n))
        n = self.next_to_lock
        if n in self.checked and self.locked == n - 1:
            self.owner[n].pipe.send(("lock", n, rules.repeats(self.checked.pop(n), self.seen)))
            self.next_to_lock += 1
        n = self.committed + 1
        if n in self.stored:
            self.stored.discard(n)
            self.owner[n].pipe.send(("commit", n))


class _StoppedError(Exception):
    """The parent stopped this batch: a batch before it failed ("stop"), or the parent
    is done ("exit")."""


def _work(
    inherited: Engine,
    parents_ends: list[Connection],
    url: str,
    config: dict[str, Any],
    clock: Clock,
    job_id: int,
    pipe: Connection,
) -> None:
    """A worker process: store the batches it is handed, taking its turns, until the
    parent says so. Its own engine; the parent's database connections, inherited with
    the fork, are left to the parent (never closed from here), and so are the parent's
    ends of the pipes."""
    inherited.dispose(close=False)
    for end in parents_ends:
        end.close()
    database = Database.from_url(url, pool_size=1, config=config)
    gc.disable()
    try:
        with database.unit_of_work() as session:
            runner = service.runner(session, job_id)
        while True:
            message = pipe.recv()
            if message[0] == "exit":
                break
            n, rows = message[1], message[2]
            try:
                read = _store_one(database, runner, n, rows, clock, pipe)
            except _StoppedError as stop:
                if stop.args and stop.args[0] == "exit":
                    break
                pipe.send(("stopped", n))
            except (EOFError, OSError):
                raise
            except Exception as exc:  # the parent stops the job with it
                pipe.send(("failed", n, _reason(exc)))
            else:
                pipe.send(("committed", n, read))
            del rows, message
            gc.collect()
    except (EOFError, OSError):
        pass  # the parent is done with this worker (or gone)
    finally:
        database.engine.dispose()


def _store_one(
    database: Database,
    runner: service.Runner,
    n: int,
    rows: list[RawRow],
    clock: Clock,
    pipe: Connection,
) -> ImportJobRead:
    with database.unit_of_work() as session:
        batch = service.check_batch(session, runner, rows, now=clock.now())
        pipe.send(("checked", n, batch.keys))
        repeated: list[RowProblem] = _turn(pipe, "lock")[2]
        batch.refuse(repeated)
        cases = service.store_batch(
            session, runner, batch, clock=clock, after_locks=lambda: pipe.send(("locked", n))
        )
        pipe.send(("stored", n))
        _turn(pipe, "commit")
        return service.record_batch(session, runner.job_id, batch, cases, clock=clock)


def _turn(pipe: Connection, kind: str) -> tuple[Any, ...]:
    message: tuple[Any, ...] = pipe.recv()
    if message[0] != kind:
        raise _StoppedError(message[0])
    return message


def _reason(exc: BaseException) -> str:
    """What failed, without the values (a database error's text may quote a row)."""
    return f"{type(exc).__name__} while storing it"
