"""Value types of bulk imports."""

from __future__ import annotations

from enum import StrEnum


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class FileFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
