"""RFC 9457 problem+json for every error the API answers."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from careloop.core.errors import DomainError, FieldError, TooManyRequestsError

log = structlog.get_logger("careloop.web")

PROBLEM_MEDIA_TYPE = "application/problem+json"

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_failed", "The request has invalid fields"),
    500: ("internal_error", "Internal error"),
    503: ("unavailable", "Service unavailable"),
}


#: Paths whose callers are programs: they get problem+json (FHIR its OperationOutcome)
#: whatever they accept. Any other path is the portal's.
_API_PATHS = ("/api/", "/fhir", "/docs", "/openapi.json", "/healthz", "/static/")


def is_page_request(path: str, accept: str) -> bool:
    """A browser asking for one of the portal's pages: it is answered with a page."""
    return not path.startswith(_API_PATHS) and "text/html" in accept


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[FieldError] | tuple[FieldError, ...] = (),
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    if extra:
        body.update(extra)
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def domain_error(request: Request, exc: Exception) -> JSONResponse:
    """A DomainError as problem+json (the API's handler; other handlers may defer to it)."""
    assert isinstance(exc, DomainError)
    errors = list(exc.errors)
    if not errors and exc.field and exc.status == 422:
        errors = [FieldError(exc.field, exc.detail)]
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.retry_after)}
    log.info("http.domain_error", code=exc.code, status=exc.status)
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=errors,
        extra=exc.extra,
        headers=headers,
    )


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "date_from_datetime_parsing": "must be a date written YYYY-MM-DD",
    "date_parsing": "must be a date written YYYY-MM-DD",
    "date_type": "must be a date written YYYY-MM-DD",
    "timezone_aware": "must include a time zone offset, e.g. 2026-11-26T15:00:00-05:00",
}


#: Pydantic's bounds, as the rule in plain words (its own texts say "String should have at
#: most 100 characters", "Input should be greater than 0", "List should have at least 1
#: item after validation, not 0": words of the code, shown beside a form's field too).
_BOUNDS = {
    "string_too_long": "must be at most {max_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_long": "must have at most {max_length} entries",
    "too_short": "must have at least {min_length} entries",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be yes or no",
    "string_pattern_mismatch": "is not written the way this field is",
    "datetime_parsing": "must be a date and time, e.g. 2026-11-26T15:00:00-05:00",
    "datetime_from_date_parsing": "must be a date and time, e.g. 2026-11-26T15:00:00-05:00",
    "time_parsing": "must be a time written HH:MM",
}
_ONE = {
    "string_too_short": "must not be empty",
    "too_short": "must have at least one entry",
    "too_long": "must have one entry at most",
}


def _message(err: Any) -> str:
    kind = err.get("type", "")
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    bounds = err.get("ctx") or {}
    if kind in _ONE and 1 in (bounds.get("min_length"), bounds.get("max_length")):
        return _ONE[kind]
    if kind in _BOUNDS:
        try:
            return _BOUNDS[kind].format(**bounds)
        except (KeyError, IndexError):
            pass
    message = str(err.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def field_errors(errors: list[Any]) -> list[FieldError]:
    """Pydantic errors as {field, message}; the message names the rule in plain words."""
    return [FieldError(_field_path(tuple(err.get("loc", ()))), _message(err)) for err in errors]


def request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(list(exc.errors()))
    return problem(
        request,
        status=422,
        code="validation_failed",
        title="The request has invalid fields",
        detail=f"{len(errors)} field(s) are invalid",
        errors=errors,
    )


def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        # Starlette names only the first route matching the path; name them all.
        headers["Allow"] = ", ".join(sorted(_methods_for(request)))
    return problem(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=headers or None,
    )


def _methods_for(request: Request) -> set[str]:
    """The methods the published API offers on this path (from its OpenAPI document)."""
    wanted = request.url.path.rstrip("/").split("/")
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = template.rstrip("/").split("/")
        if len(parts) == len(wanted) and all(
            p == w or (p.startswith("{") and w) for p, w in zip(parts, wanted, strict=True)
        ):
            methods |= {method.upper() for method in operations}
    return methods


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
