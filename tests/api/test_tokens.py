"""Bearer tokens end when they should (RELIABILITY.md rows 17 and 19): at their expiry
on the frozen clock, at once when revoked or when the user is disabled, and, with the
token cache on, no later than the cache's time to live."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.models import ApiToken, User
from careloop.settings import Settings
from careloop.web.transaction import TokenCache
from tests.factories.identity import make_user

URL = "/api/v1/referrals"
EMAIL = "priya@careloop.test"


def _get(client: TestClient, token: str) -> int:
    return client.get(URL, headers={"Authorization": f"Bearer {token}"}).status_code


def _disable(session: Session) -> None:
    session.scalars(select(User).where(User.email == EMAIL)).one().active = False
    session.flush()


class FakeTime:
    """Stands in for time.monotonic in the token cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestTokenLifetime:
    def test_401_once_the_token_has_expired(
        self, client: TestClient, session: Session, clock: FixedClock
    ) -> None:
        make_user(session, clock=clock, role=Role.intake_agent, email=EMAIL)
        token = identity_service.issue_token(
            session, EMAIL, clock=clock, valid_for=timedelta(hours=12)
        )
        clock.advance(timedelta(hours=11, minutes=59))
        assert _get(client, token) == 200
        clock.advance(timedelta(minutes=1))
        assert _get(client, token) == 401

    def test_401_at_once_when_the_token_is_revoked(
        self, client: TestClient, session: Session, clock: FixedClock
    ) -> None:
        _, token = make_user(session, clock=clock, role=Role.intake_agent, email=EMAIL)
        assert _get(client, token) == 200
        row = session.scalars(select(ApiToken)).one()
        row.revoked_at = clock.now()
        session.flush()
        assert _get(client, token) == 401


class TestDeprovisioning:
    def test_401_at_once_for_a_disabled_user_without_the_cache(
        self, client: TestClient, session: Session, clock: FixedClock
    ) -> None:
        _, token = make_user(session, clock=clock, role=Role.intake_agent, email=EMAIL)
        assert _get(client, token) == 200
        _disable(session)
        response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    def test_401_within_the_cache_ttl_for_a_disabled_user(
        self,
        settings: Settings,
        database: Database,
        session: Session,
        clock: FixedClock,
    ) -> None:
        cached = settings.model_copy(update={"token_cache_seconds": 30})
        app: FastAPI = create_app(cached, database=database, clock=clock)
        time = FakeTime()
        app.state.token_cache = TokenCache(ttl=30, clock=time)
        _, token = make_user(session, clock=clock, role=Role.intake_agent, email=EMAIL)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert _get(client, token) == 200
            _disable(session)
            time.now += 29
            assert _get(client, token) == 200  # trusted from the cache, as documented
            time.now += 1
            assert _get(client, token) == 401

    def test_the_cache_ttl_cannot_be_set_past_60_seconds(self, settings: Settings) -> None:
        with pytest.raises(ValidationError, match="token_cache_seconds"):
            Settings(database_url=settings.database_url, token_cache_seconds=61)
