"""Errors answered before a /fhir route runs (no such route or method, a body over the
limit, a failure of ours) come from the app's own middleware and handlers as
problem+json; under /fhir they leave as the OperationOutcome a FHIR client reads."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

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
        refused = unacceptable(scope)
        if refused is not None:
            message = (
                f"This server answers in FHIR JSON only (application/fhir+json), not {refused}."
            )
            payload = orjson.dumps(outcome([Issue("error", "not-supported", message)]))
            headers = [
                (b"content-type", FHIR_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
            ]
            await send({"type": "http.response.start", "status": 406, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
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


#: What ``_format`` or ``Accept`` may name for a JSON answer (FHIR R4 http.html#mime-type).
_JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "text/json", "*/*", "application/*"}
)


def unacceptable(scope: Scope) -> str | None:
    """The format a /fhir request asks for that is not JSON (``_format`` first, else
    ``Accept`` when none of its media ranges takes JSON), or None."""
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "_format":
            # An unescaped '+' (application/fhir+json) arrives as a space.
            wanted = value.split(";")[0].strip().lower().replace(" ", "+")
            return None if wanted in _JSON_FORMATS else (wanted or "an empty _format")
    accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
    ranges = [r for r in (_media_range(part) for part in accept.split(",")) if r is not None]
    if not ranges or any(media in _JSON_FORMATS for media in ranges):
        return None
    return ", ".join(ranges)[:80]


def _media_range(part: str) -> str | None:
    """A media range of an Accept header, None when empty or given no weight (q=0)."""
    media, *params = (p.strip().lower() for p in part.split(";"))
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            try:
                if float(value) <= 0:
                    return None
            except ValueError:
                return None
    return media or None


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
