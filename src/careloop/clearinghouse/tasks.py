"""The clearinghouse job: hand stored files to the exchange, then read what came back,
each inbound file in its own transaction (ids and names in, own unit of work)."""

from __future__ import annotations

from collections import Counter

import structlog

from careloop.clearinghouse import service
from careloop.clearinghouse.envelope import X12FormatError
from careloop.clearinghouse.exchange import Exchange, FolderExchange, HttpExchange, Incoming
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus, simulator_config
from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.settings import Settings

log = structlog.get_logger("careloop.clearinghouse")


def exchange_once(
    database: Database, exchange: Exchange, *, clock: Clock, config: ClearinghouseConfig
) -> list[service.Received]:
    """One pass: deliver pending outbound files, then read every inbound one."""
    with database.unit_of_work() as session:
        immediate = service.deliver_pending(session, exchange, clock=clock)
    results = [
        receive_one(database, Incoming(name, text), clock=clock, config=config)
        for name, text in immediate
    ]
    for item in exchange.incoming():
        result = receive_one(database, item, clock=clock, config=config)
        exchange.settle(item, accepted=result.status is not ExchangeStatus.rejected)
        results.append(result)
    if any(r.acknowledgment for r in results):
        with database.unit_of_work() as session:
            service.deliver_pending(session, exchange, clock=clock)
    return results


def receive_one(
    database: Database, item: Incoming, *, clock: Clock, config: ClearinghouseConfig
) -> service.Received:
    """Read one file in one transaction; an unreadable one is recorded as rejected (with
    its 999) in a transaction of its own, the first having written nothing."""
    try:
        with database.unit_of_work() as session:
            return service.receive_file(
                session,
                service.CLEARINGHOUSE_ACTOR,
                item.name,
                item.text,
                clock=clock,
                config=config,
            )
    except X12FormatError as exc:
        log.warning(
            "clearinghouse.file_rejected",
            file=item.name,
            segment=exc.segment,
            position=exc.position,
        )
        with database.unit_of_work() as session:
            return service.reject_file(
                session, item.name, item.text, exc, clock=clock, config=config
            )


def summary(results: list[service.Received]) -> Counter[str]:
    return Counter(f"{r.transaction} {r.status.value}" for r in results)


def config_from(settings: Settings, *, auto_review: bool | None = None) -> ClearinghouseConfig:
    """The clearinghouse's configuration from the operator's settings (validated)."""
    return ClearinghouseConfig(
        sender_id=settings.clearinghouse_sender_id.upper(),
        requester_npi=settings.clearinghouse_npi,
        payer_ids={k.upper(): v for k, v in settings.clearinghouse_payer_ids.items()},
        auto_review=settings.clearinghouse_auto_review if auto_review is None else auto_review,
        simulator=simulator_config(settings.payer_simulator_rules),
    )


def exchange_from(settings: Settings) -> Exchange:
    """The real-time connection when a URL is set, else the drop folder."""
    if settings.clearinghouse_url:
        return HttpExchange(settings.clearinghouse_url)
    return FolderExchange(settings.clearinghouse_dir)
