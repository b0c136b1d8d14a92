"""The import API contract (fields may be added, never renamed)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from careloop.imports.enums import FileFormat, ImportStatus


class ImportLinks(BaseModel):
    self: str
    errors: str


class ImportJobRead(BaseModel):
    """A bulk file's job: where it stands and, once done, what it did."""

    id: int
    status: ImportStatus
    file_name: str
    file_format: FileFormat
    percent_done: int = Field(description="0-100; 100 once the job has finished")
    lines_total: int | None = Field(description="Data lines in the file (an estimate for CSV)")
    rows_done: int = Field(description="Rows read so far")
    created: int = Field(description="Cases created (those needing clarification included)")
    needs_clarification: int = Field(
        description="Of those created, cases stored with checklist gaps (as the API stores them)"
    )
    already_imported: int = Field(description="Rows whose external id a case already carries")
    refused: int = Field(description="Rows refused; each is in the error file")
    failure: str | None = Field(description="Why the job stopped, when it failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    links: ImportLinks
