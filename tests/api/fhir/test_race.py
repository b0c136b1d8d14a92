"""Conditional create under a race: the same bundle posted many times at once by one
integration gives one case, with real commits on the database under test."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral.models import Referral
from careloop.settings import Settings
from tests.factories.fhir import referral_bundle
from tests.factories.identity import make_user
from tests.factories.referral import make_payer

RETRIES = 6


@pytest.mark.slow
def test_racing_retries_of_a_conditional_create_give_one_case(
    committed_database: Database, settings: Settings, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        _, token = make_user(session, clock=clock, role=Role.service, email="ehr@hartford.test")
    app = create_app(settings, database=committed_database, clock=clock)
    body = json.dumps(referral_bundle(clock.now(), order_id="RACE-1", conditional=True))
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/fhir+json"}
    start = threading.Barrier(RETRIES)

    def post(_: int) -> tuple[int, str | None]:
        start.wait()
        response = client.post("/fhir", content=body, headers=headers)
        if response.status_code != 200:
            return response.status_code, None
        return 200, response.json()["entry"][-1]["response"]["location"]

    with (
        TestClient(app, raise_server_exceptions=False) as client,
        ThreadPoolExecutor(RETRIES) as pool,
    ):
        answers = list(pool.map(post, range(RETRIES)))
        # A retry that met the first one still in flight is told so (409) and, tried
        # again, gets the same case.
        again = post_after(client, body, headers)
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 409}, answers
    locations = {loc for _, loc in answers if loc} | {again}
    assert len(locations) == 1, answers
    with committed_database.unit_of_work() as session:
        count = session.scalar(
            select(func.count()).select_from(Referral).where(Referral.external_id == "RACE-1")
        )
    assert count == 1


def post_after(client: TestClient, body: str, headers: dict[str, str]) -> str:
    response = client.post("/fhir", content=body, headers=headers)
    assert response.status_code == 200, response.text
    location: str = response.json()["entry"][-1]["response"]["location"]
    return location
