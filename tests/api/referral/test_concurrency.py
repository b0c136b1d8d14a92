"""Case numbers stay unique under concurrent submissions (real commits, many threads).

On PostgreSQL the counter is a SEQUENCE, so twenty transactions in flight at once
each get their own number without waiting for one another; on SQLite writers queue.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral.models import Referral
from careloop.settings import Settings
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_payload

THREADS = 20


@pytest.fixture
def live(
    committed_database: Database, settings: Settings, clock: FixedClock
) -> tuple[TestClient, str]:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        _, token = make_user(session, clock=clock, role=Role.intake_agent)
    app = create_app(settings, database=committed_database, clock=clock)
    return TestClient(app, raise_server_exceptions=False), token


@pytest.mark.slow
def test_unique_case_numbers_when_twenty_threads_submit_at_once(
    live: tuple[TestClient, str], committed_database: Database, clock: FixedClock
) -> None:
    client, token = live
    start = threading.Barrier(THREADS)

    def submit(index: int) -> tuple[int, str]:
        body = referral_payload(clock.now(), member__first_name=f"Thread{index}")
        start.wait()
        response = client.post(
            "/api/v1/referrals",
            content=json.dumps(body),
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        return response.status_code, response.json().get("case_number", response.text)

    with client, ThreadPoolExecutor(THREADS) as pool:
        for _round in range(3):
            results = list(pool.map(submit, range(THREADS)))
            assert [status for status, _ in results] == [201] * THREADS, results
            numbers = [number for _, number in results]
            assert len(set(numbers)) == THREADS
    with committed_database.unit_of_work() as session:
        stored = session.scalars(select(Referral.case_number)).all()
        assert len(stored) == len(set(stored)) == 3 * THREADS
        assert session.scalar(select(func.count()).select_from(Referral)) == 3 * THREADS


@pytest.mark.slow
def test_one_case_when_the_same_idempotency_key_races(
    live: tuple[TestClient, str], committed_database: Database, clock: FixedClock
) -> None:
    client, token = live
    body = json.dumps(referral_payload(clock.now()))
    start = threading.Barrier(10)

    def submit(_index: int) -> tuple[int, bytes]:
        start.wait()
        response = client.post(
            "/api/v1/referrals",
            content=body,
            headers={
                "Authorization": f"Bearer {token}",
                "content-type": "application/json",
                "Idempotency-Key": "double-click",
            },
        )
        return response.status_code, response.content

    with client, ThreadPoolExecutor(10) as pool:
        results = list(pool.map(submit, range(10)))
    created = [content for status, content in results if status == 201]
    # Every request either replays the one case or is told the first is in flight.
    assert {status for status, _ in results} <= {201, 409}
    assert created and all(content == created[0] for content in created)
    with committed_database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Referral)) == 1


@pytest.mark.slow
@pytest.mark.parametrize("twins", [20, 50])
def test_of_n_identical_referrals_at_once_n_minus_one_are_flagged(
    live: tuple[TestClient, str], committed_database: Database, clock: FixedClock, twins: int
) -> None:
    """No Idempotency-Key: every twin is stored, and each one but the first sees an
    earlier one (the duplicate key is locked before the look-up, on both databases)."""
    client, token = live
    body = json.dumps(referral_payload(clock.now()))
    start = threading.Barrier(twins)

    def submit(_index: int) -> tuple[int, Any]:
        start.wait()
        response = client.post(
            "/api/v1/referrals",
            content=body,
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        return response.status_code, response.json()

    with client, ThreadPoolExecutor(twins) as pool:
        results = list(pool.map(submit, range(twins)))
    assert [status for status, _ in results] == [201] * twins, results
    flagged = [
        answer["case_number"]
        for _, answer in results
        if any(f["code"] == "possible_duplicate" for f in answer["findings"])
    ]
    assert len(flagged) == twins - 1
    with committed_database.unit_of_work() as session:
        stored = session.scalars(select(Referral)).all()
        assert len(stored) == twins
        kept = [r for r in stored if any(f["code"] == "possible_duplicate" for f in r.findings)]
        assert sorted(r.case_number for r in kept) == sorted(flagged)
        # The first one stored is the one not flagged; each later one names earlier ones.
        first = min(stored, key=lambda r: r.id)
        assert first.case_number not in flagged
