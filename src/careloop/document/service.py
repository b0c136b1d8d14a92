"""Document use cases: receive a file (stage, check), attach it to a case (the row and
the timeline event in the case's transaction), list and read a case's documents, and
sweep what a crash left behind.

The entry point owns the order of things (STYLE.md §4): it stages and checks the file
with :func:`receive`, runs :func:`attach` in the request's transaction, and only once
that has committed calls :func:`put_in_place` (the file moves into the store, then the
row is confirmed). If anything fails before the commit the entry point discards the
staged file; if the process dies in between, :func:`sweep` finishes or undoes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import BinaryIO

import structlog
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import SYSTEM_ACTOR, Actor
from careloop.core.clock import Clock
from careloop.core.errors import FieldError, RuleViolationError
from careloop.db.session import Database
from careloop.document import repository
from careloop.document.errors import DocumentNotFoundError, DocumentTooLargeError
from careloop.document.inspect import Inspection, inspect
from careloop.document.models import Document
from careloop.document.rules import (
    FLAG_LABELS,
    KIND_LABELS,
    Flag,
    Kind,
    Limits,
    MediaType,
    download_name,
)
from careloop.document.schemas import AttachIn, DocumentList, DocumentRead
from careloop.document.store import DocumentStore, Staged, TooLargeError
from careloop.identity.permissions import may, require
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.schemas import ReferralClarify, SignedOrderIn

log = structlog.get_logger(__name__)

#: The findings a signed order answers (referral.rules).
ORDER_FINDINGS = frozenset({"signed_order_missing", "signed_order_expired", "signed_order_future"})


@dataclass(frozen=True, slots=True)
class Received:
    """A file staged and checked, waiting for its row."""

    staged: Staged
    inspection: Inspection


def receive(
    store: DocumentStore, source: BinaryIO, declared: str | None, limits: Limits
) -> Received:
    """Stage ``source`` (413 past the size limit) and check what it is (415/422);
    nothing is kept of a refused file."""
    try:
        staged = store.stage(source, max_bytes=limits.max_bytes)
    except TooLargeError:
        raise DocumentTooLargeError(
            f"The file is larger than {limits.max_bytes:,} bytes; nothing was stored.",
            field="file",
        ) from None
    if staged.size == 0:
        store.discard(staged)
        raise RuleViolationError(
            "The file is empty.", errors=[FieldError("file", "the file is empty")]
        )
    try:
        inspection = inspect(store.staged_path(staged), staged.head, declared, limits)
    except BaseException:
        store.discard(staged)
        raise
    return Received(staged, inspection)


def attach(
    session: Session,
    actor: Actor,
    case_number: str,
    body: AttachIn,
    received: Received,
    *,
    clock: Clock,
) -> DocumentRead:
    """Write the document's row and its timeline event in the case's transaction. A
    signed order that answers the case's "no signed order" finding (staff or the
    referrer, with the date it was signed) is also recorded on the case: the checks run
    again and the finding clears."""
    require(actor, "document:upload")
    referral = moves.visible_for_update(session, actor, case_number, "document.attach", clock=clock)
    answers_order = (
        body.kind is Kind.signed_order
        and may(actor, "referral:clarify")
        and any(f.get("code") in ORDER_FINDINGS for f in referral.findings)
    )
    if answers_order and body.signed_on is None:
        raise RuleViolationError(
            "Give the date the order was signed: the case is waiting for it.",
            errors=[FieldError("signed_on", "give the date the order was signed")],
        )
    document = _row(session, actor, referral, body.kind, received, clock=clock)
    moves.record_event(
        session,
        actor,
        referral,
        "document.attached",
        clock=clock,
        document_id=document.id,
        document_kind=document.kind.value,
        pages=document.pages,
        warning=bool(document.flags) or None,
    )
    if answers_order and body.signed_on is not None:
        referral_service.supply_information(
            session,
            actor,
            referral.case_number,
            ReferralClarify(
                signed_order=SignedOrderIn(signed_on=body.signed_on, signer_npi=body.signer_npi),
                note=body.note or "Signed order attached.",
            ),
            clock=clock,
        )
    return to_read(referral.case_number, document)


def _row(
    session: Session,
    actor: Actor,
    referral: Referral,
    kind: Kind,
    received: Received,
    *,
    clock: Clock,
) -> Document:
    staged, found = received.staged, received.inspection
    return repository.add(
        session,
        Document(
            referral_id=referral.id,
            kind=kind,
            media_type=found.media_type,
            sha256=staged.sha256,
            size=staged.size,
            pages=found.pages,
            flags=[f.value for f in found.flags],
            staging_token=staged.token,
            uploaded_at=clock.now(),
            uploaded_by_user_id=actor.user_id,
            uploaded_by_label=actor.label[:200],
            uploaded_by_role=actor.role.value,
        ),
    )


def put_in_place(
    database: Database, store: DocumentStore, staged: Staged, document_id: int
) -> bool:
    """After the commit: move the file into the store, then mark the row confirmed. A
    failure is logged and left to the sweep (the upload itself has succeeded)."""
    try:
        store.promote(staged)
        with database.unit_of_work() as session:
            repository.confirm_stored(session, document_id)
    except Exception as exc:
        log.error("document.promote_failed", document_id=document_id, error_type=type(exc).__name__)
        return False
    return True


def to_read(case_number: str, d: Document) -> DocumentRead:
    return DocumentRead(
        id=d.id,
        kind=d.kind,
        kind_label=KIND_LABELS[d.kind],
        media_type=d.media_type,
        size=d.size,
        pages=d.pages,
        sha256=d.sha256,
        uploaded_at=d.uploaded_at,
        uploaded_by=d.uploaded_by_label,
        flags=list(d.flags),
        warnings=[FLAG_LABELS[Flag(f)] for f in d.flags if f in Flag.__members__],
        download=f"/api/v1/referrals/{case_number}/documents/{d.id}",
    )


def list_documents(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> DocumentList:
    """The case's documents, newest first (read audited); 404 for a case not visible."""
    require(actor, "document:read")
    referral = moves.visible(session, actor, case_number, "document.list", clock=clock)
    rows = repository.of_case(session, referral.id)
    return DocumentList(items=[to_read(referral.case_number, d) for d in rows])


