"""Document rows: a file attached to a case, named by its SHA-256 in the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.db.base import Base
from careloop.db.types import JSONVariant, StrEnumType, UTCDateTime
from careloop.document.rules import Kind, MediaType


class Document(Base):
    """One document of a case. The bytes live in the document store under ``sha256``
    (stored once however many rows name them); the row says what it is, who attached it
    and when, and what it was flagged with."""

    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_referral_id_uploaded_at", "referral_id", "uploaded_at"),
        Index("ix_documents_sha256", "sha256"),
        Index("ix_documents_staging_token", "staging_token"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    kind: Mapped[Kind] = mapped_column(StrEnumType(Kind))
    media_type: Mapped[MediaType] = mapped_column(StrEnumType(MediaType))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    flags: Mapped[list[str]] = mapped_column(JSONVariant, default=list)
    # The staging token the file waits under until it is confirmed in place (after the
    # commit); a row still holding one after the grace period is the sweep's to finish
    # (the move) or to remove (the file was lost before it got there).
    staging_token: Mapped[str | None] = mapped_column(String(120))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_by_user_id: Mapped[int | None] = mapped_column(Integer)
    uploaded_by_label: Mapped[str] = mapped_column(String(200))
    uploaded_by_role: Mapped[str] = mapped_column(String(40))


class FaxDraft(Base):
    """A faxed or scanned order read into a draft referral, waiting for an intake agent.
    The file is in the document store under ``sha256`` (it becomes the case's faxed-order
    document on submission); ``fields`` holds what was read, each field with its value,
    page, line and confidence; ``lines`` the text as read, for the agent to compare."""

    __tablename__ = "fax_drafts"
    __table_args__ = (
        Index("ix_fax_drafts_status_received_at", "status", "received_at"),
        Index("ix_fax_drafts_sha256", "sha256"),
    )
    __pii_columns__ = ("fields", "lines")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_by_label: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[MediaType] = mapped_column(StrEnumType(MediaType))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(20))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONVariant, default=dict)
    lines: Mapped[list[Any]] = mapped_column(JSONVariant, default=list)
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id", ondelete="SET NULL"))
    case_number: Mapped[str | None] = mapped_column(String(40))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_label: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
