"""The API never answers 5xx and its 2xx bodies follow the published schema, on any input
(RELIABILITY.md row 28, CI-sized: 25 examples per operation, fixed seed, no stateful phase).

Schemathesis reads the OpenAPI document once at collection and generates requests for each
operation (examples, coverage and fuzzing phases). They go in-process to the ``app`` fixture
of tests/conftest.py, whose sessions join a connection rolled back when each operation's
test ends. Operations on one case run twice per example: with the generated case number
(mostly 404) and with the number of a real case seeded for the test, so that fuzzed bodies
reach the transition logic too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error, response_schema_conformance
from starlette.types import Receive, Scope, Send

from careloop.app import create_app
from careloop.core.clock import FixedClock
from careloop.settings import Settings
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload

SEED = 20261124
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]


class _AppUnderTest:
    """The ASGI app schemathesis calls: it forwards to the current test's ``app`` fixture."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "only the bound_app fixture may send requests"
        await self.app(scope, receive, send)


APP_UNDER_TEST = _AppUnderTest()

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)

# The published document; no request reaches this app or its (never opened) database.
_DOCUMENT = create_app(Settings(environment="test", database_url="sqlite://")).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT, config=CONFIG)
schema.app = APP_UNDER_TEST


@pytest.fixture
def bound_app(app: FastAPI) -> Iterator[FastAPI]:
    APP_UNDER_TEST.app = app
    yield app
    APP_UNDER_TEST.app = None


@pytest.fixture
def case_number(bound_app: FastAPI, tokens: Tokens, clock: FixedClock) -> str:
    """A case that needs clarification (bad NPI): acknowledge, information and cancel apply."""
    payload = referral_payload(clock.now(), ordering_provider__npi="1234567890")
    with TestClient(bound_app) as client:
        response = client.post(
            "/api/v1/referrals", json=payload, headers=Tokens.header(tokens.intake)
        )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "needs_clarification"
    return str(response.json()["case_number"])


@schema.parametrize()
@hypothesis.settings(
    # One app and one rolled-back transaction per operation, shared by its examples.
    suppress_health_check=[
        hypothesis.HealthCheck.function_scoped_fixture,
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.filter_too_much,
        hypothesis.HealthCheck.data_too_large,
    ],
    deadline=None,
)
def test_no_server_error_and_2xx_bodies_follow_the_schema(
    case: schemathesis.Case, tokens: Tokens, case_number: str
) -> None:
    headers: dict[str, Any] = Tokens.header(tokens.intake)
    case.call_and_validate(headers=headers, checks=CHECKS)
    if case.path_parameters and "case_number" in case.path_parameters:
        case.path_parameters["case_number"] = case_number
        case.call_and_validate(headers=headers, checks=CHECKS)