@dataclass(frozen=True, slots=True)
class Download:
    sha256: str
    media_type: MediaType
    filename: str
    size: int


def get_download(
    session: Session, actor: Actor, case_number: str, document_id: int, *, clock: Clock
) -> Download:
    """One document to download, audited; 404 (the same answer) for a case the actor
    may not see or a document not on it."""
    require(actor, "document:read")
    referral = moves.visible(session, actor, case_number, "document.read", clock=clock)
    document = repository.get_of_case(session, referral.id, document_id)
    if document is None:
        raise DocumentNotFoundError("There is no such document on this case that you can see.")
    audit.record(
        session,
        actor,
        "document.download",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
        detail={"document_id": document.id},
    )
    return Download(
        document.sha256,
        document.media_type,
        download_name(referral.case_number, document.kind, document.id, document.media_type),
        document.size,
    )


def sweep(
    session: Session, store: DocumentStore, *, clock: Clock, grace: timedelta
) -> Counter[str]:
    """Finish or undo what crashes left, for anything older than ``grace``:

    - a row whose file still waits in staging: the move is finished;
    - a row whose file is gone from staging and not in place: the row is removed, with
      a timeline event saying the file was lost (it must be sent again);
    - a staged file no row names: removed;
    - a file in place that no row names: removed.
    """
    done: Counter[str] = Counter()
    cutoff = clock.now() - grace
    for document in repository.waiting_before(session, cutoff):
        token = document.staging_token or ""
        if store.exists(document.sha256) or store.promote_token(token, document.sha256):
            repository.confirm_stored(session, document.id)
            done["documents_finished"] += 1
            continue
        referral = moves.locked(session, document.referral_id)
        moves.record_event(
            session,
            SYSTEM_ACTOR,
            referral,
            "document.lost",
            clock=clock,
            document_id=document.id,
            document_kind=document.kind.value,
        )
        repository.remove(session, document.id)
        done["documents_lost"] += 1
    staged = [e for e in store.staging() if e.written_at < cutoff]
    named = repository.by_staging_token(session, [e.key for e in staged])
    faxes = repository.fax_hashes(session, [e.sha256 for e in staged if e.key not in named])
    for entry in staged:
        if entry.key in named:
            continue
        if entry.sha256 in faxes and store.promote_token(entry.key, entry.sha256):
            # A fax recorded as a draft whose move into place was cut short.
            done["faxes_finished"] += 1
            continue
        store.discard_token(entry.key)
        done["staged_removed"] += 1
    in_place = [e for e in store.stored() if e.written_at < cutoff]
    known = repository.known_hashes(session, [e.sha256 for e in in_place])
    for entry in in_place:
        if entry.sha256 not in known:
            store.delete(entry.sha256)
            done["files_removed"] += 1
    return done
