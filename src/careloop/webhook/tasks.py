"""The worker's part: read new case events into messages, then deliver the due ones.
Each step is a transaction of its own, and the POSTs happen between transactions, so a
slow receiver holds no lock (on SQLite, no writer waits for it)."""

from __future__ import annotations

from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.webhook import service
from careloop.webhook.sender import Sender


def deliver_webhooks(database: Database, sender: Sender, *, clock: Clock, batch: int = 50) -> int:
    """Queue the messages of new case events and send one batch of due messages;
    returns how many reached their receiver."""
    with database.unit_of_work() as session:
        service.fan_out(session, clock=clock)
    with database.unit_of_work() as session:
        claimed = service.claim_due(session, clock=clock, limit=batch)
    if not claimed:
        return 0
    # Each message is signed as it leaves, not when the batch was claimed.
    results = [(c, sender.post(c.url, c.body, c.signed_headers(clock.now()))) for c in claimed]
    with database.unit_of_work() as session:
        return service.record_attempts(session, results, clock=clock)
