"""Exactly one winner: users racing to answer the same offer, with real commits, many
rounds, on the database under test (RELIABILITY.md row 7)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.matching import service
from careloop.matching.models import Offer, OfferStatus
from careloop.matching.schemas import OfferCreate
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.settings import Settings
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_draft

USERS = 20
ROUNDS = 25
OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


@dataclass
class Stage:
    client: TestClient
    database: Database
    clock: FixedClock
    staff_tokens: list[str]
    manager_id: int


@pytest.fixture
def stage(committed_database: Database, settings: Settings, clock: FixedClock) -> Stage:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        make_coverage(session, clock=clock)
        admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        manager, _ = make_user(session, clock=clock, role=Role.case_manager)
        provider = make_provider(
            session, clock=clock, admin=admin, name="Charter Oak Home Medical", capacity=10_000
        )
        tokens = [provider.token]
        for index in range(USERS - 1):
            _, token = make_user(
                session,
                clock=clock,
                role=Role.provider_staff,
                email=f"user{index}@charteroak.test",
                organization="Charter Oak Home Medical",
            )
            tokens.append(token)
        assert manager.user_id is not None
    app = create_app(settings, database=committed_database, clock=clock)
    return Stage(
        TestClient(app, raise_server_exceptions=False),
        committed_database,
        clock,
        tokens,
        manager.user_id,
    )


def _new_offer(stage: Stage, index: int) -> int:
    with stage.database.unit_of_work() as session:
        manager, _ = make_user(
            session, clock=stage.clock, role=Role.intake_agent, email=f"intake{index}@hub.test"
        )
        draft = referral_draft(stage.clock.now(), items=OXYGEN, member__first_name=f"Round{index}")
        number = referral_service.submit_referral(
            session, manager, draft, clock=stage.clock
        ).case_number
        make_ready(session, manager, number, clock=stage.clock)
        return service.offer_referral(session, manager, number, OfferCreate(), clock=stage.clock).id


@pytest.mark.slow
def test_one_acceptance_wins_when_users_race(stage: Stage) -> None:
    with stage.client, ThreadPoolExecutor(USERS) as pool:
        for round_ in range(ROUNDS):
            offer_id = _new_offer(stage, round_)
            start = threading.Barrier(USERS)

            def accept(
                token: str, offer_id: int = offer_id, start: threading.Barrier = start
            ) -> int:
                start.wait()
                return stage.client.post(
                    f"/api/v1/offers/{offer_id}/accept",
                    headers={"Authorization": f"Bearer {token}"},
                ).status_code

            statuses = sorted(pool.map(accept, stage.staff_tokens))
            assert statuses == [200] + [409] * (USERS - 1), statuses
    with stage.database.unit_of_work() as session:
        accepted = session.scalar(
            select(func.count()).select_from(Offer).where(Offer.status == OfferStatus.accepted)
        )
        assert accepted == ROUNDS
        assigned = session.scalar(
            select(func.count())
            .select_from(Referral)
            .where(Referral.assigned_provider_id.is_not(None))
        )
        assert assigned == ROUNDS


@pytest.mark.slow
def test_accept_and_decline_racing_leave_exactly_one_answer(stage: Stage) -> None:
    with stage.client, ThreadPoolExecutor(2) as pool:
        for round_ in range(ROUNDS):
            offer_id = _new_offer(stage, 100 + round_)
            start = threading.Barrier(2)

            def answer(
                kind: str, offer_id: int = offer_id, start: threading.Barrier = start
            ) -> int:
                start.wait()
                body = {"reason": "no_capacity"} if kind == "decline" else None
                return stage.client.post(
                    f"/api/v1/offers/{offer_id}/{kind}",
                    json=body,
                    headers={"Authorization": f"Bearer {stage.staff_tokens[0]}"},
                ).status_code

            statuses = sorted(pool.map(answer, ["accept", "decline"]))
            assert statuses == [200, 409], statuses


def test_database_refuses_a_second_accepted_offer_for_one_referral(stage: Stage) -> None:
    offer_id = _new_offer(stage, 999)
    with stage.database.unit_of_work() as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        values = {
            "referral_id": offer.referral_id,
            "provider_id": offer.provider_id,
            "service_line": "dme",
            "reasons": [],
            "offered_at": stage.clock.now(),
            "respond_by": stage.clock.now(),
        }
        session.execute(insert(Offer), [{**values, "status": OfferStatus.accepted}])
    with pytest.raises(IntegrityError), stage.database.unit_of_work() as session:
        session.execute(insert(Offer), [{**values, "status": OfferStatus.accepted}])
