"""Domain errors: raised by services, rendered at the edge (problem+json, pages, FHIR)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one submitted field; ``field`` is a dotted path into the request."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every expected business outcome that is not a success.

    ``code`` is stable snake_case (clients switch on it), ``status`` the HTTP hint.
    ``detail`` never carries PHI or driver text: it is shown to callers and logged.
    """

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Request could not be completed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        errors: Sequence[FieldError] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.field = field
        self.errors = tuple(errors)
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class NotFoundError(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict with the current state"


class ForbiddenError(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed for your role"


class UnauthenticatedError(DomainError):
    code = "unauthenticated"
    status = 401
    title = "Authentication required"


class TooManyRequestsError(DomainError):
    """Too many attempts in too short a while; ``retry_after`` (whole seconds) says when
    the next one will be heard, and becomes the Retry-After header."""

    code = "too_many_requests"
    status = 429
    title = "Too many attempts; wait and try again"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, extra={"retry_after": retry_after})
        self.retry_after = retry_after


class RuleViolationError(DomainError):
    """Submitted data breaks a rule that makes the request impossible (422)."""

    code = "validation_failed"
    status = 422
    title = "The request has invalid fields"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"
    title = "That move is not allowed from the current status"
