"""Import errors."""

from __future__ import annotations

from careloop.core.errors import NotFoundError, RuleViolationError


class ImportNotFoundError(NotFoundError):
    code = "import_not_found"
    title = "No such import"


class ImportTooLargeError(RuleViolationError):
    code = "import_too_large"
    title = "The file is too large to upload"
