"""Messages that really leave: a real SMTP server (aiosmtpd) on a free local port receives
what the worker sends, and a server that is down keeps every message for a retry."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db import outbox
from careloop.db.outbox import OutboxMessage, OutboxStatus
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.notification import service as notification_service
from careloop.notification.sinks import ChannelSink, channel_sink
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.settings import Settings
from tests.api.conftest import Tokens
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft, referral_payload

MEMBER = ("Dorothy", "Hale")


class Inbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _sink(settings: Settings, tmp_path: Path, port: int) -> ChannelSink:
    return channel_sink(
        settings.model_copy(
            update={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "smtp_from": "CareLoop <care@careloop.test>",
                "notification_dir": tmp_path,
                "member_help_phone": "1-800-555-0199",
            }
        )
    )


@pytest.fixture
def supervisor(session: Session, clock: FixedClock, tokens: Tokens) -> str:
    _, token = make_user(
        session, clock=clock, role=Role.supervisor, name="Morgan Reyes", email="morgan@hub.test"
    )
    identity_service.set_direct_phone(session, "morgan@hub.test", "1-860-555-0177")
    session.flush()
    return token


def _case(client: TestClient, tokens: Tokens, clock: FixedClock) -> str:
    response = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now()),
        headers=Tokens.header(tokens.intake),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["case_number"])


def test_every_step_of_an_escalation_mails_the_requester_in_one_thread(
    client: TestClient,
    tokens: Tokens,
    clock: FixedClock,
    supervisor: str,
    database: Database,
    settings: Settings,
    tmp_path: Path,
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    sink = _sink(settings, tmp_path, port)
    case = _case(client, tokens, clock)
    base = f"/api/v1/referrals/{case}/escalations"
    opened = client.post(
        base,
        json={
            "reason": "service_delay",
            "requested_by": {"kind": "caregiver", "name": "Sam Hale", "email": "sam@example.org"},
        },
        headers=Tokens.header(tokens.intake),
    ).json()
    # Tuesday 24 November 2026, 09:00 in Hartford; the ETA is 16:30 the same day.
    eta = clock.now() + timedelta(hours=7, minutes=30)
    committed = client.post(
        f"{base}/{opened['id']}/commit",
        json={"eta": eta.isoformat()},
        headers=Tokens.header(supervisor),
    )
    assert committed.status_code == 200, committed.text
    resolved = client.post(
        f"{base}/{opened['id']}/resolve",
        json={"resolution": "Oxygen delivered at 15:10"},
        headers=Tokens.header(supervisor),
    )
    assert resolved.status_code == 200, resolved.text
    assert worker.run_until_idle(database, clock=clock, sink=sink)["notifications"] >= 3

    mails = [m for m in inbox.messages if m["To"] == "sam@example.org"]
    assert len(mails) == 3
    first, second, third = mails
    for mail in mails:
        subject = str(mail["Subject"])
        assert case in subject
        assert MEMBER[0] not in subject and MEMBER[1] not in subject, "no PHI in subjects"
        body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert case in body
        assert "Morgan Reyes" in body and "1-860-555-0177" in body
        assert MEMBER[0] not in body
    assert first["Subject"] == f"Your case {case}: escalation update"
    assert second["Subject"] == f"Re: Your case {case}: escalation update"
    assert second["In-Reply-To"] == first["Message-ID"]
    assert third["In-Reply-To"] == first["Message-ID"]
    assert third["References"].split() == [first["Message-ID"], second["Message-ID"]]
    assert len({first["Message-ID"], second["Message-ID"], third["Message-ID"]}) == 3
    committed_body = second.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Tuesday 24 November 2026 at 16:30 (New York time)" in committed_body
    opened_body = first.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "by Tuesday 24 November 2026 at 10:00 (New York time)" in opened_body
    assert "Oxygen delivered at 15:10" in third.get_payload(decode=True).decode()  # type: ignore[union-attr]
    # Delivered exactly once: another pass sends nothing again.
    worker.run_until_idle(database, clock=clock, sink=sink)
    assert len([m for m in inbox.messages if m["To"] == "sam@example.org"]) == 3


def test_a_down_smtp_server_keeps_the_message_for_a_retry(
    client: TestClient,
    tokens: Tokens,
    clock: FixedClock,
    supervisor: str,
    database: Database,
    settings: Settings,
    tmp_path: Path,
    session: Session,
) -> None:
    port = _free_port()  # nobody listens: connection refused
    down = _sink(settings, tmp_path, port)
    case = _case(client, tokens, clock)
    client.post(
        f"/api/v1/referrals/{case}/escalations",
        json={"reason": "other", "requested_by": {"name": "Sam Hale", "email": "sam@example.org"}},
        headers=Tokens.header(tokens.intake),
    )
    for _ in range(12):  # far more attempts than a permanent refusal gets
        worker.run_until_idle(database, clock=clock, sink=down)
        clock.advance(timedelta(hours=1, minutes=1))
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "escalation.opened")
    ).one()
    session.refresh(mail)
    assert mail.status == OutboxStatus.pending.value
    assert mail.attempts == 12 and mail.last_error == "ConnectionRefusedError"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker.run_until_idle(database, clock=clock, sink=down)
    finally:
        controller.stop()
    # The opening mail, kept all along, and the one saying nobody promised a time yet
    # (the commit window passed meanwhile), in that order and in one thread.
    assert [m["To"] for m in inbox.messages] == ["sam@example.org"] * 2
    first, climbed = inbox.messages
    assert first["In-Reply-To"] is None
    assert climbed["In-Reply-To"] == first["Message-ID"]
    session.refresh(mail)
    assert mail.status == OutboxStatus.sent.value


def test_a_delay_notice_reaches_the_member_by_sms_and_the_referrer_by_e_mail(
    client: TestClient,
    tokens: Tokens,
    clock: FixedClock,
    supervisor: str,
    database: Database,
    settings: Settings,
    tmp_path: Path,
    smtp_server: tuple[Inbox, int],
) -> None:
    inbox, port = smtp_server
    sink = _sink(settings, tmp_path, port)
    response = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now()),
        headers=Tokens.header(tokens.hartford),
    )
    case = response.json()["case_number"]
    # 75 % of the 72-hour service window: the start is at risk.
    clock.advance(timedelta(hours=55))
    worker.run_until_idle(database, clock=clock, sink=sink)
    with database.unit_of_work() as s:
        rows = [
            (r.template, r.audience, r.status, r.last_error)
            for r in s.scalars(select(OutboxMessage))
        ]
    at_risk = [m for m in inbox.messages if "may be late" in str(m["Subject"])]
    assert len(at_risk) == 1, (rows, [m["Subject"] for m in inbox.messages])
    (mail,) = at_risk
    assert mail["To"] == "referring_clinician.hartford-general@example.test"
    assert str(mail["Subject"]) == f"Your case {case}: the start of service may be late"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "What happens next" in body and "(New York time)" in body
    sms = (tmp_path / "sms.jsonl").read_text(encoding="utf-8")
    assert "860-555-0142" in sms and case in sms and "Hale" not in sms


def test_a_preference_chooses_the_channel_and_the_language(
    session: Session, clock: FixedClock, tmp_path: Path, settings: Settings
) -> None:
    """The member asked for fax, in Spanish."""
    actor, _ = make_user(session, clock=clock, role=Role.intake_agent)
    make_payer(session, clock=clock)
    referral_service.submit_referral(session, actor, referral_draft(clock.now()), clock=clock)
    referral = session.scalars(select(Referral)).one()
    notification_service.set_preference(
        session,
        f"member:{referral.duplicate_key}",
        channel="fax",
        language="es",
        address="860-555-0999",
        now=clock.now(),
    )
    outbox.enqueue(
        session,
        dedupe_key="t:1",
        audience="member",
        recipient="member",
        template="delay.at_risk",
        now=clock.now(),
        referral_id=referral.id,
        case_number=referral.case_number,
        payload={"due_at": (clock.now() + timedelta(days=1)).isoformat()},
    )
    session.flush()
    sink = channel_sink(settings.model_copy(update={"notification_dir": tmp_path}))
    sent = notification_service.deliver_due(session, sink, clock=clock)
    rows = session.scalars(select(OutboxMessage)).all()
    assert sent >= 1, [(r.template, r.last_error) for r in rows]
    fax = (tmp_path / "fax.jsonl").read_text(encoding="utf-8")
    assert "860-555-0999" in fax and "puede retrasarse" in fax
