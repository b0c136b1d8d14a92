"""Bulk-file use cases: take a file as a job, run it batch by batch, report progress and
the refused rows.

Each function runs inside the caller's transaction and never commits: the API or the
command line owns the transaction that queues a job; ``tasks.run_job`` owns one per
batch, so a batch's cases, its refused rows and the job's progress commit together and
a restart resumes after the last batch stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

import careloop.workqueue  # noqa: F401 - its handlers open the new cases' work items
from careloop.audit import service as audit
from careloop.audit.models import AuditOutcome
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.dates import judged_at
from careloop.identity.permissions import require
from careloop.imports import files, repository, rules
from careloop.imports.enums import FileFormat, ImportStatus
from careloop.imports.errors import ImportNotFoundError, ImportTooLargeError
from careloop.imports.files import RawRow
from careloop.imports.models import ImportJob
from careloop.imports.rules import RowProblem
from careloop.imports.schemas import ImportJobRead, ImportLinks
from careloop.referral import bulk, refusals
from careloop.referral.enums import ReferralStatus
from careloop.referral.schemas import ReferralCreate
from careloop.referral.service import CheckResult

API_PREFIX = "/api/v1/imports"


@dataclass(frozen=True, slots=True)
class JobSource:
    """What a runner needs to read a job's file and where to resume."""

    job_id: int
    file_format: FileFormat
    source_path: str | None
    lines_done: int
    lines_total: int | None = None


