"""Document DTOs: what an upload carries besides the file, and what a read answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from careloop.core.dates import RecordDate
from careloop.core.text import ShortCode, ShortNote
from careloop.document.rules import Kind, MediaType


class AttachIn(BaseModel):
    """The form fields sent with the file. A signed order answering the case's "no
    signed order" finding gives the date it was signed (and, if known, the signer's
    NPI): the intake rules check them and the finding clears."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    signed_on: RecordDate | None = None
    signer_npi: ShortCode | None = None
    note: ShortNote | None = None


class DocumentRead(BaseModel):
    id: int
    kind: Kind
    kind_label: str
    media_type: MediaType
    size: int
    pages: int
    sha256: str
    uploaded_at: datetime
    uploaded_by: str
    flags: list[str]
    warnings: list[str]
    download: str


class DocumentList(BaseModel):
    items: list[DocumentRead]
