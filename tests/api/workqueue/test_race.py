"""One claimer wins: staff racing to claim the same item, with real commits, on the
database under test."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.settings import Settings
from careloop.workqueue.models import WorkItem
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

USERS = 8
ROUNDS = 6


@pytest.mark.slow
def test_one_claim_wins_when_staff_race(
    committed_database: Database, settings: Settings, clock: FixedClock
) -> None:
    tokens: list[str] = []
    item_ids: list[int] = []
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
        for index in range(USERS):
            _, token = make_user(
                session, clock=clock, role=Role.case_manager, email=f"cm{index}@hub.test"
            )
            tokens.append(token)
        for round_ in range(ROUNDS):
            draft = referral_draft(
                clock.now(), member__first_name=f"Round{round_}", external_id=f"R{round_}"
            )
            number = referral_service.submit_referral(
                session, intake, draft, clock=clock
            ).case_number
            item_ids.append(
                session.scalars(
                    select(WorkItem.id)
                    .join(Referral, Referral.id == WorkItem.referral_id)
                    .where(Referral.case_number == number, WorkItem.kind == "acknowledge")
                ).one()
            )
    app = create_app(settings, database=committed_database, clock=clock)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        ThreadPoolExecutor(USERS) as pool,
    ):
        for item_id in item_ids:
            start = threading.Barrier(USERS)

            def claim(token: str, item_id: int = item_id, start: threading.Barrier = start) -> int:
                start.wait()
                return client.post(
                    f"/api/v1/workqueue/{item_id}/claim",
                    headers={"Authorization": f"Bearer {token}"},
                ).status_code

            statuses = sorted(pool.map(claim, tokens))
            assert statuses == [200] + [409] * (USERS - 1), statuses
    with committed_database.unit_of_work() as session:
        holders = session.scalars(select(WorkItem.owner_user_id).where(WorkItem.id.in_(item_ids)))
        assert all(holder is not None for holder in holders)
