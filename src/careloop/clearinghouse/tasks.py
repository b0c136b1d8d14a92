"""The clearinghouse job: hand stored files to the exchange, then read what came back,
each inbound file in its own transaction (ids and names in, own unit of work)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy.exc import IntegrityError

from careloop.claim import status as claim_status_service
from careloop.claim.service import ClaimRefusedError
from careloop.claim.submission import ClaimAlreadySentError
from careloop.clearinghouse import claim_files, claim_status, records, service, simulator
from careloop.clearinghouse.envelope import X12FormatError, X12TooLargeError
from careloop.clearinghouse.exchange import Exchange, FolderExchange, HttpExchange, Incoming
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus, simulator_config
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.core.pagination import PageRequest
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus
from careloop.referral.schemas import ReferralFilter
from careloop.settings import Settings

log = structlog.get_logger("careloop.clearinghouse")


def exchange_once(
    database: Database, exchange: Exchange, *, clock: Clock, config: ClearinghouseConfig
) -> list[records.Received]:
    """One pass: deliver pending outbound files, then read every inbound one."""
    with database.unit_of_work() as session:
        immediate = service.deliver_pending(session, exchange, clock=clock)
    results = [
        receive_one(database, Incoming(name, text), clock=clock, config=config)
        for name, text in immediate
    ]
    for item in exchange.incoming():
        try:
            result = receive_one(database, item, clock=clock, config=config)
        except Exception:  # a fault of ours: the file stays for the next pass, the rest go on
            log.exception("clearinghouse.file_failed", file=item.name)
            continue
        exchange.settle(item, accepted=result.status is not ExchangeStatus.rejected)
        results.append(result)
    if any(r.acknowledgment for r in results):
        with database.unit_of_work() as session:
            service.deliver_pending(session, exchange, clock=clock)
    return results


def receive_one(
    database: Database, item: Incoming, *, clock: Clock, config: ClearinghouseConfig
) -> records.Received:
    """Read one file in one transaction; an unreadable one is recorded as rejected (with
    its 999) in a transaction of its own, the first having written nothing; one over the
    size limit is recorded as rejected unread."""
    if item.oversize is not None:
        error = X12TooLargeError(item.oversize, config.max_file_bytes)
        log.warning("clearinghouse.file_too_large", file=item.name, size=item.oversize)
        with database.unit_of_work() as session:
            return service.reject_file(
                session, item.name, item.text, error, clock=clock, config=config
            )
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


def summary(results: list[records.Received]) -> Counter[str]:
    return Counter(f"{r.transaction} {r.status.value}" for r in results)


def config_from(settings: Settings, *, auto_review: bool | None = None) -> ClearinghouseConfig:
    """The clearinghouse's configuration from the operator's settings (validated)."""
    return ClearinghouseConfig(
        sender_id=settings.clearinghouse_sender_id.upper(),
        requester_npi=settings.clearinghouse_npi,
        payer_ids={k.upper(): v for k, v in settings.clearinghouse_payer_ids.items()},
        auto_review=settings.clearinghouse_auto_review if auto_review is None else auto_review,
        simulator=simulator_config(settings.payer_simulator_rules),
        max_file_bytes=settings.clearinghouse_max_file_bytes,
    )


def exchange_from(settings: Settings) -> Exchange:
    """The real-time connection when a URL is set, else the drop folder."""
    if settings.clearinghouse_url:
        return HttpExchange(settings.clearinghouse_url)
    return FolderExchange(
        settings.clearinghouse_dir, max_bytes=settings.clearinghouse_max_file_bytes
    )


def ask_payers(
    database: Database, *, clock: Clock, config: ClearinghouseConfig, limit: int = 6
) -> list[records.Sent]:
    """The sandbox's start: a 270 for acknowledged cases nobody has asked a payer about
    yet (at most ``limit``), so the demo shows eligibility and authorisation arriving
    from the payer's files."""
    sent: list[records.Sent] = []
    with database.unit_of_work() as session:
        page = referral_service.list_referrals(
            session,
            service.CLEARINGHOUSE_ACTOR,
            ReferralFilter(status=[ReferralStatus.acknowledged]),
            PageRequest(limit=50),
            clock=clock,
        )
        for case in page.items:
            if len(sent) >= limit:
                break
            actor = service.CLEARINGHOUSE_ACTOR
            if service.exchanges_of_case(session, actor, case.case_number, clock=clock):
                continue
            try:
                with session.begin_nested():
                    sent.append(
                        service.send_eligibility_inquiry(
                            session, actor, case.case_number, clock=clock, config=config
                        )
                    )
            except DomainError:
                continue
    return sent


