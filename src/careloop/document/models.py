"""Document rows: a file attached to a case, named by its SHA-256 in the store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
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
