"""Object-level isolation over the JSON API (RELIABILITY.md row 3, issue 9).

Every id-bearing operation of the published OpenAPI document is called by every party
that is a stranger to the object it names (tests/factories/world.py says who is
entitled to what), with a minimal valid body (the operation's documented example). A
stranger's object must answer exactly like an id that exists nowhere: the same status
(404, or 403 when the role may not do this to anything), the same problem body, the same
headers (no Location, no ETag), and nothing may change in the data.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from tests.crossparty import (
    MADE_UP,
    OBJECT_PARAMS,
    Route,
    changed_tables,
    comparable,
    id_bearing_routes,
    path_values,
    snapshot,
    visible_headers,
)
from tests.factories.world import PARTIES, SCRIPT_MEMBERS, Member, World, build_world


def _example_body(app: FastAPI, route: Route) -> dict[str, Any] | None:
    """The operation's documented example: a minimal valid body for it."""
    operation = app.openapi()["paths"][route.template][route.method.lower()]
    body = operation.get("requestBody")
    if body is None:
        return None
    media = body["content"]["application/json"]
    assert "example" in media or not body.get("required"), f"{route}: document an example body"
    example: dict[str, Any] = media.get("example", {})
    return example


def _call(
    client: TestClient, route: Route, url: str, token: str, body: dict[str, Any] | None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if body is None:
        return client.request(route.method, url, headers=headers)
    return client.request(route.method, url, json=body, headers=headers)


def cross_party_failures(
    app: FastAPI, client: TestClient, connection: Connection, world: World, callers: tuple[str, ...]
) -> tuple[list[str], int]:
    """Every stranger's call on every object; what went wrong, and how many calls."""
    failures: list[str] = []
    calls = 0
    routes = id_bearing_routes(app, api=True)
    before = snapshot(connection)
    for route in routes:
        body = _example_body(app, route)
        fake_url = route.url(path_values(route, MADE_UP))
        for group in ("A", "B"):
            things = [t for t in world.things if t.group == group and t.param in route.params]
            if not things:
                continue
            values = {**MADE_UP, **{t.param: t.value for t in things}}
            url = route.url(path_values(route, values))
            ids = [t.value for t in things]
            entitled = frozenset.intersection(*(t.entitled for t in things))
            for caller in callers:
                if caller in entitled:
                    continue
                token = world.parties[caller].token
                real = _call(client, route, url, token, body)
                fake = _call(client, route, fake_url, token, body)
                calls += 1
                where = f"{route} as {caller} on {', '.join(t.label for t in things)}"
                if real.status_code < 400:
                    failures.append(f"{where}: {real.status_code} {real.text[:200]}")
                    continue
                if real.status_code == 422:
                    failures.append(f"{where}: 422 for the example body: {real.text[:200]}")
                if comparable(real, ids) != comparable(fake, MADE_UP.values()):
                    failures.append(
                        f"{where}: answered {real.status_code} {real.text[:200]!r}, "
                        f"a missing object {fake.status_code} {fake.text[:200]!r}"
                    )
                elif visible_headers(real) != visible_headers(fake):
                    failures.append(f"{where}: headers {visible_headers(real)}")
                if route.method == "GET" and real.status_code not in (403, 404):
                    failures.append(f"{where}: a read answered {real.status_code}")
    changed = changed_tables(before, snapshot(connection))
    if changed:
        failures.append(f"refused calls changed these tables: {changed}")
    return failures, calls


def test_every_id_bearing_operation_is_covered(app: FastAPI) -> None:
    """The inventory comes from the OpenAPI document, so a new operation is in the matrix
    the moment it is published; every object parameter has a made-up id."""
    routes = id_bearing_routes(app, api=True)
    assert len(routes) >= 28
    assert {p for r in routes for p in r.params} <= OBJECT_PARAMS
    assert set(MADE_UP) == OBJECT_PARAMS


def test_no_party_reaches_another_partys_objects(
    app: FastAPI, client: TestClient, session: Session, connection: Connection, clock: FixedClock
) -> None:
    world = build_world(session, client, clock)
    assert {t.param for t in world.things} == OBJECT_PARAMS
    failures, calls = cross_party_failures(app, client, connection, world, PARTIES)
    assert not failures, "\n".join(failures)
    assert calls >= 200


def test_the_entitled_parties_do_see_their_objects(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    """The matrix's control: the allow-list is not vacuous. Every entitled party reads
    the case; on its other objects a role may be refused the action (403), never the
    object (404)."""
    world = build_world(session, client, clock)
    reads = {
        "case_number": "/api/v1/referrals/{}",
        "offer_id": "/api/v1/offers/{}",
        "provider_id": "/api/v1/providers/{}",
        "appointment_id": "/api/v1/appointments/{}",
    }
    for thing in world.things:
        if thing.param not in reads:
            continue
        for party in thing.entitled:
            response = client.get(
                reads[thing.param].format(thing.value), headers=world.parties[party].header
            )
            where = f"{party} on {thing.label}: {response.text}"
            if thing.param == "case_number":
                assert response.status_code == 200, where
            else:
                assert response.status_code in (200, 403), where


@pytest.mark.xfail(
    strict=True,
    reason="issue 9: member access rests on a name key that drops every non-Latin letter, "
    "so two members born the same day with names in other scripts are one person; "
    "fixed by the explicit member link (then remove this mark)",
)
def test_members_named_in_other_scripts_and_born_the_same_day_stay_apart(
    app: FastAPI, client: TestClient, session: Session, connection: Connection, clock: FixedClock
) -> None:
    members: tuple[Member, Member] = SCRIPT_MEMBERS
    world = build_world(session, client, clock, members)
    failures, _ = cross_party_failures(app, client, connection, world, ("member_1", "member_2"))
    assert not failures, "\n".join(failures)
