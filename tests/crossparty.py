"""What the cross-party matrices of tests/api and tests/portal share: the id-bearing
routes taken from the app itself, made-up ids, answers compared with the answer for a
missing object, and a snapshot of the data that a refused call must leave as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import Response
from sqlalchemy import Connection, text
from starlette.routing import Mount

from careloop.db.models import Base

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")

#: Path parameters that name an object of some party: the matrix fills them.
OBJECT_PARAMS = frozenset(
    {"case_number", "provider_id", "offer_id", "authorization_id", "appointment_id", "clock_id"}
)
#: Path parameters that name no one's object (a code system, an error code).
NOT_OBJECTS = {"system": "icd10", "code": "not_found"}
#: Ids that exist nowhere; a stranger's object must answer exactly like them.
MADE_UP = {
    "case_number": "CL-2026-999999",
    "provider_id": "2147483000",
    "offer_id": "2147483000",
    "authorization_id": "2147483000",
    "appointment_id": "2147483000",
    "clock_id": "2147483000",
}
#: Tables whose rows bookkeep sign-ins and access itself: a refused call writes an audit
#: record (RELIABILITY.md row 11) and touches the caller's own session, never data.
BOOKKEEPING = frozenset(
    {"audit_records", "portal_sessions", "api_tokens", "sign_in_failures", "totp_factors"}
)


@dataclass(frozen=True)
class Route:
    method: str
    template: str

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.template)

    def url(self, values: dict[str, str]) -> str:
        return _PARAM.sub(lambda m: values[m.group(1)], self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def id_bearing_routes(app: FastAPI, *, api: bool) -> list[Route]:
    """Every (method, path) of the API (``api=True``, from its OpenAPI document) or of the
    portal (from the app's router) with a path parameter naming some party's object.
    A new parameter name fails here until it is classified."""
    if api:
        found = [
            Route(method.upper(), path)
            for path, operations in app.openapi()["paths"].items()
            for method in operations
        ]
    else:
        found = []
        for route in iter_route_contexts(app.routes):
            if isinstance(route.original_route, Mount) or route.path is None:
                continue
            if route.path.startswith("/api/"):
                continue
            found += [Route(m, route.path) for m in sorted((route.methods or set()) - {"HEAD"})]
    out = []
    for route in found:
        unknown = set(route.params) - OBJECT_PARAMS - set(NOT_OBJECTS)
        assert not unknown, f"{route}: classify path parameter(s) {unknown} in tests/crossparty.py"
        if set(route.params) & OBJECT_PARAMS:
            out.append(route)
    return out


def path_values(route: Route, objects: dict[str, str]) -> dict[str, str]:
    """The route's path values: objects from ``objects``, the rest from NOT_OBJECTS."""
    values = {**NOT_OBJECTS, **objects}
    return {p: values[p] for p in route.params}


def comparable(response: Response, ids: Iterable[str]) -> tuple[int, str, str]:
    """Status, media type and body, with the ids the caller sent written as ``<id>`` and
    the request id left out: what must not differ between a stranger's object and one
    that does not exist."""
    media = response.headers.get("content-type", "")
    body = response.text
    for value in ids:
        body = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", body)
    if "json" in media:
        data: Any = json.loads(body)
        if isinstance(data, dict):
            data.pop("request_id", None)
        body = json.dumps(data, sort_keys=True)
    return response.status_code, media, body


def visible_headers(response: Response) -> dict[str, str]:
    """The headers that could name or describe an object (no request id, no length)."""
    drop = {"x-request-id", "content-length", "date", "set-cookie"}
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in drop}


def snapshot(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every data table, sorted: what a refused call may not change."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in BOOKKEEPING:
            continue
        rows = connection.execute(text(f"SELECT * FROM {table.name}")).all()  # noqa: S608
        out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def changed_tables(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]
) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def strangers(entitled: frozenset[str], parties: Iterator[str] | tuple[str, ...]) -> list[str]:
    return [p for p in parties if p not in entitled]
