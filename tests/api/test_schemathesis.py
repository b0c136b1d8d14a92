"""The API never answers 5xx and answers only what its schema documents, on any input, as
every role (RELIABILITY.md row 28, CI-sized: five examples per operation and role, fixed seed; the
coverage and stateful phases, which multiply the requests by the eight roles, are left
to a nightly run).

Schemathesis reads the OpenAPI document once at collection and generates requests for each
operation (examples, coverage and fuzzing phases). Each generated request is sent as every
role that has a token, in-process to the ``app`` fixture of tests/conftest.py, whose
sessions join a connection rolled back when each operation's test ends. Every answer must
be no server error, with a status, a media type and (for a documented body) a body that
the operation's responses document. Operations on one case run twice per example and
role: with the generated case number (mostly 404) and with the number of a real case
seeded for the test (sent by the hospital, for the member of the member account), so that
fuzzed bodies reach the permission and transition logic too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.settings import Settings
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_payload
from tests.factories.world import LATIN_MEMBERS, link_member_account, make_member_account

MEMBER_EMAIL = "member@example.test"

SEED = 20261124
MAX_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Every role that can hold a bearer token (payer analysts have no route of their own yet).
ROLES = (
    Role.intake_agent,
    Role.case_manager,
    Role.supervisor,
    Role.clinical_reviewer,
    Role.admin,
    Role.referring_clinician,
    Role.provider_staff,
    Role.member,
)


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
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
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
def role_tokens(session: Session, clock: FixedClock) -> dict[Role, str]:
    """A bearer token per role; the member's account is linked to the seeded case's member."""
    make_payer(session, clock=clock)
    organizations = {
        Role.referring_clinician: "Hartford General",
        Role.provider_staff: "Acme Home Medical",
    }
    tokens: dict[Role, str] = {
        role: make_user(session, clock=clock, role=role, organization=organizations.get(role))[1]
        for role in ROLES
        if role is not Role.member
    }
    tokens[Role.member] = make_member_account(session, clock, email=MEMBER_EMAIL)
    session.flush()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def case_number(
    bound_app: FastAPI, role_tokens: dict[Role, str], clock: FixedClock, session: Session
) -> str:
    """A case that needs clarification (bad NPI): acknowledge, information and cancel apply."""
    member = LATIN_MEMBERS[0]
    payload = referral_payload(
        clock.now(),
        ordering_provider__npi="1234567890",
        member__first_name=member.first_name,
        member__last_name=member.last_name,
        member__birth_date=member.birth_date.isoformat(),
    )
    with TestClient(bound_app) as client:
        response = client.post(
            "/api/v1/referrals",
            json=payload,
            headers=bearer(role_tokens[Role.referring_clinician]),
        )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "needs_clarification"
    number = str(response.json()["case_number"])
    link_member_account(session, clock, email=MEMBER_EMAIL, case=number)
    session.flush()
    return number


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
def test_no_server_error_and_every_answer_is_documented_for_every_role(
    case: schemathesis.Case, role_tokens: dict[Role, str], case_number: str
) -> None:
    generated = dict(case.path_parameters or {})
    for role in ROLES:
        headers: dict[str, Any] = bearer(role_tokens[role])
        case.path_parameters = generated
        case.call_and_validate(headers=headers, checks=CHECKS)
        if "case_number" in generated:
            case.path_parameters = {**generated, "case_number": case_number}
            case.call_and_validate(headers=headers, checks=CHECKS)
