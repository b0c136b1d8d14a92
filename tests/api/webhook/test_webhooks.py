"""Webhooks over HTTP, as an organisation's admin meets them: register a receiver (the
secret shown once), hear of the steps of the organisation's own cases (signed, verified
by a real receiver on 127.0.0.1), see a failed message retried, a receiver that keeps
failing paused with the reason and resumed; bad and dangerous URLs refused, another
organisation's webhook answering like one that does not exist."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.models import OrganizationKind
from careloop.webhook import Sender, WebhookEvent, rules
from careloop.webhook import service as webhook_service
from careloop.webhook.models import WebhookDelivery, WebhookSubscription
from careloop.webhook.tasks import deliver_webhooks
from tests.api.conftest import Tokens
from tests.crossparty import comparable
from tests.factories.identity import make_user
from tests.factories.referral import referral_payload
from tests.factories.webhook import Receiver, make_webhook, running_receiver
from tests.factories.world import build_world

ALL_EVENTS = [e.value for e in WebhookEvent]
#: The demo's setting: the worker may call a receiver on this machine.
LOCAL = Sender(allow_private=True)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _deliver(database: Database, clock: FixedClock, *receivers: Receiver) -> int:
    for receiver in receivers:
        receiver.now = int(clock.now().timestamp())
    return deliver_webhooks(database, LOCAL, clock=clock)


def _bodies(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received]


def test_an_organisations_receivers_hear_of_its_own_cases_signed_and_retried(
    client: TestClient, session: Session, database: Database, clock: FixedClock
) -> None:
    # The organisations exist before their people join them (build_world adds those).
    for name, kind in (
        ("Hartford General", OrganizationKind.referrer),
        ("Charter Oak Home Medical", OrganizationKind.provider),
    ):
        identity_service.ensure_organization(session, name, kind, clock=clock)
    _, hospital_admin = make_user(
        session, clock=clock, role=Role.admin, organization="Hartford General", email="it@hg.test"
    )
    provider_admin, _ = make_user(
        session,
        clock=clock,
        role=Role.admin,
        organization="Charter Oak Home Medical",
        email="it@charteroak.test",
    )
    database.config[webhook_service.ALLOW_PRIVATE_KEY] = True
    with running_receiver() as hospital, running_receiver() as provider:
        made = client.post(
            "/api/v1/webhooks",
            json={"url": hospital.url, "events": ALL_EVENTS, "description": "Planning board"},
            headers=_auth(hospital_admin),
        )
        assert made.status_code == 201, made.text
        hospital.secret = made.json()["secret"]
        assert hospital.secret.startswith("whsec_")
        listed = client.get("/api/v1/webhooks", headers=_auth(hospital_admin)).json()
        assert [w["id"] for w in listed["items"]] == [made.json()["id"]]
        assert "secret" not in listed["items"][0]  # shown once, at creation
        hook = make_webhook(
            session,
            provider_admin,
            clock=clock,
            url=provider.url,
            events=(WebhookEvent.scheduled, WebhookEvent.delivered),
        )
        provider.secret = hook.secret

        world = build_world(session, client, clock)
        case_a = world.of("case_number")[0].value
        appointment = world.of("appointment_id")[0].value
        clock.advance(timedelta(hours=21))
        done = client.post(
            f"/api/v1/appointments/{appointment}/outcome",
            json={
                "outcome": "delivered",
                "at": (clock.now() - timedelta(minutes=30)).isoformat(),
                "received_by": "Wife",
                "serial_numbers": ["OX-1"],
            },
            headers=world.parties["provider_1"].header,
        )
        assert done.status_code == 200, done.text

        hospital.answers = [500]  # the first message fails once
        delivered = _deliver(database, clock, hospital, provider)

        assert hospital.received and provider.received
        assert all(r.signed for r in hospital.received + provider.received)
        sent = _bodies(hospital)
        # Only the hospital's own case, never the other hospital's.
        own = {t.value for t in world.of("case_number") if t.group == "A"}
        heard = {b["data"]["case_number"] for b in sent}
        assert case_a in heard and heard <= own
        for other in (t.value for t in world.of("case_number") if t.group != "A"):
            assert other not in json.dumps(sent)
        statuses = [b["data"]["to"] for b in sent if b["type"] == "case.status_changed"]
        assert {"received", "acknowledged", "offered", "accepted", "scheduled", "fulfilled"} <= set(
            statuses
        )
        kinds = {b["type"] for b in sent}
        assert {"case.scheduled", "case.delivered"} <= kinds
        scheduled = next(b for b in sent if b["type"] == "case.scheduled")
        assert scheduled["data"]["window"]["start"] and scheduled["data"]["window"]["end"]
        # Nothing about the member travels.
        assert "Dorothy" not in json.dumps(sent) and "Hale" not in json.dumps(sent)
        # The provider hears only what it asked for, of the case it accepted.
        assert {(b["type"], b["data"]["case_number"]) for b in _bodies(provider)} == {
            ("case.scheduled", case_a),
            ("case.delivered", case_a),
        }
        assert delivered == len(hospital.received) - 1 + len(provider.received)

        # The failed message waits its backoff, then goes again with the same id.
        failed_id = hospital.received[0].headers["careloop-delivery"]
        deliveries = client.get(
            f"/api/v1/webhooks/{made.json()['id']}/deliveries?status=pending",
            headers=_auth(hospital_admin),
        ).json()
        assert [d["message_id"] for d in deliveries["items"]] == [failed_id]
        assert deliveries["items"][0]["last_status_code"] == 500
        assert "500" in deliveries["items"][0]["last_error"]
        assert _deliver(database, clock, hospital) == 0  # not due yet
        clock.advance(rules.backoff(1))
        assert _deliver(database, clock, hospital) == 1
        assert hospital.received[-1].headers["careloop-delivery"] == failed_id
        assert hospital.received[-1].signed
        # Each message once more at most: a second pass reads the same events, queues nothing.
        clock.advance(rules.SETTLE * 2)
        assert _deliver(database, clock, hospital, provider) == 0
        ids = [r.headers["careloop-delivery"] for r in hospital.received]
        assert len(ids) == len(set(ids)) + 1


def test_a_receiver_that_keeps_failing_is_paused_with_the_reason_then_resumed(
    client: TestClient, session: Session, database: Database, clock: FixedClock, tokens: Tokens
) -> None:
    _, admin = make_user(
        session, clock=clock, role=Role.admin, organization="Hartford General", email="it@hg.test"
    )
    database.config[webhook_service.ALLOW_PRIVATE_KEY] = True
    with running_receiver() as receiver:
        receiver.default = 503
        made = client.post(
            "/api/v1/webhooks",
            json={"url": receiver.url, "events": ["case.status_changed"]},
            headers=_auth(admin),
        ).json()
        receiver.secret = made["secret"]
        url = f"/api/v1/webhooks/{made['id']}"
        for n in range(2):
            payload = referral_payload(clock.now(), external_id=f"ORD-{n}")
            answer = client.post("/api/v1/referrals", json=payload, headers=_auth(tokens.hartford))
            assert answer.status_code == 201, answer.text
        passes = 0
        while client.get(url, headers=_auth(admin)).json()["status"] == "active":
            assert passes < rules.PAUSE_AFTER_FAILURES, "never paused"
            assert _deliver(database, clock, receiver) == 0
            clock.advance(rules.MAX_BACKOFF)
            passes += 1
        paused = client.get(url, headers=_auth(admin)).json()
        assert (
            len(receiver.received) == rules.PAUSE_AFTER_FAILURES == paused["consecutive_failures"]
        )
        assert "Paused after 10 failed attempts in a row" in paused["pause_reason"]
        assert "503, a server error" in paused["pause_reason"]
        # Paused: nothing more is tried, however long it waits.
        clock.advance(timedelta(days=1))
        _deliver(database, clock, receiver)
        assert len(receiver.received) == rules.PAUSE_AFTER_FAILURES

        receiver.default = 204
        resumed = client.post(f"{url}/resume", headers=_auth(admin))
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["status"] == "active" and resumed.json()["pause_reason"] is None
        assert _deliver(database, clock, receiver) == 2
        after = client.get(url, headers=_auth(admin)).json()
        assert after["consecutive_failures"] == 0 and after["last_success_at"]
        assert all(r.signed for r in receiver.received)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.20.30.40/hook", "private network"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "loopback"),
        ("https://localhost:8443/hook", "loopback"),
        ("https://[::ffff:192.168.1.10]/hook", "private network"),
        ("https://[2002:c0a8:10a::1]/hook", "private network"),  # 6to4 of 192.168.1.10
        ("https://2130706433/hook", "loopback"),  # 127.0.0.1 as one decimal number
        ("https://0177.0.0.1/hook", "loopback"),  # octal
        ("https://0x7f.1/hook", "loopback"),
        ("https://224.0.0.251/hook", "multicast"),
        ("http://hooks.example.org/hook", "https://"),
        ("https://user:pw@hooks.example.org/hook", "user name or password"),
    ],
)
def test_a_dangerous_or_plain_url_is_refused_naming_the_field(
    client: TestClient, session: Session, clock: FixedClock, url: str, words: str
) -> None:
    _, admin = make_user(session, clock=clock, role=Role.admin)
    answer = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["case.delivered"]}, headers=_auth(admin)
    )
    assert answer.status_code == 422, answer.text
    errors = answer.json()["errors"]
    assert [e["field"] for e in errors] == ["url"]
    assert words in errors[0]["message"]
    assert session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_bad_fields_are_each_named_and_other_roles_are_refused(
    client: TestClient, session: Session, clock: FixedClock, tokens: Tokens
) -> None:
    admin = tokens.admin
    body = {"url": "https://hooks.example.org/x", "events": ["case.created", "case.delivered"]}
    answer = client.post("/api/v1/webhooks", json=body, headers=_auth(admin))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["events.0"]
    empty = client.post(
        "/api/v1/webhooks", json={"url": "https://x.example", "events": []}, headers=_auth(admin)
    )
    assert [e["field"] for e in empty.json()["errors"]] == ["events"]
    for token in (tokens.hartford, tokens.case_manager, tokens.provider, tokens.member):
        refused = client.post("/api/v1/webhooks", json=body, headers=_auth(token))
        assert refused.status_code == 403, refused.text
    assert session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0


def test_another_organisations_webhook_answers_like_one_that_does_not_exist(
    client: TestClient, session: Session, clock: FixedClock, tokens: Tokens
) -> None:
    hartford, hartford_token = make_user(
        session, clock=clock, role=Role.admin, organization="Hartford General", email="a@hg.test"
    )
    _, albany_token = make_user(
        session, clock=clock, role=Role.admin, organization="Albany Riverside", email="a@ar.test"
    )
    _, supervisor_token = make_user(session, clock=clock, role=Role.supervisor)
    hook = make_webhook(session, hartford, clock=clock)
    missing = 2_147_483_000
    for method, path in (
        ("GET", "/api/v1/webhooks/{}"),
        ("GET", "/api/v1/webhooks/{}/deliveries"),
        ("POST", "/api/v1/webhooks/{}/resume"),
        ("DELETE", "/api/v1/webhooks/{}"),
    ):
        for stranger in (albany_token, supervisor_token):
            real = client.request(method, path.format(hook.id), headers=_auth(stranger))
            made_up = client.request(method, path.format(missing), headers=_auth(stranger))
            assert real.status_code == made_up.status_code == 404, real.text
            assert comparable(real, [str(hook.id)]) == comparable(made_up, [str(missing)])
    assert client.get("/api/v1/webhooks", headers=_auth(albany_token)).json()["total"] == 0
    own = client.get(f"/api/v1/webhooks/{hook.id}", headers=_auth(hartford_token))
    assert own.status_code == 200 and own.json()["status"] == "active"
    gone = client.delete(f"/api/v1/webhooks/{hook.id}", headers=_auth(hartford_token))
    assert gone.status_code == 204
    after = client.get(f"/api/v1/webhooks/{hook.id}", headers=_auth(hartford_token))
    assert after.status_code == 404


def test_the_reading_position_waits_for_late_commits_and_nothing_is_queued_twice(
    client: TestClient, session: Session, clock: FixedClock, tokens: Tokens
) -> None:
    """The centre's webhook hears of every case; its cursor stays behind events younger
    than rules.SETTLE (a transaction holding an earlier id may still commit), and reading
    them again queues nothing twice."""
    supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)
    hook = make_webhook(session, supervisor, clock=clock, events=(WebhookEvent.status_changed,))
    row = session.get(WebhookSubscription, hook.id)
    assert row is not None
    start = row.last_event_id

    def queued() -> list[str]:
        found = session.scalars(select(WebhookDelivery.message_id).order_by(WebhookDelivery.id))
        return list(found)

    for n, token in enumerate((tokens.hartford, tokens.albany)):
        payload = referral_payload(clock.now(), external_id=f"ORD-{n}")
        assert client.post("/api/v1/referrals", json=payload, headers=_auth(token)).is_success
    webhook_service.fan_out(session, clock=clock)
    first = queued()
    assert len(first) == 2 and row.last_event_id == start  # both cases: the centre sees all
    webhook_service.fan_out(session, clock=clock)
    assert queued() == first and row.last_event_id == start
    clock.advance(rules.SETTLE + timedelta(seconds=1))
    webhook_service.fan_out(session, clock=clock)
    assert queued() == first and row.last_event_id > start


def test_each_message_is_signed_as_it_leaves_so_a_slow_receiver_makes_none_stale(
    client: TestClient, session: Session, database: Database, clock: FixedClock, tokens: Tokens
) -> None:
    # One batch goes out one message after another. A receiver that takes four
    # minutes a message (up to rules.TIMEOUT each, 50 to a batch) must not make the
    # messages after it reach their receivers older than the replay window.
    _, admin = make_user(
        session, clock=clock, role=Role.admin, organization="Hartford General", email="it@hg.test"
    )
    database.config[webhook_service.ALLOW_PRIVATE_KEY] = True
    with running_receiver() as slow, running_receiver() as prompt:
        for receiver in (slow, prompt):
            made = client.post(
                "/api/v1/webhooks",
                json={"url": receiver.url, "events": ["case.status_changed"]},
                headers=_auth(admin),
            )
            assert made.status_code == 201, made.text
            receiver.secret, receiver.clock = made.json()["secret"], clock
        slow.takes = timedelta(minutes=4)
        for n in range(3):
            payload = referral_payload(clock.now(), external_id=f"SLOW-{n}")
            answer = client.post("/api/v1/referrals", json=payload, headers=_auth(tokens.hartford))
            assert answer.status_code == 201, answer.text
        clock.advance(rules.SETTLE)
        assert deliver_webhooks(database, LOCAL, clock=clock) == 6
        assert len(slow.received) == len(prompt.received) == 3
        assert all(r.signed for r in slow.received + prompt.received)
