"""The API never answers 5xx and its 2xx bodies follow the published schema, on any input
(RELIABILITY.md row 28, CI-sized: 25 examples per operation, fixed seed, no stateful phase).

Schemathesis reads the OpenAPI document once at collection, generates requests for each
operation and sends them in-process to the ``app`` fixture of tests/conftest.py, whose
sessions join a connection that is rolled back when the operation's test ends.
"""

from __future__ import annotations

import hypothesis
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error, response_schema_conformance

from careloop.app import create_app
from careloop.settings import Settings
from tests.api.conftest import Tokens

SEED = 20261124
MAX_EXAMPLES = 25

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)

# The document only: no request reaches this app or its (never opened) database.
_DOCUMENT = create_app(Settings(environment="test", database_url="sqlite://")).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT, config=CONFIG)


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
    case: schemathesis.Case, app: FastAPI, tokens: Tokens
) -> None:
    case.call_and_validate(
        app=app,
        headers=Tokens.header(tokens.intake),
        checks=[not_a_server_error, response_schema_conformance],
    )
