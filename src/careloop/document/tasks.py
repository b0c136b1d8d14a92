"""The worker's sweep of the document store (document.service.sweep), at most every few
minutes: walking the store on every one-second pass would cost more than it finds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.document import service
from careloop.document.store import DocumentStore


@dataclass
class Sweeper:
    store: DocumentStore
    grace: timedelta
    every: timedelta = timedelta(minutes=10)
    last: datetime | None = field(default=None)

    def run_if_due(self, database: Database, *, clock: Clock) -> Counter[str]:
        now = clock.now()
        if self.last is not None and now - self.last < self.every:
            return Counter()
        self.last = now
        with database.unit_of_work() as session:
            return service.sweep(session, self.store, clock=clock, grace=self.grace)
