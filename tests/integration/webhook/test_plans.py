"""The worker's query for due webhook messages walks the (status, next attempt) index and
stops at its batch, however many messages were delivered before (PostgreSQL's plan)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.webhook import service
from careloop.webhook.models import WebhookDelivery
from tests.factories.identity import make_user
from tests.factories.webhook import make_webhook


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_claiming_due_messages_is_an_index_scan(
    session: Session, engine: Engine, clock: FixedClock, db_kind: str
) -> None:
    if db_kind != "postgres":
        pytest.skip("PostgreSQL plan")
    supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)
    hook = make_webhook(session, supervisor, clock=clock)
    t0 = clock.now()
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "subscription_id": hook.id,
                "message_id": f"evt_{n}_delivered",
                "event": "case.delivered",
                "referral_id": n,
                "case_number": f"CL-2026-{n:06d}",
                "body": {},
                "status": "pending" if n % 200 == 0 else "delivered",
                "attempts": 1,
                "next_attempt_at": t0 - timedelta(minutes=n % 5000),
                "created_at": t0,
            }
            for n in range(20_000)
        ],
    )
    session.execute(text("ANALYZE webhook_deliveries"))
    captured: list[tuple[str, Any]] = []

    def grab(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        claimed = service.claim_due(session, clock=clock, limit=50)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    assert len(claimed) == 50
    statement, parameters = next((s, p) for s, p in captured if "FOR UPDATE" in s)
    raw = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
    value = raw.scalar_one()
    nodes = _plan_nodes((value if isinstance(value, list) else json.loads(value))[0]["Plan"])
    assert any(n.get("Index Name") == "ix_webhook_deliveries_status_next_attempt_at" for n in nodes)
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "webhook_deliveries"
        for n in nodes
    )
