"""The worker: fires due clocks exactly once, raises overdue work up the escalation
ladder, runs bulk import jobs (resuming one a stopped worker left) and delivers the
outbox.

Run it as ``careloop worker`` (any number side by side on PostgreSQL; one on SQLite),
once as ``careloop tick``, or inside ``careloop demo``. Each batch of clocks is claimed
and fired in one transaction, so a worker killed mid-batch leaves its clocks for the next
one and none fires twice. Kinds with a batch handler fire together (a few statements for
the whole group, in one savepoint); the others, and a group whose batch handler failed,
fire one by one, each clock in a savepoint of its own, so one bad clock holds up no other.
A breached deadline of a case also opens an escalation owned by a supervisor.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from careloop.appeal import tasks as appeal_tasks
from careloop.claim import tasks as claim_tasks
from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.document.tasks import Sweeper
from careloop.escalation import tasks as escalation_tasks
from careloop.grievance import tasks as grievance_tasks
from careloop.imports import tasks as import_tasks
from careloop.matching import tasks as matching_tasks
from careloop.notification import service as notification_service
from careloop.notification.sinks import Sink
from careloop.prior_auth import tasks as prior_auth_tasks
from careloop.referral import tasks as referral_tasks
from careloop.report import reconciliation
from careloop.report import service as report_service
from careloop.scheduling import tasks as scheduling_tasks
from careloop.sla import service as clocks
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from careloop.webhook import tasks as webhook_tasks
from careloop.webhook.sender import Sender
from careloop.workqueue import service as workqueue_service

log = structlog.get_logger("careloop.worker")

Handler = Callable[[Session, ClockRow, Clock], ClockStatus]

HANDLERS: dict[ClockKind, Handler] = {
    **dict.fromkeys(
        referral_tasks.CASE_CLOCK_KINDS,
        lambda s, r, c: referral_tasks.fire_case_clock(s, r, c.now()),
    ),
    ClockKind.offer_response: matching_tasks.on_offer_response_due,
    ClockKind.credential_expiry: matching_tasks.on_credential_expiry,
    ClockKind.authorization_decision: prior_auth_tasks.on_decision_due,
    ClockKind.appeal_deadline: prior_auth_tasks.on_appeal_deadline,
    ClockKind.authorization_expiry: prior_auth_tasks.on_expiry_warning,
    ClockKind.appointment_outcome: scheduling_tasks.on_outcome_due,
    ClockKind.resupply: scheduling_tasks.on_resupply_due,
    ClockKind.escalation_commit: escalation_tasks.on_commit_due,
    ClockKind.escalation_eta: escalation_tasks.on_eta_due,
    ClockKind.appeal_filing: appeal_tasks.on_filing_due,
    ClockKind.appeal_decision: appeal_tasks.on_decision_due,
    ClockKind.grievance_acknowledgement: grievance_tasks.on_window_due,
    ClockKind.grievance_resolution: grievance_tasks.on_window_due,
    ClockKind.timely_filing: claim_tasks.on_filing_due,
    ClockKind.claim_preparation: claim_tasks.on_claim_due,
}

BatchHandler = Callable[[Session, list[ClockRow], Clock], dict[int, ClockStatus]]

#: Handlers that fire many clocks at once (each outcome by clock id); a kind listed here
#: needs its HANDLERS entry too, for the one-by-one fallback.
BATCH_HANDLERS: dict[ClockKind, BatchHandler] = dict.fromkeys(
    referral_tasks.CASE_CLOCK_KINDS,
    lambda s, rows, c: referral_tasks.fire_case_clocks(s, rows, c.now()),
)

#: A clock whose handler failed is retried this much later (and the failure logged).
RETRY_AFTER = timedelta(minutes=5)


def fire_due(database: Database, *, clock: Clock, batch: int = 100) -> Counter[str]:
    """Fire one batch of due clocks; returns how many of each kind fired."""
    fired: Counter[str] = Counter()
    with database.unit_of_work() as session:
        rows = clocks.claim_due_batch(session, clock.now(), batch)
        groups: dict[BatchHandler, list[ClockRow]] = defaultdict(list)
        one_by_one: list[ClockRow] = []
        for row in rows:
            handler = BATCH_HANDLERS.get(row.kind)
            (groups[handler] if handler else one_by_one).append(row)
        for handler, group in groups.items():
            if _fire_group(session, handler, group, clock):
                fired.update(row.kind.value for row in group)
            else:
                one_by_one.extend(group)
        for row in sorted(one_by_one, key=lambda r: (r.due_at, r.id)):
            if _fire_one(session, row, clock):
                fired[row.kind.value] += 1
    return fired


def _fire_group(
    session: Session, handler: BatchHandler, group: list[ClockRow], clock: Clock
) -> bool:
    """Fire a group of clocks with their batch handler; False (nothing written) if it
    failed, so that each clock is tried on its own."""
    try:
        with session.begin_nested():
            outcomes = handler(session, group, clock)
            fired = [(row, outcomes[row.id]) for row in group]
            clocks.mark_fired(session, fired, clock.now())
            escalation_tasks.on_breaches(session, fired, clock)
    except Exception as exc:
        log.warning("worker.batch_failed", size=len(group), error_type=type(exc).__name__)
        return False
    return True


def _fire_one(session: Session, row: ClockRow, clock: Clock) -> bool:
    try:
        with session.begin_nested():
            status = HANDLERS[row.kind](session, row, clock)
            clocks.mark_fired(session, [(row, status)], clock.now())
            escalation_tasks.on_breaches(session, [(row, status)], clock)
    except Exception as exc:
        log.error(
            "worker.clock_failed",
            clock_id=row.id,
            kind=row.kind.value,
            error_type=type(exc).__name__,
        )
        clocks.retry_later(row, due_at=clock.now() + RETRY_AFTER)
        return False
    return True


def climb_ladder(database: Database, *, clock: Clock, batch: int = 100) -> int:
    """Raise past-due work items up the escalation ladder, batch after batch (each in a
    transaction of its own), then fold the connections' rows of the queue's counts;
    returns how many climbed."""
    climbed = 0
    while True:
        with database.unit_of_work() as session:
            done = workqueue_service.climb_due(session, clock=clock, batch=batch)
        climbed += done
        if done < batch:
            break
    with database.unit_of_work() as session:
        workqueue_service.fold_counts(session)
    return climbed


def run_until_idle(
    database: Database,
    *,
    clock: Clock,
    sink: Sink | None = None,
    batch: int = 100,
    report_zone: str | None = None,
    webhooks: Sender | None = None,
    documents: Sweeper | None = None,
) -> Counter[str]:
    """Fire everything due now (batch after batch), then deliver the outbox once, send
    due webhooks (with ``webhooks``), refresh the staff dashboard's snapshot (in
    ``report_zone``) when it is stale, and sweep the document store of what crashes left
    (``documents``, every few minutes)."""
    total: Counter[str] = Counter()
    while True:
        fired = fire_due(database, clock=clock, batch=batch)
        total.update(fired)
        if sum(fired.values()) < batch:
            break
    imported = import_tasks.run_pending(database, clock=clock)
    if imported:
        total["imports"] += imported
    climbed = climb_ladder(database, clock=clock, batch=batch)
    if climbed:
        total["escalations"] += climbed
    if sink is not None:
        with database.unit_of_work() as session:
            total["notifications"] += notification_service.deliver_due(session, sink, clock=clock)
    if webhooks is not None:
        try:
            total["webhooks"] += webhook_tasks.deliver_webhooks(database, webhooks, clock=clock)
        except Exception as exc:  # a webhook fault must not hold up the dashboard's refresh
            log.error("worker.webhooks_failed", error_type=type(exc).__name__)
    if report_zone is not None:
        with database.unit_of_work() as session:
            refreshed = report_service.refresh_dashboard(session, clock=clock, zone=report_zone)
        total["reports"] += int(refreshed)
        total["case_facts"] += refresh_case_facts(database, clock=clock, zone=report_zone)
        with database.unit_of_work() as session:
            ran = reconciliation.run_due_reports(session, clock=clock, zone=report_zone)
        total["scheduled_reports"] += len(ran)
    if documents is not None:
        total.update(documents.run_if_due(database, clock=clock))
    return total


#: What each count of a pass did, in words (``careloop tick`` prints them); the kinds of
#: clock fired are told apart after them.
_DONE_IN_WORDS = {
    "imports": "{} referral file(s) imported",
    "escalations": "{} overdue work item(s) raised to a supervisor or manager",
    "notifications": "{} message(s) delivered",
    "webhooks": "{} webhook message(s) sent",
    "reports": "the staff dashboard's figures refreshed",
    "case_facts": "{} timeline event(s) added to the KPI figures",
    "scheduled_reports": "{} scheduled report(s) written",
    "documents_finished": "{} interrupted document upload(s) finished",
    "documents_lost": "{} document(s) whose file was lost removed (noted on their case)",
    "faxes_finished": "{} interrupted fax(es) finished",
    "staged_removed": "{} abandoned upload(s) removed",
    "files_removed": "{} stored file(s) no document names removed",
}


def described(done: Counter[str]) -> str:
    """A pass's counts in plain words, what did nothing left out: "3 deadline(s) fired
    (2 acknowledgement, 1 offer response); 12 message(s) delivered"."""
    done = +done
    fired = [(kind, n) for kind, n in sorted(done.items()) if kind not in _DONE_IN_WORDS]
    said = []
    if fired:
        kinds = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in fired)
        said.append(f"{sum(n for _, n in fired)} deadline(s) fired ({kinds})")
    said += [words.format(done[key]) for key, words in _DONE_IN_WORDS.items() if done[key]]
    return "; ".join(said) or "nothing was due"


