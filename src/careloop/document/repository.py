"""Document queries (no commit)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from careloop.document.models import Document, FaxDraft


def add(session: Session, document: Document) -> Document:
    session.add(document)
    session.flush()
    return document


def of_case(session: Session, referral_id: int) -> list[Document]:
    stmt = (
        select(Document)
        .where(Document.referral_id == referral_id)
        .order_by(Document.uploaded_at.desc(), Document.id.desc())
    )
    return list(session.scalars(stmt))


def get_of_case(session: Session, referral_id: int, document_id: int) -> Document | None:
    stmt = select(Document).where(Document.id == document_id, Document.referral_id == referral_id)
    return session.scalars(stmt).first()


def known_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    wanted = list(set(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(Document.sha256).where(Document.sha256.in_(chunk))))
        # A fax waiting as a draft keeps its file too.
        found.update(session.scalars(select(FaxDraft.sha256).where(FaxDraft.sha256.in_(chunk))))
    return found


def waiting_before(session: Session, cutoff: datetime) -> list[Document]:
    """Rows older than ``cutoff`` whose file was never confirmed in place."""
    stmt = (
        select(Document)
        .where(Document.staging_token.is_not(None), Document.uploaded_at < cutoff)
        .with_for_update()
    )
    return list(session.scalars(stmt))


def by_staging_token(session: Session, tokens: Iterable[str]) -> dict[str, Document]:
    wanted = list(set(tokens))
    out: dict[str, Document] = {}
    for start in range(0, len(wanted), 500):
        stmt = select(Document).where(Document.staging_token.in_(wanted[start : start + 500]))
        out.update((d.staging_token or "", d) for d in session.scalars(stmt))
    return out


def confirm_stored(session: Session, document_id: int) -> None:
    session.execute(update(Document).where(Document.id == document_id).values(staging_token=None))


def lock(session: Session, document_id: int) -> Document | None:
    stmt = select(Document).where(Document.id == document_id).with_for_update()
    return session.scalars(stmt).first()


def remove(session: Session, document_id: int) -> None:
    session.execute(delete(Document).where(Document.id == document_id))


def add_fax(session: Session, fax: FaxDraft) -> FaxDraft:
    session.add(fax)
    session.flush()
    return fax


def open_faxes(session: Session, limit: int = 200) -> list[FaxDraft]:
    stmt = (
        select(FaxDraft)
        .where(FaxDraft.status == "open")
        .order_by(FaxDraft.received_at, FaxDraft.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def get_fax(session: Session, fax_id: int, *, for_update: bool = False) -> FaxDraft | None:
    stmt = select(FaxDraft).where(FaxDraft.id == fax_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def fax_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    wanted = list(set(hashes))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(session.scalars(select(FaxDraft.sha256).where(FaxDraft.sha256.in_(chunk))))
    return found
