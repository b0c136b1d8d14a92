"""One accepted referral is a fixed, small number of statements (counted with an engine
event listener around the request): no statement per item, per clock or per event, and
no read-back of what was just written. A retry with the same Idempotency-Key is cheaper
still."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.factories.referral import referral_payload
from tests.portal.test_queries import counting

URL = "/api/v1/referrals"

#: A submission alone is a group of one, written as a group is (``referral.bulk.
#: submit_many``): the caller (tokens are looked up each time in the tests), the case
#: number, the duplicate-key lock and lookup, the case manager to assign, the case, its
#: items, its clocks, its timeline events, its audit record, its work item and the work
#: queue's open count it adds to (work_item_counts, one statement for the group); with an
#: Idempotency-Key, the key's look-up, claim and answer. On PostgreSQL the case number
#: comes with the case's id, and the case and its items, clocks, events, audit record and
#: work item are one statement (``db.copy.together``).
SUBMIT_STATEMENTS = {"sqlite": 12, "postgres": 7}
SUBMIT_WITH_KEY_STATEMENTS = {"sqlite": 15, "postgres": 10}
REPLAY_STATEMENTS = 3


def _post(client: TestClient, token: str, body: Any, key: str | None = None) -> Any:
    headers = {"content-type": "application/json", **Tokens.header(token)}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(URL, content=json.dumps(body), headers=headers)


def test_submission_is_a_fixed_number_of_statements(
    client: TestClient, tokens: Tokens, clock: FixedClock, engine: Engine, db_kind: str
) -> None:
    first = referral_payload(clock.now())
    assert _post(client, tokens.intake, first).status_code == 201  # warms the token cache
    counts = []
    for n, items in enumerate((1, 3)):
        body = referral_payload(clock.now())
        body["member"]["last_name"] = f"Statements{'ab'[n]}"
        body["items"] = [dict(body["items"][0], quantity=q + 1) for q in range(items)]
        with counting(engine) as statements:
            response = _post(client, tokens.intake, body)
        assert response.status_code == 201, response.text
        counts.append(len(statements))
    assert counts[0] == counts[1], "a statement per item"
    assert counts[0] <= SUBMIT_STATEMENTS[db_kind], "\n".join(statements)


def test_idempotent_submission_and_replay_statements(
    client: TestClient, tokens: Tokens, clock: FixedClock, engine: Engine, db_kind: str
) -> None:
    assert _post(client, tokens.intake, referral_payload(clock.now())).status_code == 201
    body = referral_payload(clock.now())
    body["member"]["last_name"] = "Keyed"
    with counting(engine) as statements:
        created = _post(client, tokens.intake, body, key="ORD-STATEMENTS-1")
    assert created.status_code == 201, created.text
    assert len(statements) <= SUBMIT_WITH_KEY_STATEMENTS[db_kind], "\n".join(statements)
    with counting(engine) as replayed:
        again = _post(client, tokens.intake, body, key="ORD-STATEMENTS-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == created.json()
    assert len(replayed) <= REPLAY_STATEMENTS, "\n".join(replayed)
