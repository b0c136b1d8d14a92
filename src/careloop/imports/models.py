"""Import tables: a job (its file, who sent it, where it stands) and each refused row.

The imports domain is their only writer. The cases a job stores belong to the referral
domain (``referral.bulk``); a job holds only counts and the refused rows' line, field and
rule, never a member's data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime
from careloop.imports.enums import FileFormat, ImportStatus


class ImportJob(Base):
    """One file being imported. Its state lives here, so a job survives a restart: the
    worker resumes it after ``lines_done``, and rows already stored are recognised by
    their external id."""

    __tablename__ = "import_jobs"
    __table_args__ = (Index("ix_import_jobs_status_id", "status", "id"),)
    # The uploaded file holds PHI: read only to run the job.
    __phi_columns__ = ("content",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[ImportStatus] = mapped_column(StrEnumType(ImportStatus))
    file_format: Mapped[FileFormat] = mapped_column(StrEnumType(FileFormat))
    file_name: Mapped[str] = mapped_column(String(200))
    # An uploaded file's bytes; a command-line job reads its file from ``source_path``.
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    source_path: Mapped[str | None] = mapped_column(String(1000))

    # Who sent it: the job acts as them (their role's permissions, their organisation).
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str] = mapped_column(String(30))
    actor_label: Mapped[str] = mapped_column(String(200))

    lines_total: Mapped[int | None] = mapped_column(Integer)
    lines_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    needs_clarification: Mapped[int] = mapped_column(Integer, default=0)
    already_imported: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str | None] = mapped_column(String(500))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Written with every batch: a running job not heard of for a while was interrupted.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportRowError(Base):
    """A refused row: its line in the file, the field and the rule it broke."""

    __tablename__ = "import_row_errors"
    __table_args__ = (Index("ix_import_row_errors_job_id_line", "job_id", "line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(60))
    message: Mapped[str] = mapped_column(String(500))
