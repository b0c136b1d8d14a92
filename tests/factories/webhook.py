"""Webhook subscriptions and a real HTTP receiver on 127.0.0.1 that checks signatures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock, FixedClock
from careloop.db.session import CONFIG_KEY
from careloop.webhook import WebhookCreate, WebhookCreated, WebhookEvent, verify
from careloop.webhook import service as webhook_service


@contextmanager
def private_addresses_allowed(session: Session) -> Iterator[None]:
    """The demo's setting, for one block: receivers on this machine may be registered."""
    config = session.info.setdefault(CONFIG_KEY, {})
    before = config.get(webhook_service.ALLOW_PRIVATE_KEY)
    config[webhook_service.ALLOW_PRIVATE_KEY] = True
    try:
        yield
    finally:
        config[webhook_service.ALLOW_PRIVATE_KEY] = before


def make_webhook(
    session: Session,
    actor: Actor,
    *,
    clock: Clock,
    url: str = "http://127.0.0.1:9/hook",
    events: tuple[WebhookEvent, ...] = tuple(WebhookEvent),
) -> WebhookCreated:
    """A subscription of the actor's organisation (an admin's), to a local URL."""
    with private_addresses_allowed(session):
        body = WebhookCreate(url=url, events=list(events))
        return webhook_service.create_subscription(session, actor, body, clock=clock)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1: answers with ``answers`` in turn (then ``default``),
    records each request and whether its signature verifies with ``secret`` at ``now``."""

    url: str = ""
    secret: str = ""
    now: int = 0
    answers: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: With a clock, a receiver checks the signature at the clock's time of receipt,
    #: and each answer takes ``takes`` of that clock's time (a slow receiver).
    clock: FixedClock | None = None
    takes: timedelta = timedelta(0)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        now = int(self.clock.now().timestamp()) if self.clock else self.now
        signed = verify(headers.get("careloop-signature", ""), body, self.secret, now=now)
        if self.clock:
            self.clock.advance(self.takes)
        with self.lock:
            self.received.append(Received(headers, body, signed))
            return self.answers.pop(0) if self.answers else self.default


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = receiver.answer(headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/careloop/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
