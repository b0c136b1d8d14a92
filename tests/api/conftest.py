"""API fixtures: a payer and one user per role, each with a bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope, Send

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.settings import Settings
from tests.factories.identity import make_user
from tests.factories.referral import make_payer


@dataclass(frozen=True)
class Tokens:
    intake: str
    case_manager: str
    nurse: str
    hartford: str
    albany: str
    provider: str
    member: str
    admin: str

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(session: Session, clock: FixedClock) -> Tokens:
    make_payer(session, clock=clock)
    _, intake = make_user(
        session, clock=clock, role=Role.intake_agent, name="Priya Shah", extension="4410"
    )
    _, manager = make_user(
        session, clock=clock, role=Role.case_manager, name="Jane Ruiz", extension="4417"
    )
    _, nurse = make_user(session, clock=clock, role=Role.clinical_reviewer)
    _, hartford = make_user(
        session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
    )
    _, albany = make_user(
        session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
    )
    _, provider = make_user(
        session, clock=clock, role=Role.provider_staff, organization="Acme Home Medical"
    )
    _, member = make_user(session, clock=clock, role=Role.member)
    _, admin = make_user(session, clock=clock, role=Role.admin)
    session.flush()
    return Tokens(intake, manager, nurse, hartford, albany, provider, member, admin)


def on_both_token_paths() -> object:
    """A ``settings`` fixture for a module or folder whose routes have two paths: the
    token checked at every request (the tests' default), and the token cache on, as
    served, where a known caller's good referral never leaves the event loop
    (``web.routes.parsed_on_loop``). Each test runs on both."""

    @pytest.fixture(params=[0, 30], ids=["token-checked", "token-cached"])
    def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
        return settings.model_copy(update={"token_cache_seconds": request.param})

    return settings


class Dispatches:
    """Records, per request, whether FastAPI's own route handling ran (it keeps its
    exit stacks in the request's scope; the lane does not)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.seen: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.seen.append("fastapi_inner_astack" in scope)


@pytest.fixture
def watched(app: FastAPI) -> Iterator[tuple[TestClient, Dispatches]]:
    dispatches = Dispatches(app)
    with TestClient(dispatches, raise_server_exceptions=False) as client:
        yield client, dispatches
