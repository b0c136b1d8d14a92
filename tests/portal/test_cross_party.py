"""Object-level isolation in the portal (RELIABILITY.md row 3, issue 9).

The same world as tests/api/test_cross_party.py; each party signs in the way a person
does (password, then the TOTP code for staff and provider users) and, with its own
session and CSRF token, calls every portal route that names an object (taken from the
app's router) on every object it is a stranger to, with a form a person could send.
Nothing may succeed (no 2xx, no redirect to the object's page), the page must be the one
a missing object gets, and nothing may change in the data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.identity.secrets import totp_code
from tests.crossparty import OBJECT_PARAMS, Route, id_bearing_routes, run_matrix
from tests.factories.world import (
    PARTIES,
    PASSWORD,
    SCRIPT_MEMBERS,
    Party,
    World,
    build_world,
)
from tests.portal.conftest import csrf_of, password_step

#: A form a person could send to each move (inputs named as the case page names them);
#: ``{authorization_id}`` and the like are filled from the path. Routes not listed send
#: only their CSRF token (they take no input).
FORMS: dict[str, dict[str, str]] = {
    "POST /cases/{case_number}/cancel": {"reason": "Member moved to another state"},
    "POST /cases/{case_number}/offer": {"provider_id": ""},
    "POST /cases/{case_number}/authorizations/{authorization_id}/decision": {
        "decision_{authorization_id}.outcome": "approved",
        "decision_{authorization_id}.authorization_number": "PA-2026-0042",
        "decision_{authorization_id}.valid_from": "2026-11-24",
        "decision_{authorization_id}.valid_to": "2027-02-22",
    },
    "POST /cases/{case_number}/authorizations/{authorization_id}/information": {
        "information_{authorization_id}.note": "Faxed the oxygen saturation log",
    },
    "POST /cases/{case_number}/authorizations/{authorization_id}/appeal": {
        "appeal_{authorization_id}.rationale": "SpO2 86 % at rest on room air",
    },
    "POST /cases/{case_number}/schedule": {
        "form": "schedule_new",
        "schedule_new.day": "2026-11-25",
        "schedule_new.start": "09:00",
        "schedule_new.end": "12:00",
    },
    "POST /cases/{case_number}/appointments/{appointment_id}/outcome": {
        "outcome_{appointment_id}.outcome": "delivered",
        "outcome_{appointment_id}.at": "2026-11-24T08:30",
        "outcome_{appointment_id}.received_by": "Member's daughter",
        "outcome_{appointment_id}.serial_numbers": "SN-4411-0092",
    },
    "POST /cases/{case_number}/close": {"close.note": "Delivered; member trained"},
    "POST /cases/{case_number}/information": {
        "signed_order.signed_on": "2026-11-23",
        "note": "Signed order faxed by the hospital",
    },
    "POST /provider/offers/{offer_id}/decline": {"reason": "no_capacity", "note": ""},
    "POST /cases/{case_number}/escalations": {
        "escalate.reason": "service_delay",
        "escalate.severity": "urgent",
        "escalate.requested_by.name": "Discharge planner",
        "escalate.requested_by.email": "planner@example.org",
    },
    "POST /cases/{case_number}/escalations/{escalation_id}/commit": {
        "zone": "America/New_York",
        "eta_date": "2026-11-25",
        "eta_time": "15:00",
    },
    "POST /cases/{case_number}/documents": {"kind": "progress_notes"},
    "POST /cases/{case_number}/escalations/{escalation_id}/resolve": {
        "resolution": "Delivery moved to the morning",
    },
    "POST /cases/{case_number}/appeals/{appeal_id}/outcome": {
        "appeal_outcome_{appeal_id}.outcome": "upheld",
        "appeal_outcome_{appeal_id}.note": "Criteria not met",
    },
    "POST /cases/{case_number}/grievances": {
        "grievance.subject": "coordination",
        "grievance.raised_by": "member",
        "grievance.raised_by_name": "The member",
        "grievance.details": "No call back in a week",
    },
    "POST /cases/{case_number}/grievances/{grievance_id}/resolve": {
        "gres_{grievance_id}.resolution": "substantiated",
        "gres_{grievance_id}.note": "Call-back rota fixed",
    },
    "POST /cases/{case_number}/regulatory-escalations": {
        "regulator.regulator": "department_of_insurance",
        "regulator.summary": "No delivery in nine days",
    },
}


def sign_in(app: FastAPI, party: Party, clock: FixedClock) -> TestClient:
    client = TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False, follow_redirects=False
    )
    client.__enter__()
    done = password_step(client, party.email, PASSWORD)
    assert done.status_code == 303, done.text
    if party.secret is not None:
        page = client.get("/signin/totp")
        code = totp_code(party.secret, clock.now())
        done = client.post("/signin/totp", data={"code": code, "csrf_token": csrf_of(page.text)})
        assert done.status_code == 303, done.text
    return client


@pytest.fixture
def browsers(app: FastAPI) -> Iterator[dict[str, TestClient]]:
    opened: dict[str, TestClient] = {}
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


def cross_party_failures(
    app: FastAPI,
    browsers: dict[str, TestClient],
    connection: Connection,
    world: World,
    clock: FixedClock,
    callers: tuple[str, ...],
) -> tuple[list[str], int]:
    csrf: dict[str, str] = {}
    for caller in callers:
        browsers[caller] = sign_in(app, world.parties[caller], clock)
        csrf[caller] = csrf_of(browsers[caller].get("/", follow_redirects=True).text)
    routes = id_bearing_routes(app, api=False)
    assert {str(r) for r in routes} >= set(FORMS), "FORMS names a route that is gone"

    def send(caller: str, route: Route, url: str, values: dict[str, str]) -> Response:
        client = browsers[caller]
        if route.method == "GET":
            return client.get(url)
        form = {k.format(**values): v for k, v in FORMS.get(str(route), {}).items()}
        return client.post(url, data={**form, "csrf_token": csrf[caller]})

    return run_matrix(routes, world, callers, send, connection)


def test_every_id_bearing_page_is_covered(app: FastAPI) -> None:
    routes = {str(r) for r in id_bearing_routes(app, api=False)}
    assert len(routes) >= 19
    assert "GET /cases/{case_number}" in routes
    assert "POST /provider/offers/{offer_id}/accept" in routes


def test_no_party_reaches_another_partys_objects_in_the_portal(
    app: FastAPI,
    client: TestClient,
    browsers: dict[str, TestClient],
    session: Session,
    connection: Connection,
    clock: FixedClock,
) -> None:
    world = build_world(session, client, clock)
    used = {p for r in id_bearing_routes(app, api=False) for p in r.params} & OBJECT_PARAMS
    assert used <= {t.param for t in world.things}, "give the world an object of each kind"
    failures, calls = cross_party_failures(app, browsers, connection, world, clock, PARTIES)
    assert not failures, "\n".join(failures)
    assert calls >= 200


def test_members_named_in_other_scripts_and_born_the_same_day_stay_apart_in_the_portal(
    app: FastAPI,
    client: TestClient,
    browsers: dict[str, TestClient],
    session: Session,
    connection: Connection,
    clock: FixedClock,
) -> None:
    world = build_world(session, client, clock, SCRIPT_MEMBERS)
    members = ("member_1", "member_2")
    failures, _ = cross_party_failures(app, browsers, connection, world, clock, members)
    assert not failures, "\n".join(failures)


#: The portal's pages that list cases or offers (no id in their path).
LIST_PAGES = (
    "/",
    "/referrer",
    "/provider",
    "/member",
    "/staff",
    "/staff/search?q=CL-2026",
    "/staff/search?q={last_name}",
)


def test_list_pages_show_no_strangers_case(
    app: FastAPI,
    client: TestClient,
    browsers: dict[str, TestClient],
    session: Session,
    clock: FixedClock,
) -> None:
    """RELIABILITY.md row 4 in the portal: no page that lists work names a case (by its
    number or its member) that the party is a stranger to, and each party's home page
    names its own case. The one exception is on the allow-list: a provider sees the case
    number of an offer made to it (it needs it to answer; the offer carries no member
    name, birth date, phone or street)."""
    world = build_world(session, client, clock)
    staff = world.parties["staff"].header
    cases = {
        t.value: client.get(f"/api/v1/referrals/{t.value}", headers=staff).json()
        for t in world.of("case_number")
    }
    offered = {t.group: t.entitled for t in world.of("offer_id")}
    for party in PARTIES:
        browser = browsers[party] = sign_in(app, world.parties[party], clock)
        home = browser.get("/", follow_redirects=True)
        assert home.status_code == 200, f"{party}: {home.text}"
        for thing in world.of("case_number"):
            last_name = cases[thing.value]["member"]["last_name"]
            if party in thing.entitled:
                if party != "provider_1":  # a provider's home lists offers and bookings
                    assert thing.value in home.text, f"{party} does not see {thing.label}"
                continue
            for path in LIST_PAGES:
                response = browser.get(path.format(last_name=last_name), follow_redirects=True)
                where = f"{party} on {path}: {thing.label}"
                assert response.status_code in (200, 403, 404), where
                shown = response.text.replace(f'value="{last_name}"', "")  # the query echoed
                if party not in offered[thing.group]:
                    assert thing.value not in shown, where
                assert last_name not in shown, where