def refresh_case_facts(database: Database, *, clock: Clock, zone: str, passes: int = 20) -> int:
    """Fold the events that landed since the last pass into the KPI pack's case facts,
    batch after batch (each in a transaction of its own); returns how many events."""
    read = 0
    for _ in range(passes):
        with database.unit_of_work() as session:
            done = report_service.refresh_facts(session, clock=clock, zone=zone)
        read += done
        if done == 0:
            break
    return read


def run(
    database: Database,
    *,
    clock: Clock,
    sink: Sink,
    stop: threading.Event,
    idle_seconds: float = 1.0,
    report_zone: str | None = None,
    webhooks: Sender | None = None,
    documents: Sweeper | None = None,
) -> None:
    """Work until ``stop`` is set: fire due clocks, deliver messages, sleep when idle."""
    log.info("worker.started")
    while not stop.is_set():
        try:
            done = run_until_idle(
                database,
                clock=clock,
                sink=sink,
                report_zone=report_zone,
                webhooks=webhooks,
                documents=documents,
            )
        except Exception as exc:  # the database went away: wait and try again
            log.error("worker.pass_failed", error_type=type(exc).__name__)
            stop.wait(5)
            continue
        done = +done  # drop the kinds that did nothing: an idle pass logs nothing
        if done:
            log.info("worker.pass", **dict(done))
        stop.wait(idle_seconds)
    log.info("worker.stopped")