def ask_claim_status(
    database: Database, *, clock: Clock, config: ClearinghouseConfig, limit: int = 50
) -> list[records.Sent]:
    """A 276 for each claim its payer has not answered after the contract's days
    (``claim.rules.inquiry_due``), each in a transaction of its own."""
    with database.unit_of_work() as session:
        due = claim_status_service.due_for_inquiry(session, clock=clock, limit=limit)
    sent: list[records.Sent] = []
    for number in due:
        try:
            with database.unit_of_work() as session:
                sent.append(
                    claim_status.send_status_inquiry(
                        session, service.CLEARINGHOUSE_ACTOR, number, clock=clock, config=config
                    )
                )
        except DomainError as exc:
            log.warning("clearinghouse.claim_status_not_asked", code=exc.code)
    return sent


@dataclass(frozen=True, slots=True)
class ClaimsSent:
    sent: list[records.Sent]
    #: Claims not sent, with the reason (pyx12's errors for an 837P that no longer passes).
    refused: list[tuple[str, DomainError]]


def send_claims(
    database: Database,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
    claim_number: str | None = None,
    limit: int = 100,
) -> ClaimsSent:
    """Store the 837P of every prepared claim not yet sent (or of one), each in a
    transaction of its own; a claim whose 837P no longer passes pyx12 is not sent and a
    work item says why. A claim taken by another pass meanwhile is left to it."""
    if claim_number is None:
        with database.unit_of_work() as session:
            numbers = claim_files.ready_to_send(session, limit=limit)
    else:
        numbers = [claim_number]
    out = ClaimsSent([], [])
    for number in numbers:
        try:
            with database.unit_of_work() as session:
                out.sent.append(
                    claim_files.send_claim(
                        session, service.CLEARINGHOUSE_ACTOR, number, clock=clock, config=config
                    )
                )
        except ClaimAlreadySentError as exc:
            if claim_number is not None:
                out.refused.append((number, exc))
        except IntegrityError:  # the file carrying the claim exists: another pass sent it
            log.info("clearinghouse.claim_sent_elsewhere")
        except ClaimRefusedError as exc:
            log.warning("clearinghouse.claim_not_sent", code=exc.code, errors=len(exc.errors))
            with database.unit_of_work() as session:
                claim_files.refused(session, number, exc, clock=clock)
            out.refused.append((number, exc))
        except DomainError as exc:
            log.warning("clearinghouse.claim_not_sent", code=exc.code)
            out.refused.append((number, exc))
    return out


def run_sandbox(
    database: Database,
    folder: Path,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
    stop: threading.Event,
    every: float = 2.0,
) -> None:
    """CareLoop's exchange and the payer simulator taking turns on one folder until
    ``stop`` is set (the demo runs it in a thread)."""
    exchange = FolderExchange(folder, max_bytes=config.max_file_bytes)
    while not stop.is_set():
        try:
            send_claims(database, clock=clock, config=config)
            ask_claim_status(database, clock=clock, config=config)
            exchange_once(database, exchange, clock=clock, config=config)
            simulator.run_once(database, folder, clock=clock, config=config)
        except Exception:  # a bad pass must not end the sandbox; the next one retries
            log.exception("clearinghouse.sandbox_pass_failed")
        stop.wait(every)
