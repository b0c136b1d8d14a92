"""JSON routes of a case's documents: upload (multipart), list, download."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from careloop.core.errors import RuleViolationError
from careloop.db.session import Database
from careloop.document import service
from careloop.document.errors import DocumentNotFoundError
from careloop.document.rules import Kind
from careloop.document.schemas import AttachIn, DocumentList, DocumentRead
from careloop.identity.permissions import require
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.problems import field_errors
from careloop.web.transaction import Credentials, clock_of, run_use_case, use_case
from careloop.web.upload import read_upload, store_of

router = APIRouter(prefix="/api/v1/referrals", tags=["documents"])

DocumentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The document's id")]

#: The paths whose POST bodies are file uploads (web.middleware gives them their limit).
UPLOAD_PATHS = r"/api/v1/referrals/[A-Za-z0-9-]{1,40}/documents"

_CASE = {
    **COMMON,
    404: {"description": "No such case or document, or not yours to see", **PROBLEM},
}
_UPLOAD = {
    **_CASE,
    400: {"description": "A malformed multipart body", **PROBLEM},
    413: {"description": "The file is larger than the limit (20 MB by default)", **PROBLEM},
    415: {
        "description": (
            "Not multipart/form-data, or a file that is not a PDF, PNG, JPEG or TIFF by its "
            "content (an archive, a program, or a type that lies about itself)"
        ),
        **PROBLEM,
    },
    422: {
        "description": (
            "Invalid fields, each named; or a file that does not open as its type, has too "
            "many pages, or is an image too large to decode (a decompression bomb)"
        ),
        **PROBLEM,
    },
}

_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": [k.value for k in Kind]},
                        "signed_on": {"type": "string", "format": "date"},
                        "signer_npi": {"type": "string"},
                        "note": {"type": "string"},
                    },
                }
            }
        },
    }
}


def attach_body(fields: dict[str, str]) -> AttachIn:
    """The upload's text fields as :class:`AttachIn` (422 naming each bad field)."""
    data = {k: v for k, v in fields.items() if k in AttachIn.model_fields and v.strip()}
    try:
        return AttachIn.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(list(exc.errors(include_url=False, include_input=False)))
        raise RuleViolationError(
            f"{len(errors)} field(s) are invalid; nothing was stored.", errors=errors
        ) from None


@router.post(
    "/{case_number}/documents",
    status_code=201,
    response_model=DocumentRead,
    summary="Attach a document to a case (multipart: file, kind)",
    description=(
        "The file must be a PDF, PNG, JPEG or TIFF by its content (the name and the part's "
        "type are not trusted; the server names the file). A PDF with scripts or attached "
        "files is stored and flagged (`flags`, `warnings`). A signed order answering the "
        "case's missing-order finding gives `signed_on` (and `signer_npi` if known): the "
        "checks run again and the finding clears."
    ),
    responses=_UPLOAD,
    openapi_extra=_FORM_SCHEMA,
)
async def upload(case_number: str, request: Request, credentials: Credentials) -> DocumentRead:
    clock = clock_of(request)
    # Who may upload is known before a byte of the body is read.
    await use_case(request, credentials, lambda _s, actor: require(actor, "document:upload"))
    sent = await read_upload(request)
    store = store_of(request)
    try:
        body = attach_body(sent.fields)
        result = await use_case(
            request,
            credentials,
            lambda session, actor: service.attach(
                session, actor, case_number, body, sent.received, clock=clock
            ),
        )
    except BaseException:
        store.discard(sent.received.staged)
        raise
    database: Database = request.app.state.database
    await run_in_threadpool(service.put_in_place, database, store, sent.received.staged, result.id)
    return result


@router.get(
    "/{case_number}/documents",
    response_model=DocumentList,
    summary="The documents of a case, newest first",
    responses=_CASE,
)
def list_documents(case_number: str, request: Request, credentials: Credentials) -> DocumentList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_documents(session, actor, case_number, clock=clock),
    )


@router.get(
    "/{case_number}/documents/{document_id}",
    summary="Download one document (always as an attachment)",
    responses={**_CASE, 200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
def download(
    case_number: str, document_id: DocumentId, request: Request, credentials: Credentials
) -> Response:
    clock = clock_of(request)
    found = run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_download(
            session, actor, case_number, document_id, clock=clock
        ),
    )
    return file_response(request, found)


def file_response(request: Request, found: service.Download) -> Response:
    """The stored file, sent as an attachment that no browser renders (the security
    headers middleware adds ``X-Content-Type-Options: nosniff`` to every response)."""
    try:
        handle = store_of(request).open(found.sha256)
    except FileNotFoundError:
        raise DocumentNotFoundError("The file of this document is not available.") from None

    def chunks() -> object:
        with handle:
            while chunk := handle.read(1 << 16):
                yield chunk

    return StreamingResponse(
        chunks(),  # type: ignore[arg-type]
        media_type=found.media_type.value,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
