"""Running import jobs: the worker takes queued jobs (and resumes interrupted ones); the
command line runs its own job in a thread. A job takes its id and owns its transactions,
one per batch of rows (STYLE.md §12.5)."""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import structlog

from careloop import codes
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.imports import files, parallel, rules, service
from careloop.imports.files import RawRow, UnreadableFileError
from careloop.imports.schemas import ImportJobRead

log = structlog.get_logger("careloop.imports")

Progress = Callable[[ImportJobRead], None]


def run_pending(database: Database, *, clock: Clock) -> int:
    """Run every job waiting for a worker, one after the other; returns how many ran."""
    ran = 0
    while True:
        with database.unit_of_work() as session:
            source = service.claim_next(session, clock=clock)
        if source is None:
            return ran
        run_job(database, source, clock=clock)
        ran += 1


def run_job(
    database: Database,
    source: service.JobSource,
    *,
    clock: Clock,
    on_progress: Progress | None = None,
    batch_rows: int = rules.BATCH_ROWS,
    processes: int | None = None,
    side_by_side_from: int = rules.SIDE_BY_SIDE_FROM_LINES,
) -> ImportJobRead | None:
    """Read the job's file after its last stored line and store it batch by batch (a
    large file on PostgreSQL: by ``processes`` worker processes side by side, see
    ``parallel``); a file that cannot be read fails the job with the reason (batches
    before stay)."""
    if processes is None:
        configured = database.config.get("import_processes")
        processes = configured if isinstance(configured, int) else rules.PROCESSES
    lines_left = None if source.lines_total is None else source.lines_total - source.lines_done
    together = rules.side_by_side(
        database.dialect, processes, lines_left, from_lines=side_by_side_from
    )
    _warm_up()
    seen: dict[str, int] = {}
    try:
        with _opened(database, source) as stream, _collecting_between_batches():
            rows = (
                row
                for row in files.read_rows(stream, source.file_format)
                if row[0] > source.lines_done
            )
            if together:
                parallel.run_batches(
                    database,
                    source.job_id,
                    rows,
                    clock=clock,
                    processes=processes,
                    batch_rows=batch_rows,
                    on_batch=on_progress or (lambda _read: None),
                )
            else:
                batch: list[RawRow] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) >= batch_rows:
                        _store(database, source.job_id, batch, clock, seen, on_progress)
                if batch:
                    _store(database, source.job_id, batch, clock, seen, on_progress)
    except (UnreadableFileError, OSError) as exc:
        reason = exc.detail if isinstance(exc, DomainError) else "the file could not be read"
        log.warning("import.failed", import_id=source.job_id, error_type=type(exc).__name__)
        with database.unit_of_work() as session:
            service.fail(session, source.job_id, reason or "unreadable", clock=clock)
        return None
    except parallel.BatchFailedError:
        log.warning("import.batch_failed", import_id=source.job_id)
        raise
    with database.unit_of_work() as session:
        done = service.finish(session, source.job_id, clock=clock)
    log.info("import.done", import_id=source.job_id, created=done.created, refused=done.refused)
    if on_progress is not None:
        on_progress(done)
    return done


def _store(
    database: Database,
    job_id: int,
    batch: list[RawRow],
    clock: Clock,
    seen: dict[str, int],
    on_progress: Progress | None,
) -> None:
    """Store a batch in one transaction, then empty it and collect what it left."""
    with database.unit_of_work() as session:
        read = service.process_batch(session, job_id, batch, clock=clock, seen=seen)
    batch.clear()
    gc.collect()
    if on_progress is not None:
        on_progress(read)


def _warm_up() -> None:
    """Load the code sets before the first row, and leave their few hundred thousand
    objects out of the garbage collector's full passes (as the server does): a job
    allocates for every row, and each full pass would walk the code sets again."""
    codes.warm_up()
    gc.freeze()


@contextmanager
def _collecting_between_batches() -> Iterator[None]:
    """No automatic garbage collection while a job runs: a batch allocates for each of
    its thousands of rows, which sets off collections several times a batch, each
    walking the batch's live rows. One full collection after each batch, once its rows
    are let go (3-6 ms for 2,000 rows), takes the cycles the batch left."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def _opened(database: Database, source: service.JobSource) -> Iterator[IO[bytes]]:
    if source.source_path is not None:
        with Path(source.source_path).open("rb") as stream:
            yield stream
        return
    with database.unit_of_work() as session:
        content = service.content_of(session, source.job_id)
    yield io.BytesIO(content)
