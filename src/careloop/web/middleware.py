"""ASGI middleware: request ids, an access log without PHI, and a body-size limit that
answers 413 before anything is parsed."""

from __future__ import annotations

import re
import time
import traceback
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careloop.web.problems import is_page_request

log = structlog.get_logger("careloop.http")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _problem_bytes(status: int, code: str, title: str, detail: str, path: str) -> bytes:
    return orjson.dumps(
        {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "instance": path,
            "code": code,
        }
    )


class RequestContextMiddleware:
    """Give every request an id (X-Request-ID, echoed back) and log one line per request:
    method, route path, status and duration. Query strings are never logged: a search
    by member name is PHI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answer here and do not re-raise: the server would log the exception's
            # message, and a driver or domain message can quote member data.
            unavailable = _database_unavailable(exc)
            status = 503 if unavailable else 500
            _log_unexpected(exc)
            if not started_response:
                accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
                if is_page_request(scope["path"], accept):
                    await _send_error_page(send_with_id, request_id, unavailable)
                else:
                    await _send_error(send_with_id, scope["path"], request_id, unavailable)
        finally:
            route = scope.get("route")
            log.info(
                "http.request",
                method=scope["method"],
                # The route template, never the raw path: an unmatched URL may carry PHI.
                path=getattr(route, "path", "<unmatched>"),
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _log_unexpected(exc: BaseException) -> None:
    """Where it failed, without the exception's message (which may quote member data)."""
    log.error(
        "http.unhandled_error",
        error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        where=[
            f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)
        ],
    )


def _database_unavailable(exc: BaseException) -> bool:
    """The database went away or is full: the request may be retried (503), nothing of
    it was committed."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


async def _send_error(send: Send, path: str, request_id: str, unavailable: bool) -> None:
    if unavailable:
        status, code, title = 503, "database_unavailable", "Database unavailable"
        detail = "The database did not answer; nothing was saved. Retry in a few seconds."
    else:
        status, code, title = 500, "internal_error", "Internal error"
        detail = "Something went wrong on our side; quote the request_id when reporting it."
    body = orjson.loads(_problem_bytes(status, code, title, detail, path))
    body["request_id"] = request_id
    payload = orjson.dumps(body)
    headers: list[Any] = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


#: The page a browser reads when a portal page fails: no template (whatever failed may
#: be what renders pages), the portal's style sheet, the reference to quote.
_ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · CareLoop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/css/portal.css"></head>
<body><main id="main"><section class="panel narrow" role="alert">
<h1>{title}</h1><p class="lead">{detail}</p>
<p>If it happens again, tell your administrator this reference: {request_id}.</p>
<p><a class="button" href="/">Back to the start</a></p>
</section></main></body></html>"""


async def _send_error_page(send: Send, request_id: str, unavailable: bool) -> None:
    if unavailable:
        status, title = 503, "CareLoop cannot reach its database"
        detail = "Nothing was saved. Wait a few seconds, then try again."
    else:
        status, title = 500, "Something went wrong on our side"
        detail = (
            "This page could not be shown. Go back and check whether your change is "
            "there before you send it again."
        )
    payload = _ERROR_PAGE.format(title=title, detail=detail, request_id=request_id).encode()
    headers: list[Any] = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: at once when Content-Length says so,
    and while streaming when it does not (chunked uploads)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        uploads: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take a file (POST only: documents, faxes, bulk imports), each pattern
        # with its own, larger limit.
        self.uploads = tuple(uploads)

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "POST":
            for pattern, limit in self.uploads:
                if pattern.fullmatch(scope["path"]):
                    return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(scope, send, limit)
                return
        received = 0
        refused = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        body = _problem_bytes(
            413,
            "payload_too_large",
            "Request body too large",
            f"The body is larger than {limit} bytes.",
            scope["path"],
        )
        headers: list[Any] = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(BaseException):  # passes through handlers that catch Exception
    pass
