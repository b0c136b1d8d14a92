"""Route inventory (RELIABILITY.md rows 1 and 18): every route of the app, API and
portal, taken from ``app.routes``, refuses a caller without a session, a caller with a
forged one, and (PHI routes) a session that has passed the password but not the second
factor. Only the routes in PUBLIC answer strangers; a new route is covered the moment it
is added, and one with a new path parameter fails until it is given a plausible value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from starlette.routing import Mount

from tests.portal.conftest import People, csrf_of, password_step

#: (method, path template) that answer without a session. Nothing else may.
PUBLIC = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
        ("GET", "/problems/{code}"),
        # FHIR's CapabilityStatement: what the server does, no data (SMART clients read
        # it before they have a token).
        ("GET", "/fhir/metadata"),
        ("GET", "/signin"),
        ("POST", "/signin"),
    }
)
#: Mounted static files (CSS, JS): no data, no session.
PUBLIC_MOUNTS = frozenset({"/static"})
#: The sign-in steps a session may reach between the password and the second factor.
SIGN_IN_STEPS = frozenset(
    {
        ("GET", "/signin/totp"),
        ("POST", "/signin/totp"),
        ("GET", "/signin/enrol"),
        ("POST", "/signin/enrol"),
        ("POST", "/signout"),
    }
)
#: A plausible value for each path parameter (a well-formed id that need not exist).
PATH_VALUES = {
    "case_number": "CL-2026-000001",
    "provider_id": "1",
    "offer_id": "1",
    "authorization_id": "1",
    "appointment_id": "1",
    "contact_id": "1",
    "escalation_id": "1",
    "document_id": "1",
    "fax_id": "1",
    "page_number": "1",
    "item_id": "1",
    "system": "icd10",
    "code": "sign_in_failed",
    "resource_type": "Task",
    "resource_id": "CL-2026-000001",
    "webhook_id": "1",
    "appeal_id": "1",
    "grievance_id": "1",
    "job_id": "1",
    "run_id": "1",
}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


@dataclass(frozen=True)
class Endpoint:
    method: str
    template: str

    @property
    def url(self) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            assert name in PATH_VALUES, f"give PATH_VALUES a plausible {name!r}"
            return PATH_VALUES[name]

        return _PARAM.sub(value, self.template)

    @property
    def is_api(self) -> bool:
        return self.template.startswith(("/api/", "/fhir"))

    @property
    def media_type(self) -> str:
        fhir = self.template.startswith("/fhir")
        return "application/fhir+json" if fhir else "application/problem+json"


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    """Every (method, path) the app routes, mounts excepted (they are checked apart)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            assert route.path in PUBLIC_MOUNTS, f"mount {route.path} is not in PUBLIC_MOUNTS"
            continue
        assert route.path is not None
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield Endpoint(method, route.path)


def assert_refused(endpoint: Endpoint, response: Response) -> None:
    where = f"{endpoint.method} {endpoint.template}"
    if endpoint.is_api:
        assert response.status_code == 401, where
        assert response.headers["content-type"] == endpoint.media_type, where
        assert response.headers["www-authenticate"] == "Bearer", where
    elif endpoint.method == "GET":
        assert response.status_code == 303, where
        assert response.headers["location"].startswith("/signin"), where
    else:
        assert response.status_code == 401, where
        assert "sign in" in response.text.lower(), where


class TestRouteInventory:
    def test_the_allow_lists_name_only_routes_that_exist(self, app: FastAPI) -> None:
        found = {(e.method, e.template) for e in endpoints(app)}
        assert found >= PUBLIC
        assert found >= SIGN_IN_STEPS
        assert len(found) >= 70  # the inventory really walked the included routers

    @pytest.mark.parametrize("credentials", ["none", "forged"])
    def test_every_non_public_route_refuses_a_caller_without_a_valid_session(
        self, app: FastAPI, credentials: str
    ) -> None:
        with TestClient(
            app,
            base_url="https://testserver",
            follow_redirects=False,
            raise_server_exceptions=False,
        ) as client:
            if credentials == "forged":
                client.cookies.set("careloop_session", "forged-session")
                client.headers["Authorization"] = "Bearer cl_forged"
            checked = 0
            for endpoint in endpoints(app):
                if (endpoint.method, endpoint.template) in PUBLIC:
                    continue
                assert_refused(endpoint, client.request(endpoint.method, endpoint.url))
                checked += 1
            assert checked >= 60

    def test_public_routes_answer_without_a_session(self, client: TestClient) -> None:
        assert client.get("/healthz").status_code == 200
        assert client.get("/signin").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/static/css/portal.css").status_code == 200

    def test_no_route_but_the_sign_in_steps_serves_a_session_without_its_second_factor(
        self, browser: TestClient, app: FastAPI, people: People
    ) -> None:
        """Row 18: password done, TOTP not. Every page sends the browser back to the code
        step (with the session's own CSRF token, so it is the second-factor check that
        refuses, not CSRF), and the API does not take the cookie at all."""
        assert password_step(browser, people.intake.email).status_code == 303
        token = csrf_of(browser.get("/signin/totp").text)
        checked = 0
        for endpoint in endpoints(app):
            key = (endpoint.method, endpoint.template)
            if key in PUBLIC or key in SIGN_IN_STEPS:
                continue
            data = {"csrf_token": token} if endpoint.method == "POST" else None
            response = browser.request(endpoint.method, endpoint.url, data=data)
            where = f"{endpoint.method} {endpoint.template}"
            if endpoint.is_api:
                assert response.status_code == 401, where
            else:
                assert response.status_code == 303, where
                assert response.headers["location"] == "/signin/totp", where
            checked += 1
        assert checked >= 60
