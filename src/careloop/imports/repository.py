"""Import-job queries. Reads start from :func:`visible_to`; nothing commits here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, or_, select
from sqlalchemy.orm import Session, undefer

from careloop.core.actor import Actor
from careloop.db.base import table_of
from careloop.db.session import skip_locked
from careloop.imports.enums import ImportStatus
from careloop.imports.models import ImportJob, ImportRowError

_ERRORS = table_of(ImportRowError)


def visible_to(actor: Actor) -> Select[ImportJob]:
    """The jobs of the actor's organisation (staff of the coordination hub: theirs, with
    no organisation); another organisation's job is 'not found'."""
    stmt = select(ImportJob)
    if actor.organization_id is None:
        return stmt.where(ImportJob.organization_id.is_(None))
    return stmt.where(ImportJob.organization_id == actor.organization_id)


def get_visible(session: Session, actor: Actor, job_id: int) -> ImportJob | None:
    return session.scalars(visible_to(actor).where(ImportJob.id == job_id)).first()


def get(session: Session, job_id: int) -> ImportJob | None:
    return session.get(ImportJob, job_id)


def exists(session: Session, job_id: int) -> bool:
    return session.scalar(select(ImportJob.id).where(ImportJob.id == job_id)) is not None


def lock(session: Session, job_id: int, *, with_content: bool = False) -> ImportJob | None:
    """The job, locked for the rest of the transaction (one batch at a time)."""
    stmt = select(ImportJob).where(ImportJob.id == job_id).with_for_update()
    if with_content:
        stmt = stmt.options(undefer(ImportJob.content))
    return session.scalars(stmt).first()


def content_of(session: Session, job_id: int) -> bytes | None:
    return session.scalar(select(ImportJob.content).where(ImportJob.id == job_id))


def claim_next(session: Session, *, stale_before: datetime) -> ImportJob | None:
    """The oldest job waiting for a worker, or one whose worker went quiet (a restart),
    locked and skipped by the other workers."""
    stmt = (
        select(ImportJob)
        .where(
            or_(
                ImportJob.status == ImportStatus.queued,
                (ImportJob.status == ImportStatus.running)
                & (ImportJob.heartbeat_at < stale_before),
            )
        )
        .order_by(ImportJob.id)
        .limit(1)
    )
    return session.scalars(skip_locked(session, stmt)).first()


def insert_errors(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(_ERRORS), rows)


def errors_of(session: Session, job_id: int) -> Iterator[tuple[int, str, str, str]]:
    stmt = (
        select(
            ImportRowError.line, ImportRowError.field, ImportRowError.rule, ImportRowError.message
        )
        .where(ImportRowError.job_id == job_id)
        .order_by(ImportRowError.line, ImportRowError.id)
    )
    for row in session.execute(stmt.execution_options(yield_per=5_000)):
        yield (row[0], row[1], row[2], row[3])
