"""Errors answered before a /fhir route runs (no such route or method, a body over the
limit, a failure of ours) come from the app's own middleware and handlers as
problem+json; under /fhir they leave as the OperationOutcome a FHIR client reads."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careloop.fhir.outcome import FHIR_JSON, Issue, error, outcome

PREFIX = "/fhir"
_PROBLEM = b"application/problem+json"
#: Headers that describe the body being replaced.
_BODY_HEADERS = frozenset({b"content-type", b"content-length"})


class FhirErrorsMiddleware:
    """Rewrite a problem+json answer to a /fhir request as an OperationOutcome with the
    same status and headers (Allow, WWW-Authenticate, X-Request-ID)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and start is None:
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").split(b";")[0] == _PROBLEM:
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _send_outcome(send, start, b"".join(chunks))
                return
            await send(message)

        await self.app(scope, receive, rewrite)


async def _send_outcome(send: Send, start: Message, problem: bytes) -> None:
    status = int(start["status"])
    try:
        body: Any = orjson.loads(problem)
    except orjson.JSONDecodeError:
        body = {}
    fields = body if isinstance(body, dict) else {}
    diagnostics = str(fields.get("detail") or fields.get("title") or "The request failed.")
    if fields.get("request_id"):
        diagnostics += f" (request id {fields['request_id']})"
    issues: list[Issue] = list(error(status, diagnostics).issues)
    payload = orjson.dumps(outcome(issues))
    headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() not in _BODY_HEADERS]
    headers += [
        (b"content-type", FHIR_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
