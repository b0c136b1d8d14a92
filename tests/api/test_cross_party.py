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

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from tests.crossparty import MADE_UP, OBJECT_PARAMS, Route, id_bearing_routes, run_matrix
from tests.factories import files
from tests.factories.world import PARTIES, SCRIPT_MEMBERS, Member, World, build_world

MULTIPART = "<multipart>"


def _example_body(app: FastAPI, route: Route) -> dict[str, Any] | None:
    """The operation's documented example: a minimal valid body for it."""
    operation = app.openapi()["paths"][route.template][route.method.lower()]
    body = operation.get("requestBody")
    if body is None:
        return None
    if "multipart/form-data" in body["content"]:
        # A file upload: a valid file and form, so that only the object can be refused.
        return {MULTIPART: True}
    media = body["content"]["application/json"]
    assert "example" in media or not body.get("required"), f"{route}: document an example body"
    example: dict[str, Any] = media.get("example", {})
    return example


def cross_party_failures(
    app: FastAPI, client: TestClient, connection: Connection, world: World, callers: tuple[str, ...]
) -> tuple[list[str], int]:
    """Every stranger's call on every object over the API; what went wrong, how many."""
    bodies = {str(route): _example_body(app, route) for route in id_bearing_routes(app, api=True)}

    def send(caller: str, route: Route, url: str, _values: dict[str, str]) -> Response:
        headers = world.parties[caller].header
        body = bodies[str(route)]
        if body is None:
            return client.request(route.method, url, headers=headers)
        if MULTIPART in body:
            return client.request(
                route.method,
                url,
                files={"file": ("notes.png", files.image("PNG"), "image/png")},
                data={"kind": "progress_notes"},
                headers=headers,
            )
        return client.request(route.method, url, json=body, headers=headers)

    return run_matrix(id_bearing_routes(app, api=True), world, callers, send, connection)


def test_every_id_bearing_operation_is_covered(app: FastAPI) -> None:
    """The inventory comes from the OpenAPI document, so a new operation is in the matrix
    the moment it is published; every object parameter has a made-up id."""
    routes = id_bearing_routes(app, api=True)
    assert len(routes) >= 28
    assert set(MADE_UP) == OBJECT_PARAMS


def test_no_party_reaches_another_partys_objects(
    app: FastAPI, client: TestClient, session: Session, connection: Connection, clock: FixedClock
) -> None:
    world = build_world(session, client, clock)
    used = {p for r in id_bearing_routes(app, api=True) for p in r.params} & OBJECT_PARAMS
    assert used <= {t.param for t in world.things}, "give the world an object of each kind"
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


def test_members_named_in_other_scripts_and_born_the_same_day_stay_apart(
    app: FastAPI, client: TestClient, session: Session, connection: Connection, clock: FixedClock
) -> None:
    members: tuple[Member, Member] = SCRIPT_MEMBERS
    world = build_world(session, client, clock, members)
    failures, _ = cross_party_failures(app, client, connection, world, ("member_1", "member_2"))
    assert not failures, "\n".join(failures)


#: The lists and searches of the API, the object parameter their items carry, and how to
#: read the ids off a page of them.
LISTS: dict[str, tuple[str, str]] = {
    "/api/v1/referrals?limit=200": ("case_number", "case_number"),
    "/api/v1/offers?limit=200": ("offer_id", "id"),
    "/api/v1/providers?limit=200": ("provider_id", "id"),
}


def test_lists_and_searches_hold_only_the_partys_own_objects(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    """RELIABILITY.md row 4: a list holds every object the party is entitled to and no
    other, its total counts only those, and a search for a stranger's case by its number,
    its member's name or birth date, or its order id finds nothing."""
    world = build_world(session, client, clock)
    for party in PARTIES:
        header = world.parties[party].header
        for url, (param, key) in LISTS.items():
            response = client.get(url, headers=header)
            if response.status_code == 403:
                continue
            assert response.status_code == 200, f"{party} {url}: {response.text}"
            page = response.json()
            seen = {str(item[key]) for item in page["items"]}
            own = {t.value for t in world.of(param) if party in t.entitled}
            assert seen == own, f"{party} {url}"
            assert page["total"] == len(own), f"{party} {url}"
        for thing in world.of("case_number"):
            if party in thing.entitled:
                continue
            case = client.get(
                f"/api/v1/referrals/{thing.value}", headers=world.parties["staff"].header
            ).json()
            for query in (
                {"q": thing.value},
                {"q": case["member"]["last_name"]},
                {"birth_date": case["member"]["birth_date"]},
                {"external_id": case["external_id"]},
            ):
                found = client.get("/api/v1/referrals", params=query, headers=header)
                if found.status_code == 403:
                    continue
                numbers = {item["case_number"] for item in found.json()["items"]}
                assert thing.value not in numbers, f"{party} found {thing.label} by {query}"
