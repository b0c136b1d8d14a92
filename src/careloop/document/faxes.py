"""Faxed orders become referrals: a fax (from the inbox folder or uploaded in the
portal) is read into a draft, an intake agent checks it beside the page image, corrects
it and submits it; the case keeps the fax as its faxed-order document.

The entry point stages and checks the file (``service.receive``), reads it outside any
transaction (:func:`read_staged`: OCR takes seconds), records the draft with
:func:`record_fax`, commits, and only then puts the file in place (as every document).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, NotFoundError
from careloop.document import repository
from careloop.document.fax import extract, sureness
from careloop.document.models import Document, FaxDraft
from careloop.document.reading import Reading, page_png, read
from careloop.document.rules import Kind, MediaType
from careloop.document.service import Received
from careloop.document.store import DocumentStore
from careloop.identity.permissions import require
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.schemas import ReferralCreate


class FaxNotFoundError(NotFoundError):
    code = "fax_not_found"
    title = "Not found"


class FaxAlreadySubmittedError(ConflictError):
    code = "fax_already_submitted"
    title = "This fax is already a referral"


class FieldRead(BaseModel):
    value: str
    page: int
    line: int
    confidence: float
    sureness: str


class FaxDraftRead(BaseModel):
    id: int
    status: str
    source: str
    received_at: datetime
    media_type: MediaType
    pages: int
    method: str
    fields: dict[str, FieldRead]
    lines: list[tuple[int, int, str]]
    case_number: str | None
    sha256: str


def read_staged(store: DocumentStore, received: Received) -> Reading:
    """The fax's text, from its staged file (before any transaction)."""
    return read(store.staged_path(received.staged), received.inspection.media_type)


def record_fax(
    session: Session,
    actor: Actor,
    received: Received,
    reading: Reading,
    *,
    source: str,
    clock: Clock,
) -> FaxDraftRead:
    require(actor, "fax:manage")
    found = extract(reading.lines)
    fax = repository.add_fax(
        session,
        FaxDraft(
            status="open",
            source=source,
            received_at=clock.now(),
            received_by_label=actor.label[:200],
            media_type=received.inspection.media_type,
            sha256=received.staged.sha256,
            size=received.staged.size,
            pages=received.inspection.pages,
            method=reading.method,
            fields={
                f.field: {
                    "value": f.value,
                    "page": f.page,
                    "line": f.line,
                    "confidence": f.confidence,
                }
                for f in found
            },
            lines=[[line.page, line.number, line.text] for line in reading.lines],
        ),
    )
    audit.record(session, actor, "fax.received", clock=clock, detail={"fax_id": fax.id})
    return to_read(fax)


def to_read(fax: FaxDraft) -> FaxDraftRead:
    return FaxDraftRead(
        id=fax.id,
        status=fax.status,
        source=fax.source,
        received_at=fax.received_at,
        media_type=fax.media_type,
        pages=fax.pages,
        method=fax.method,
        fields={
            name: FieldRead(**f, sureness=sureness(float(f["confidence"])))
            for name, f in fax.fields.items()
        },
        lines=[(int(p), int(n), str(t)) for p, n, t in fax.lines],
        case_number=fax.case_number,
        sha256=fax.sha256,
    )


def list_faxes(session: Session, actor: Actor) -> list[FaxDraftRead]:
    """The faxes waiting for an intake agent, oldest first."""
    require(actor, "fax:manage")
    return [to_read(f) for f in repository.open_faxes(session)]


def get_fax(session: Session, actor: Actor, fax_id: int, *, clock: Clock) -> FaxDraftRead:
    """One fax draft, read audited (it holds a member's details)."""
    require(actor, "fax:manage")
    fax = repository.get_fax(session, fax_id)
    if fax is None:
        raise FaxNotFoundError("There is no such fax.")
    audit.record(session, actor, "fax.read", clock=clock, detail={"fax_id": fax.id})
    return to_read(fax)


def draft_form(fax: FaxDraftRead) -> dict[str, str]:
    """What the referral form starts with: every field read, and the form's defaults
    for an order that came by fax."""
    values = {name: f.value for name, f in fax.fields.items()}
    values.setdefault("channel", "fax")
    values.setdefault("urgency", "routine")
    for n in range(3):
        if f"items.{n}.code" in values:
            values.setdefault(f"items.{n}.code_system", "HCPCS")
            values.setdefault(f"items.{n}.quantity", "1")
    return values


@dataclass(frozen=True)
class Submitted:
    case_number: str
    body: str


def submit_fax(
    session: Session, actor: Actor, fax_id: int, draft: ReferralCreate, *, clock: Clock
) -> Submitted:
    """The agent's corrected draft becomes a referral (checked like any other); the fax
    becomes the case's faxed-order document."""
    require(actor, "fax:manage")
    fax = repository.get_fax(session, fax_id, for_update=True)
    if fax is None:
        raise FaxNotFoundError("There is no such fax.")
    if fax.status != "open":
        raise FaxAlreadySubmittedError(f"This fax is already referral {fax.case_number}.")
    submission = referral_service.submit_referral(session, actor, draft, clock=clock)
    referral = moves.visible_for_update(
        session, actor, submission.case_number, "document.attach", clock=clock
    )
    document = repository.add(
        session,
        Document(
            referral_id=referral.id,
            kind=Kind.faxed_order,
            media_type=fax.media_type,
            sha256=fax.sha256,
            size=fax.size,
            pages=fax.pages,
            flags=[],
            staging_token=None,
            uploaded_at=clock.now(),
            uploaded_by_user_id=actor.user_id,
            uploaded_by_label=actor.label[:200],
            uploaded_by_role=actor.role.value,
        ),
    )
    corrected = sorted(
        name
        for name, value in _submitted_values(draft).items()
        if name in fax.fields and str(fax.fields[name]["value"]) != value
    )
    moves.record_event(
        session,
        actor,
        referral,
        "document.attached",
        clock=clock,
        document_id=document.id,
        document_kind=Kind.faxed_order.value,
        pages=fax.pages,
        corrected_fields=len(corrected),
    )
    fax.status = "submitted"
    fax.referral_id = referral.id
    fax.case_number = referral.case_number
    fax.submitted_at = clock.now()
    fax.submitted_by_label = actor.label[:200]
    return Submitted(referral.case_number, submission.body)


def _submitted_values(draft: ReferralCreate) -> Mapping[str, str]:
    data: dict[str, Any] = draft.model_dump(mode="json")
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)
        elif value is not None:
            out[prefix] = str(value)

    walk("", data)
    return out


def fax_page_png(store: DocumentStore, fax: FaxDraftRead, page: int) -> bytes | None:
    """Page ``page`` of the fax as an image to show beside the draft."""
    try:
        handle = store.open(fax.sha256)
    except FileNotFoundError:
        return None
    with handle:
        content = io.BytesIO(handle.read())
    return page_png(content, fax.media_type, page)