def submit_import(
    session: Session,
    actor: Actor,
    *,
    file_name: str,
    clock: Clock,
    content: bytes | None = None,
    source_path: str | None = None,
    lines_total: int | None = None,
    max_bytes: int = rules.MAX_UPLOAD_BYTES,
) -> ImportJobRead:
    """Take a referral file (CSV or NDJSON, by its name) as a job for the worker. The
    job acts as its sender: their role's permissions, their organisation's cases."""
    require(actor, "import:create")
    file_format = files.format_of(file_name)
    if content is not None and len(content) > max_bytes:
        raise ImportTooLargeError(
            f"The file is larger than {max_bytes:,} bytes: split it, "
            "or load it with the command line.",
            field="file",
        )
    if content is not None and lines_total is None:
        lines_total = content.count(b"\n") + (not content.endswith(b"\n") and bool(content))
    now = clock.now()
    job = ImportJob(
        status=ImportStatus.queued,
        file_format=file_format,
        file_name=file_name.rsplit("/", 1)[-1][:200],
        content=content,
        source_path=source_path,
        organization_id=actor.organization_id,
        created_by_user_id=actor.user_id,
        actor_role=actor.role.value,
        actor_label=actor.label[:200],
        lines_total=lines_total,
        lines_done=0,
        rows_done=0,
        created=0,
        needs_clarification=0,
        already_imported=0,
        refused=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    audit.record(session, actor, "import.create", clock=clock, detail={"import_id": job.id})
    return to_read(job)


def get_import(session: Session, actor: Actor, job_id: int, *, clock: Clock) -> ImportJobRead:
    """A job of the actor's organisation: its progress and, once done, its counts."""
    return to_read(_visible_or_404(session, actor, job_id, "import.read", clock=clock))


def error_file(session: Session, actor: Actor, job_id: int, *, clock: Clock) -> str:
    """The refused rows as CSV (line, field, rule, message), lines in file order. The
    read is audited: a line number points at a member's row of the sender's file."""
    job = _visible_or_404(session, actor, job_id, "import.errors", clock=clock)
    audit.record(session, actor, "import.errors", clock=clock, detail={"import_id": job.id})
    return "".join(files.errors_csv(repository.errors_of(session, job.id)))


def error_rows(session: Session, job_id: int) -> Iterator[str]:
    """The error file of a job the caller runs itself (the command line), streamed."""
    return files.errors_csv(repository.errors_of(session, job_id))


def _visible_or_404(
    session: Session, actor: Actor, job_id: int, action: str, *, clock: Clock
) -> ImportJob:
    require(actor, "import:read")
    job = repository.get_visible(session, actor, job_id)
    if job is None:
        audit.record_denied(
            session,
            actor,
            action,
            clock=clock,
            outcome=AuditOutcome.denied
            if repository.exists(session, job_id)
            else AuditOutcome.not_found,
            detail={"import_id": job_id},
        )
        raise ImportNotFoundError(f"There is no import {job_id} that you can see.")
    return job


# ---- running a job (the worker, or the command line's thread) --------------------------


def claim_next(session: Session, *, clock: Clock) -> JobSource | None:
    """Take the next job waiting for a worker (or one whose worker stopped): it is
    marked running, and resumes after its last stored batch."""
    now = clock.now()
    job = repository.claim_next(session, stale_before=now - rules.STALE_AFTER)
    if job is None:
        return None
    return _start(job, now)


def start(session: Session, job_id: int, *, clock: Clock) -> JobSource:
    """Mark a job the caller runs itself (the command line) as running."""
    job = repository.lock(session, job_id)
    if job is None:
        raise ImportNotFoundError(f"There is no import {job_id}.")
    return _start(job, clock.now())


def _start(job: ImportJob, now: datetime) -> JobSource:
    job.status = ImportStatus.running
    job.started_at = job.started_at or now
    job.heartbeat_at = now
    return JobSource(job.id, job.file_format, job.source_path, job.lines_done, job.lines_total)


def content_of(session: Session, job_id: int) -> bytes:
    """An uploaded job's file."""
    return repository.content_of(session, job_id) or b""


@dataclass(frozen=True, slots=True)
class Runner:
    """A job's batches: who they are stored as (its sender), how its rows were read."""

    job_id: int
    actor: Actor
    text_checked: bool


def runner(session: Session, job_id: int) -> Runner:
    """A job's sender and file format, read without locking the job (the batches of a
    file stored side by side each lock it only to record their progress)."""
    job = repository.get(session, job_id)
    if job is None:
        raise ImportNotFoundError(f"There is no import {job_id}.")
    return _runner_of(job)


@dataclass(slots=True)
class CheckedBatch:
    """A batch's rows checked, with reads only: each good row checked as the JSON API
    checks a referral (the new ones with the intake checklist and deadlines at
    ``now``), the lines whose external id a case already carries, the refused rows."""

    rows: int
    last_line: int
    now: datetime
    problems: list[RowProblem]
    #: (line, external id) of every good row, in file order.
    keys: list[tuple[int, str]]
    new: list[tuple[int, CheckResult]]
    already_imported: list[int]

    def refuse(self, problems: Sequence[RowProblem]) -> None:
        """Refuse more of the batch's good rows (an external id a line before repeats)."""
        if not problems:
            return
        lines = {p.line for p in problems}
        self.problems += problems
        self.new = [(line, r) for line, r in self.new if line not in lines]
        self.already_imported = [line for line in self.already_imported if line not in lines]


def check_batch(
    session: Session, runner: Runner, rows: Sequence[RawRow], *, now: datetime
) -> CheckedBatch:
    """The first half of a batch (reads only, so a file's batches can be checked side
    by side): each row as the JSON API checks a body, the external ids a case already
    carries, and the intake checklist and deadlines of the rest."""
    with judged_at(now):
        drafts, problems = _check_rows(rows, text_checked=runner.text_checked)
    known = bulk.already_received(
        session, runner.actor, [draft.external_id or "" for _, draft in drafts]
    )
    new = [(line, draft) for line, draft in drafts if draft.external_id not in known]
    checked = bulk.check_many(session, [draft for _, draft in new], now=now)
    return CheckedBatch(
        rows=len(rows),
        last_line=rows[-1][0] if rows else 0,
        now=now,
        problems=problems,
        keys=[(line, draft.external_id or "") for line, draft in drafts],
        new=[(line, result) for (line, _), result in zip(new, checked, strict=True)],
        already_imported=[line for line, draft in drafts if draft.external_id in known],
    )


def store_batch(
    session: Session,
    runner: Runner,
    batch: CheckedBatch,
    *,
    clock: Clock,
    after_locks: Callable[[], None] | None = None,
) -> list[bulk.BulkCase]:
    """The batch's new rows stored as cases through ``referral.bulk``; ``after_locks``
    is called once the batch holds its duplicate keys."""
    return bulk.receive_checked(
        session,
        runner.actor,
        [result for _, result in batch.new],
        now=batch.now,
        clock=clock,
        after_locks=after_locks,
    )


def record_batch(
    session: Session,
    job_id: int,
    batch: CheckedBatch,
    cases: Sequence[bulk.BulkCase],
    *,
    clock: Clock,
) -> ImportJobRead:
    """The last step of a batch: each refused row's problems kept for the error file,
    the refusals recorded, and the job's progress moved on (the job locked till the
    batch commits)."""
    job = repository.lock(session, job_id)
    if job is None:
        raise ImportNotFoundError(f"There is no import {job_id}.")
    problems = sorted(batch.problems, key=lambda p: p.line)
    repository.insert_errors(
        session,
        [
            {
                "job_id": job_id,
                "line": p.line,
                "field": p.field[:200],
                "rule": p.rule[:60],
                "message": p.message[:500],
            }
            for p in problems
        ],
    )
    refused: dict[int, list[tuple[str, str]]] = {}
    for p in problems:
        refused.setdefault(p.line, []).append((p.field, p.rule))
    refusals.record_rows(session, _actor_of(job), list(refused.values()), clock=clock)
    job.rows_done += batch.rows
    job.lines_done = max(job.lines_done, batch.last_line)
    job.created += len(cases)
    job.needs_clarification += sum(
        1 for c in cases if c.status is ReferralStatus.needs_clarification
    )
    job.already_imported += len(batch.already_imported)
    job.refused += len(refused)
    job.heartbeat_at = clock.now()
    return to_read(job)


def process_batch(
    session: Session,
    job_id: int,
    rows: Sequence[RawRow],
    *,
    clock: Clock,
    seen: dict[str, int],
) -> ImportJobRead:
    """One batch of a job's rows, in one transaction: each row checked as the JSON API
    checks a referral; rows whose external id a case already carries are counted as
    already imported; the rest stored as cases through ``referral.bulk``; each refused
    row's problems kept for the error file; the job's progress moved on. ``seen`` maps
    the external ids met so far in the file to their line (a repeat is refused)."""
    job = repository.lock(session, job_id)
    if job is None:
        raise ImportNotFoundError(f"There is no import {job_id}.")
    run = _runner_of(job)
    batch = check_batch(session, run, rows, now=clock.now())
    batch.refuse(rules.repeats(batch.keys, seen))
    cases = store_batch(session, run, batch, clock=clock)
    return record_batch(session, job_id, batch, cases, clock=clock)


def _check_rows(
    rows: Sequence[RawRow], *, text_checked: bool
) -> tuple[list[tuple[int, ReferralCreate]], list[RowProblem]]:
    drafts: list[tuple[int, ReferralCreate]] = []
    problems: list[RowProblem] = []
    for line, raw in rows:
        if isinstance(raw, RowProblem):
            problems.append(raw)
            continue
        if isinstance(raw, list):
            problems += raw
            continue
        checked = files.check_row(line, raw, text_checked=text_checked)
        if isinstance(checked, list):
            problems += checked
            continue
        drafts.append((line, checked))
    return drafts, problems


def finish(session: Session, job_id: int, *, clock: Clock) -> ImportJobRead:
    job = repository.lock(session, job_id)
    if job is None:
        raise ImportNotFoundError(f"There is no import {job_id}.")
    now = clock.now()
    job.status = ImportStatus.done
    job.finished_at = job.heartbeat_at = now
    job.content = None  # the file's rows are cases now; keep no second copy of PHI
    return to_read(job)


def fail(session: Session, job_id: int, reason: str, *, clock: Clock) -> None:
    """Stop a job whose file cannot be read (the batches before stay stored)."""
    job = repository.lock(session, job_id)
    if job is None:
        return
    now = clock.now()
    job.status = ImportStatus.failed
    job.failure = reason[:500]
    job.finished_at = job.heartbeat_at = now
    job.content = None


def _runner_of(job: ImportJob) -> Runner:
    return Runner(job.id, _actor_of(job), job.file_format is FileFormat.csv)


def _actor_of(job: ImportJob) -> Actor:
    return Actor(
        user_id=job.created_by_user_id,
        role=Role(job.actor_role),
        organization_id=job.organization_id,
        display_name=job.actor_label,
    )


def to_read(job: ImportJob) -> ImportJobRead:
    finished = job.status in (ImportStatus.done, ImportStatus.failed)
    link = f"{API_PREFIX}/{job.id}"
    return ImportJobRead(
        id=job.id,
        status=job.status,
        file_name=job.file_name,
        file_format=job.file_format,
        percent_done=rules.percent_done(job.lines_done, job.lines_total, finished=finished),
        lines_total=job.lines_total,
        rows_done=job.rows_done,
        created=job.created,
        needs_clarification=job.needs_clarification,
        already_imported=job.already_imported,
        refused=job.refused,
        failure=job.failure,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        links=ImportLinks(self=link, errors=f"{link}/errors"),
    )
