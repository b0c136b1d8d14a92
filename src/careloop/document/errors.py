"""Document errors (the file's own refusals are in ``inspect``)."""

from __future__ import annotations

from careloop.core.errors import DomainError, NotFoundError


class DocumentNotFoundError(NotFoundError):
    code = "document_not_found"
    title = "Not found"


class DocumentTooLargeError(DomainError):
    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class FileMissingError(DomainError):
    code = "file_missing"
    status = 422
    title = "No file was sent"
