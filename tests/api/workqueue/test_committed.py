"""The work queue read with real commits (no outer test transaction), as a case manager
meets it: overdue work first, page by page, a case's every item when asked, and every
read's audit record committed with the case numbers it showed. On PostgreSQL the page
writes its own record and commits in one statement (``raw.fetch_all(alone=True)``);
the connection then goes back to the pool in transaction mode, so the next use case is
one transaction again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from careloop.app import create_app
from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database, make_engine
from careloop.referral import service as referral_service
from careloop.settings import Settings
from tests.factories.identity import make_user
from tests.factories.referral import call_back_payload, make_payer, referral_draft

URL = "/api/v1/workqueue"


@pytest.fixture
def one_connection(committed_database: Database, database_url: str) -> Iterator[Database]:
    """The committed database through a pool of one connection, so that every request
    reuses the same one (the tables are emptied afterwards by ``committed_database``)."""
    database = Database(make_engine(database_url, pool_size=1))
    yield database
    database.engine.dispose()


def _submit(database: Database, intake: Actor, clock: FixedClock, external_id: str) -> str:
    with database.unit_of_work() as session:
        draft = referral_draft(clock.now(), external_id=external_id)
        return referral_service.submit_referral(session, intake, draft, clock=clock).case_number


def _reads(database: Database) -> list[AuditRecord]:
    with database.unit_of_work() as session:
        stmt = select(AuditRecord).where(AuditRecord.action == "workqueue.read")
        return list(session.scalars(stmt.order_by(AuditRecord.id)))


def test_the_queue_shows_overdue_work_first_and_each_read_is_audited(
    committed_database: Database,
    one_connection: Database,
    settings: Settings,
    clock: FixedClock,
    db_kind: str,
) -> None:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        intake, intake_token = make_user(session, clock=clock, role=Role.intake_agent)
        manager, token = make_user(session, clock=clock, role=Role.case_manager)
    late = _submit(committed_database, intake, clock, "LATE-1")
    clock.advance(timedelta(days=4))  # its acknowledgement is long overdue now
    fresh = [_submit(committed_database, intake, clock, f"FRESH-{n}") for n in range(2)]
    headers = {"Authorization": f"Bearer {token}"}
    # Callers cached, as in production: after the first request, a read opens nothing
    # before its page statement, which then commits by itself (PostgreSQL).
    cached = settings.model_copy(update={"token_cache_seconds": 60})
    app = create_app(cached, database=one_connection, clock=clock)

    def get(**params: Any) -> Any:
        response = client.get(URL, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    with TestClient(app, raise_server_exceptions=False) as client:
        first = get(team="intake", limit=2)
        second = get(team="intake", limit=2, offset=2)
        elsewhere = get(team="network")
        held = first["cases"][0]["item"]["item_id"]
        claimed = client.post(f"{URL}/{held}/claim", headers=headers)
        assert claimed.status_code == 200, claimed.text
        mine = get(mine="true")
        logged = client.post(  # a second piece of work on a case: a call back due first
            f"/api/v1/referrals/{fresh[0]}/contacts",
            json=call_back_payload(clock.now()),
            headers={"Authorization": f"Bearer {intake_token}"},
        )
        assert logged.status_code == 201, logged.text
        every = get(items="true")

    shown = [c["case_number"] for c in first["cases"]]
    assert shown == [late, fresh[0]]
    assert first["cases"][0]["item"]["overdue"] is True
    assert first["cases"][1]["item"]["overdue"] is False
    assert first["total"] == 3 and first["has_more"] is True and first["overdue_now"] == 1
    assert [c["case_number"] for c in second["cases"]] == [fresh[1]]
    assert second["has_more"] is False and second["total"] == 3
    assert elsewhere["cases"] == [] and elsewhere["overdue_now"] == 1
    assert elsewhere["team_counts"]["intake"] == 3 and elsewhere["total"] == 0
    assert [c["case_number"] for c in mine["cases"]] == [late]
    assert mine["cases"][0]["item"]["assigned_to"]["user_id"] == manager.user_id

    assert [c["case_number"] for c in every["cases"]] == [late, fresh[0], fresh[1]]
    listed = every["cases"][1]
    assert listed["more"] == 1 and [i["kind"] for i in listed["items"]] == [
        "follow_up",
        "acknowledge",
    ]
    assert [len(c["items"]) for c in every["cases"]] == [1, 2, 1]

    records = _reads(committed_database)
    details = [(r.detail["team"], r.detail["mine"], r.detail["case_numbers"]) for r in records]
    assert details == [
        ("intake", False, [late, fresh[0]]),
        ("intake", False, [fresh[1]]),
        ("network", False, []),
        (None, True, [late]),
        (None, False, [late, fresh[0], fresh[1]]),
    ]
    assert {(r.actor_user_id, r.outcome, r.case_number) for r in records} == {
        (manager.user_id, "success", None)
    }
    if db_kind == "postgres":
        # The read committed on its own; the pool's one connection is transactional again.
        with one_connection.engine.connect() as conn:
            assert conn.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
