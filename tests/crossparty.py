"""What the cross-party matrices of tests/api and tests/portal share: the id-bearing
routes taken from the app itself, made-up ids, answers compared with the answer for a
missing object, and a snapshot of the data that a refused call must leave as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import product
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from httpx import Response
from sqlalchemy import Connection, text
from starlette.routing import Mount

from careloop.db.models import Base
from tests.factories.world import Thing, World

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")

#: Path parameters that name an object of some party: the matrix fills them.
OBJECT_PARAMS = frozenset(
    {
        "case_number",
        "provider_id",
        "offer_id",
        "authorization_id",
        "appointment_id",
        "item_id",
        "contact_id",
        "escalation_id",
        "appeal_id",
        "grievance_id",
        "document_id",
        "fax_id",
        "job_id",
        "resource_id",  # a FHIR resource of a case (a Task's id is its case number)
        "webhook_id",
    }
)
#: Path parameters that name no one's object (a code system, an error code, a FHIR type).
NOT_OBJECTS = {
    "system": "icd10",
    "code": "not_found",
    "resource_type": "Task",
    "page_number": "1",
    # A scheduled report's run is the coordination centre's own: its pages are for staff
    # alone, refused to every other party by their role before any lookup.
    "run_id": "1",
}
#: Ids that exist nowhere; a stranger's object must answer exactly like them.
MADE_UP = {
    "case_number": "CL-2026-999999",
    "provider_id": "2147483000",
    "offer_id": "2147483000",
    "authorization_id": "2147483000",
    "appointment_id": "2147483000",
    "item_id": "2147483000",
    "contact_id": "2147483000",
    "escalation_id": "2147483000",
    "appeal_id": "2147483000",
    "grievance_id": "2147483000",
    "document_id": "2147483000",
    "fax_id": "2147483000",
    "job_id": "2147483000",
    "resource_id": "CL-2026-999999",
    "webhook_id": "2147483000",
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
    """Every (method, path) of the API (``api=True``: what the OpenAPI document publishes)
    or of the portal (the app's other routes) with a path parameter naming an object.
    A new parameter name fails here until it is classified."""
    published = [
        Route(method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    if api:
        found = published
    else:
        # The portal: what the app routes and does not publish in its OpenAPI document.
        found = []
        for route in iter_route_contexts(app.routes):
            if isinstance(route.original_route, Mount) or route.path is None:
                continue
            methods = sorted((route.methods or set()) - {"HEAD"})
            found += [
                Route(m, route.path) for m in methods if Route(m, route.path) not in published
            ]
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
        # As a path segment, a word or a form prefix (``decision_7.``), not a digit of
        # some other figure of the page.
        body = re.sub(rf"(?<=[/\s_\"']){re.escape(value)}(?=[/\s.\"'<?]|$)", "<id>", body)
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


#: Sends one call: (caller, route, url, path values) -> response.
Send = Callable[[str, Route, str, dict[str, str]], Response]


def run_matrix(
    routes: list[Route],
    world: World,
    callers: tuple[str, ...],
    send: Send,
    connection: Connection,
) -> tuple[list[str], int]:
    """Every route, with every combination of the world's objects (and made-up ids) in
    its path, called by every party that is a stranger to at least one of them. The
    answer must equal the answer with each stranger's object replaced by a made-up id;
    nothing may succeed or change. Returns what went wrong and how many calls were made."""
    failures: list[str] = []
    calls = 0
    baselines: dict[tuple[str, str, str], Response] = {}
    before = snapshot(connection)
    for route in routes:
        params = [p for p in route.params if p in OBJECT_PARAMS]
        choices: list[list[Thing | None]] = [[None, *world.of(p)] for p in params]
        for combo in product(*choices):
            if all(t is None for t in combo):
                continue
            for caller in callers:
                foreign = [t for t in combo if t is not None and caller not in t.entitled]
                if not foreign:
                    continue
                real_objects = {
                    p: t.value if t else MADE_UP[p] for p, t in zip(params, combo, strict=True)
                }
                base_objects = {
                    p: MADE_UP[p] if t is None or t in foreign else t.value
                    for p, t in zip(params, combo, strict=True)
                }
                values = path_values(route, real_objects)
                base_values = path_values(route, base_objects)
                url, base_url = route.url(values), route.url(base_values)
                real = send(caller, route, url, values)
                key = (caller, str(route), base_url)
                if key not in baselines:
                    baselines[key] = send(caller, route, base_url, base_values)
                base = baselines[key]
                calls += 1
                where = f"{route} as {caller} on {', '.join(t.label for t in foreign)}"
                failures += _judge(route, where, real, base, foreign)
    changed = changed_tables(before, snapshot(connection))
    if changed:
        failures.append(f"refused calls changed these tables: {changed}")
    return failures, calls


def _judge(
    route: Route, where: str, real: Response, base: Response, foreign: list[Thing]
) -> list[str]:
    if real.status_code < 400:
        location = real.headers.get("location", "")
        return [f"{where}: {real.status_code} {location} {real.text[:300]}"]
    out = []
    if real.status_code == 422:
        out.append(f"{where}: 422 for a valid body (fix the test's body): {real.text[:300]}")
    if route.method == "GET" and real.status_code not in (403, 404):
        out.append(f"{where}: a read answered {real.status_code}")
    made_up = [MADE_UP[t.param] for t in foreign]
    if comparable(real, [t.value for t in foreign]) != comparable(base, made_up):
        out.append(
            f"{where}: answered {real.status_code} {real.text[:300]!r}, "
            f"a missing object {base.status_code} {base.text[:300]!r}"
        )
    elif visible_headers(real) != visible_headers(base):
        out.append(f"{where}: headers {visible_headers(real)} vs {visible_headers(base)}")
    return out
