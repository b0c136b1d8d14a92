"""File uploads (multipart/form-data) for the JSON API and the portal alike.

The caller is authenticated and its permission checked before the body is read; the
body limit (web.middleware) answers 413 as soon as Content-Length or the bytes received
pass the upload limit; the one file part is spooled by the multipart parser, copied into
the document store's staging area while hashed (``document.service.receive``), and
checked by its content. The part's file name is never read: the server names files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from careloop.core.errors import FieldError, RuleViolationError
from careloop.core.text import block_problem
from careloop.document import Limits, Received, receive
from careloop.document.store import DocumentStore
from careloop.settings import Settings
from careloop.web.body import UnsupportedMediaTypeError

#: Fields an upload form may carry besides the file (and the portal's CSRF token).
MAX_FIELDS = 12


class UploadMediaTypeError(UnsupportedMediaTypeError):
    code = "unsupported_media_type"
    title = "Send the file as multipart/form-data"


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.max_document_bytes,
        sweep_grace=timedelta(seconds=settings.document_sweep_grace_seconds),
    )


def store_of(request: Request) -> DocumentStore:
    store: DocumentStore = request.app.state.document_store
    return store


@dataclass(frozen=True)
class Upload:
    fields: dict[str, str]
    received: Received


async def read_upload(request: Request, *, field: str = "file") -> Upload:
    """The form's text fields and its one file, staged and checked; the staged file is
    the caller's to attach (then put in place) or discard."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UploadMediaTypeError(
            f"Content-Type must be multipart/form-data, not {media[:60] or 'missing'}"
        )
    settings: Settings = request.app.state.settings
    form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=64_000)
    try:
        fields: dict[str, str] = {}
        upload: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields[name] = value
            elif name == field:
                upload = value
        errors = [
            FieldError(name, problem)
            for name, value in fields.items()
            if (problem := block_problem(name) or block_problem(value))
        ]
        if errors:
            raise RuleViolationError(
                f"{len(errors)} field(s) are invalid; nothing was stored.", errors=errors
            )
        if upload is None:
            raise RuleViolationError(
                "No file was sent; nothing was stored.",
                errors=[FieldError(field, f"attach the file as the form field {field!r}")],
            )
        received = await run_in_threadpool(
            receive, store_of(request), upload.file, upload.content_type, limits_of(settings)
        )
    finally:
        await form.close()
    return Upload(fields, received)
