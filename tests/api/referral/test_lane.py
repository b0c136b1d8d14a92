"""The intake routes are served on a lane (``web.lane``): the endpoint is called straight
from the middleware, without FastAPI's dispatch. A caller must not be able to tell: each
request below is sent once on the lane (no query string) and once through the framework
(``?validate_only=false``, which the framework dispatches), and both answers must be the
same, refusals word for word."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRouter
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from starlette.exceptions import HTTPException

from careloop.core.clock import FixedClock
from careloop.web.lane import Lanes
from tests.api.conftest import Dispatches, Tokens
from tests.factories.names import names
from tests.factories.referral import referral_payload

URL = "/api/v1/referrals"
#: Order ids, one per submission across Hypothesis' examples.
_ORDERS = itertools.count(1)
FRAMEWORK = URL + "?validate_only=false"


def _post(client: TestClient, url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        url, content=content, headers={"content-type": "application/json", **(headers or {})}
    )


def _answer(response: Any) -> tuple[int, str, Any]:
    body = response.json()
    if isinstance(body, dict):
        body.pop("request_id", None)
    return response.status_code, response.headers["content-type"], body


def test_the_intake_route_skips_the_framework_only_without_a_query(
    watched: tuple[TestClient, Dispatches], tokens: Tokens, clock: FixedClock
) -> None:
    client, dispatches = watched
    auth = Tokens.header(tokens.intake)
    assert _post(client, URL, referral_payload(clock.now()), auth).status_code == 201
    body = referral_payload(clock.now(), external_id="HOSP-ORD-2")
    assert _post(client, FRAMEWORK, body, auth).status_code == 201
    assert client.get(URL, headers=auth).status_code == 200
    assert dispatches.seen == [False, True, True]


@pytest.mark.parametrize(
    ("what", "token", "headers", "body"),
    [
        ("no token", None, {}, None),
        ("a token that is not one", "not-a-token", {}, None),
        ("a role that may not submit", "member", {}, None),
        ("not JSON", "intake", {}, b'{"member": '),
        ("another media type", "intake", {"content-type": "text/plain"}, None),
        ("a key written twice", "intake", {}, b'{"urgency": "routine", "urgency": "stat"}'),
        ("a field of the wrong shape", "intake", {}, "bad quantity"),
        ("no member", "intake", {}, {"items": []}),
        ("an Idempotency-Key too long", "intake", {"Idempotency-Key": "k" * 201}, None),
        ("an empty Idempotency-Key", "intake", {"Idempotency-Key": ""}, None),
    ],
)
def test_a_refusal_on_the_lane_is_the_frameworks_word_for_word(
    watched: tuple[TestClient, Dispatches],
    tokens: Tokens,
    clock: FixedClock,
    what: str,
    token: str | None,
    headers: dict[str, str],
    body: Any,
) -> None:
    client, dispatches = watched
    if body is None:
        body = referral_payload(clock.now())
    elif body == "bad quantity":
        body = referral_payload(clock.now())
        body["items"][0]["quantity"] = "eight"
    if token is not None:
        headers = {**headers, **Tokens.header(getattr(tokens, token, token))}
    on_lane = _answer(_post(client, URL, body, headers))
    through_framework = _answer(_post(client, FRAMEWORK, body, headers))
    assert dispatches.seen == [False, True]
    assert on_lane[0] >= 400, what
    assert on_lane == through_framework, what


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=names, last=names)
def test_an_accepted_referral_on_the_lane_is_answered_as_through_the_framework(
    watched: tuple[TestClient, Dispatches],
    tokens: Tokens,
    clock: FixedClock,
    first: str,
    last: str,
) -> None:
    client, _ = watched
    auth = Tokens.header(tokens.intake)
    answers = []
    for n, url in enumerate((URL, FRAMEWORK)):
        # Each its own member and order, so that neither is another's duplicate.
        body = referral_payload(clock.now(), external_id=f"LANE-{next(_ORDERS)}")
        body["member"].update(first_name=first, last_name=f"{last}{'ab'[n]}")
        body["member"]["birth_date"] = f"194{n}-01-23"
        answers.append(_post(client, url, body, auth))
    lane, framework = answers
    assert lane.status_code == framework.status_code == 201, lane.text
    assert set(lane.headers) == set(framework.headers)
    assert lane.headers["location"] == f"{URL}/{lane.json()['case_number']}"
    assert _shape(lane.json()) == _shape(framework.json())
    assert lane.json()["member"]["first_name"] == first


def _shape(value: Any) -> Any:
    """The document with every text and number replaced by its type: what the two
    answers share (their case numbers, ids, names and birth dates differ)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_an_endpoint_of_another_shape_cannot_take_a_lane(app: FastAPI) -> None:
    router = APIRouter()

    @router.post("/api/v1/things/{thing}")
    async def thing(request: Any, credentials: Any, thing: str) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="cannot be served on a lane"):
        Lanes(app, routers=[router], endpoints=[thing], handlers=dict)


def test_an_error_is_answered_by_the_handler_of_its_status_then_of_its_class() -> None:
    router = APIRouter()

    @router.post("/api/v1/teapots")
    async def teapot(request: Any, credentials: Any) -> None:
        raise HTTPException(418)

    handlers: dict[Any, Any] = {
        418: lambda request, exc: PlainTextResponse("by status", 418),
        HTTPException: lambda request, exc: PlainTextResponse("by class", exc.status_code),
    }
    app = FastAPI()
    app.include_router(router)
    app.add_middleware(Lanes, routers=[router], endpoints=[teapot], handlers=lambda: handlers)
    with TestClient(app) as client:
        assert client.post("/api/v1/teapots").text == "by status"
        del handlers[418]
        assert client.post("/api/v1/teapots").text == "by class"
