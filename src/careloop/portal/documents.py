"""The documents panel of the case page (staff, the referrer, the accepted provider):
the case's documents in plain words with a download link each, and a form to attach
one. The same services as the API; a refused file comes back beside the form, and
nothing of it is kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from careloop.core.errors import DomainError, FieldError, RuleViolationError
from careloop.db.session import Database
from careloop.document import Kind
from careloop.document import service as document_service
from careloop.document.api import attach_body
from careloop.document.errors import DocumentNotFoundError
from careloop.document.store import Staged
from careloop.packet import api as packet_api
from careloop.packet import service as packet_service
from careloop.portal import presenters
from careloop.portal.cases import CaseNumber, move_and_return
from careloop.portal.web import Download, PageContext, page
from careloop.web.upload import MAX_FIELDS, limits_of, store_of

router = APIRouter(include_in_schema=False)

#: The page paths whose POST bodies are file uploads (web.middleware's upload limit).
UPLOAD_PATHS = [r"/cases/[A-Za-z0-9-]{3,40}/documents"]

DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.post("/cases/{case_number}/documents")
async def attach(request: Request, case_number: CaseNumber) -> Response:
    """Attach a file: the form's fields and its one file (checked by its content)."""
    cn = case_number.upper()
    form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=64_000)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    upload = next(
        (v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)), None
    )
    store = store_of(request)
    limits = limits_of(request.app.state.settings)
    staged: list[Staged] = []
    attached: list[int] = []

    def move(ctx: PageContext) -> str:
        sent = {k: v for k, v in fields.items() if k != "csrf_token"}
        if "kind" in sent:
            sent["kind"] = sent["kind"].replace("-", "_")
        body = attach_body(sent)
        if upload is None or not upload.size:
            raise RuleViolationError(
                "No file was chosen.", errors=[FieldError("file", "choose the file to attach")]
            )
        try:
            received = document_service.receive(store, upload.file, upload.content_type, limits)
        except RuleViolationError:
            raise
        except DomainError as exc:  # 413, 415: shown beside the form like any refusal
            raise RuleViolationError(exc.detail, errors=[FieldError("file", exc.detail)]) from None
        staged.append(received.staged)
        document = document_service.attach(
            ctx.session, ctx.actor, cn, body, received, clock=ctx.clock
        )
        attached.append(document.id)
        return "order_attached" if body.kind is Kind.signed_order and body.signed_on else "document"

    try:
        response = await move_and_return(request, fields, cn, move, "document", prefix="document")
    finally:
        await form.close()
    if attached and response.status_code == 303:
        database: Database = request.app.state.database
        await run_in_threadpool(
            document_service.put_in_place,
            database,
            store,
            staged[0],
            attached[0],
        )
    elif staged:
        store.discard(staged[0])
    return response


@router.get("/cases/{case_number}/documents/{document_id}")
async def download(request: Request, case_number: CaseNumber, document_id: DocumentId) -> Response:
    """One document, as an attachment (never shown in the browser), read audited."""
    cn = case_number.upper()
    store = store_of(request)

    def work(ctx: PageContext) -> Download:
        found = document_service.get_download(
            ctx.session, ctx.actor, cn, document_id, clock=ctx.clock
        )
        try:
            with store.open(found.sha256) as handle:
                body = handle.read()
        except FileNotFoundError:
            raise DocumentNotFoundError("The file of this document is not available.") from None
        return Download(body, found.media_type.value, found.filename, attachment=True)

    return await page(request, work)


@router.get("/cases/{case_number}/packet.pdf")
async def packet(request: Request, case_number: CaseNumber) -> Response:
    """The case packet (staff only; 404 for anyone else), its SHA-256 on the timeline."""
    cn = case_number.upper()
    store = store_of(request)

    def work(ctx: PageContext) -> Download:
        made = packet_service.build_packet(
            ctx.session,
            ctx.actor,
            cn,
            clock=ctx.clock,
            store=store,
            describe=packet_api.describe,
            status_words=presenters.status_words,
        )
        return Download(
            made.pdf, "application/pdf", f"packet-{made.case_number}.pdf", attachment=True
        )

    return await page(request, work)
