"""Jobs the clock drives: expire unanswered offers, stop offers to providers whose
credentials lapse. ``careloop tick`` runs them until the worker exists; each is
idempotent (a clock fires once; an answered offer is left alone)."""

from __future__ import annotations

from dataclasses import dataclass

from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.matching import service
from careloop.network import service as network_service
from careloop.sla import repository as clocks
from careloop.sla.models import ClockKind, ClockStatus


@dataclass(frozen=True, slots=True)
class TickReport:
    offers_expired: int
    credentials_lapsed: int
    offers_withdrawn: int


def tick(database: Database, *, clock: Clock) -> TickReport:
    """Fire everything due now, each in its own transaction."""
    with database.unit_of_work() as session:
        expired = service.expire_due_offers(session, clock=clock)
    lapsed = withdrawn = 0
    now = clock.now()
    with database.unit_of_work() as session:
        ids = clocks.due_clock_ids(session, ClockKind.credential_expiry, now)
    for clock_id in ids:
        with database.unit_of_work() as session:
            row = clocks.claim(session, clock_id, status=ClockStatus.breached, now=now)
            if row is None or row.provider_id is None:
                continue
            lapsed += 1
            network_service.refresh_offerability(session, row.provider_id, today=now.date())
            if not network_service.is_offerable(session, row.provider_id, today=now.date()):
                withdrawn += service.withdraw_offers_of_provider(
                    session,
                    row.provider_id,
                    reason="a required credential lapsed",
                    clock=clock,
                )
    return TickReport(expired, lapsed, withdrawn)
