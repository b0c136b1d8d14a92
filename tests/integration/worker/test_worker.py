"""The worker fires each due clock once: escalations, warnings, the discharge watch,
the outbox; with two workers racing and with a worker killed mid-batch."""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.outbox import OutboxMessage
from careloop.db.session import Database
from careloop.notification.sinks import FileSink
from careloop.referral import service as referral_service
from careloop.referral.models import Referral, ReferralEvent
from careloop.sla.models import Clock, ClockKind, ClockStatus
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft


def _intake(session: Session, clock: FixedClock) -> Actor:
    make_payer(session, clock=clock)
    actor, _ = make_user(session, clock=clock, role=Role.intake_agent)
    return actor


def _events(session: Session, type_: str) -> list[ReferralEvent]:
    stmt = select(ReferralEvent).where(ReferralEvent.type == type_)
    return list(session.scalars(stmt.order_by(ReferralEvent.id)))


class TestHandlers:
    def test_overdue_acknowledgement_escalates_once(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            actor = _intake(session, clock)
            referral_service.submit_referral(
                session, actor, referral_draft(clock.now()), clock=clock
            )
        clock.advance(timedelta(days=1, minutes=1))
        assert worker.run_until_idle(database, clock=clock)["acknowledgement"] == 1
        assert worker.run_until_idle(database, clock=clock)["acknowledgement"] == 0
        with database.unit_of_work() as session:
            referral = session.scalars(select(Referral)).one()
            assert referral.escalated and referral.escalation_reason == "acknowledgement overdue"
            assert len(_events(session, "sla.breached")) == 1
            outbox = session.scalars(select(OutboxMessage)).all()
            assert [m.template for m in outbox] == ["referral.escalated"]

    def test_escalation_is_audited_and_notified_when_an_acknowledgement_is_overdue(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            actor = _intake(session, clock)
            number = referral_service.submit_referral(
                session, actor, referral_draft(clock.now()), clock=clock
            ).case_number
        clock.advance(timedelta(days=1, minutes=1))
        worker.run_until_idle(database, clock=clock)
        with database.unit_of_work() as session:
            referral = session.scalars(select(Referral)).one()
            audits = session.scalars(
                select(AuditRecord).where(AuditRecord.action == "referral.escalate")
            ).all()
            assert [(a.case_number, a.referral_id, a.actor_role) for a in audits] == [
                (number, referral.id, Role.service.value)
            ]
            assert audits[0].detail is not None
            assert audits[0].detail["reason"] == "acknowledgement overdue"
            message = session.scalars(select(OutboxMessage)).one()
            assert (message.audience, message.recipient, message.case_number) == (
                "staff",
                "supervisors",
                number,
            )
            assert referral.version == 2, "escalating moves the version on"

    def test_warning_at_three_quarters_of_the_service_window(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            actor = _intake(session, clock)
            number = referral_service.submit_referral(
                session, actor, referral_draft(clock.now()), clock=clock
            ).case_number
            referral_service.acknowledge_referral(
                session, actor, number, referral_service.AcknowledgeIn(), clock=clock
            )
        clock.advance(timedelta(hours=53))  # 72 h window: 75 % is 54 h
        assert worker.run_until_idle(database, clock=clock)["service_warning"] == 0
        clock.advance(timedelta(hours=1, minutes=1))
        assert worker.run_until_idle(database, clock=clock)["service_warning"] == 1
        clock.advance(timedelta(hours=18))
        assert worker.run_until_idle(database, clock=clock)["service_start"] == 1
        with database.unit_of_work() as session:
            assert len(_events(session, "sla.warning")) == 1
            referral = session.scalars(select(Referral)).one()
            assert referral.escalation_reason == "service start overdue"

    def test_discharge_at_risk_when_nobody_has_taken_the_case_a_day_before(
        self, database: Database, clock: FixedClock
    ) -> None:
        discharge = clock.now() + timedelta(hours=30)
        with database.unit_of_work() as session:
            actor = _intake(session, clock)
            draft = referral_draft(
                clock.now(), urgency="discharge", discharge_at=discharge.isoformat()
            )
            referral_service.submit_referral(session, actor, draft, clock=clock)
            watch = session.scalars(select(Clock).where(Clock.kind == ClockKind.discharge)).one()
            assert watch.due_at == discharge - timedelta(hours=24)
        clock.advance(timedelta(hours=6, minutes=1))
        fired = worker.run_until_idle(database, clock=clock)
        assert fired["discharge"] == 1
        with database.unit_of_work() as session:
            referral = session.scalars(select(Referral)).one()
            assert referral.escalation_reason is not None
            assert referral.escalation_reason.startswith("discharge at risk")

    def test_outbox_delivered_once_and_kept_when_the_channel_fails(
        self, database: Database, clock: FixedClock, tmp_path: Path
    ) -> None:
        with database.unit_of_work() as session:
            actor = _intake(session, clock)
            referral_service.submit_referral(
                session, actor, referral_draft(clock.now()), clock=clock
            )
        clock.advance(timedelta(days=2))

        class Down:
            def send(self, message: dict[str, Any]) -> None:
                raise ConnectionError("gateway down")

        assert worker.run_until_idle(database, clock=clock, sink=Down())["notifications"] == 0
        sink = FileSink(tmp_path / "outbox.jsonl")
        clock.advance(timedelta(minutes=2))
        assert worker.run_until_idle(database, clock=clock, sink=sink)["notifications"] == 1
        assert worker.run_until_idle(database, clock=clock, sink=sink)["notifications"] == 0
        lines = (tmp_path / "outbox.jsonl").read_text().splitlines()
        assert [json.loads(line)["template"] for line in lines] == ["referral.escalated"]


# ---- racing and dying workers (real commits) ----------------------------------------------

CLOCKS = 600


def _due_clocks(database: Database, clock: FixedClock, count: int) -> None:
    """``count`` due warning clocks spread over a few cases (each firing writes one
    event naming its clock, so double firing would show)."""
    with database.unit_of_work() as session:
        actor = _intake(session, clock)
        ids = [
            referral_service.submit_referral(
                session, actor, referral_draft(clock.now(), member__first_name=f"W{i}"), clock=clock
            ).case_number
            for i in range(5)
        ]
        referral_ids = session.scalars(
            select(Referral.id).where(Referral.case_number.in_(ids))
        ).all()
        session.add_all(
            Clock(
                referral_id=referral_ids[i % len(referral_ids)],
                kind=ClockKind.service_warning,
                status=ClockStatus.open,
                calendar="clock",
                time_zone="UTC",
                rule_source="test",
                started_at=clock.now(),
                due_at=clock.now() - timedelta(seconds=i),
            )
            for i in range(count)
        )


def _fired_once(database: Database, count: int) -> None:
    with database.unit_of_work() as session:
        events = _events(session, "sla.warning")
        per_clock = Counter(e.data["clock_id"] for e in events)
        assert len(per_clock) == count, "a clock was lost"
        assert max(per_clock.values()) == 1, "a clock fired twice"
        still_open = session.scalar(
            select(func.count())
            .select_from(Clock)
            .where(Clock.rule_source == "test", Clock.status == ClockStatus.open)
        )
        assert still_open == 0


def test_a_failing_clock_is_retried_later_and_holds_up_no_other_when_batched(
    database: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _due_clocks(database, clock, 30)
    with database.unit_of_work() as session:
        bad = session.scalars(select(Clock.id).where(Clock.rule_source == "test")).first()
    batch_handler = worker.BATCH_HANDLERS[ClockKind.service_warning]
    one_handler = worker.HANDLERS[ClockKind.service_warning]

    def failing_batch(session: Session, rows: list[Clock], now: Any) -> dict[int, ClockStatus]:
        outcomes = batch_handler(session, rows, now)  # its writes must be rolled back
        if bad in outcomes:
            raise RuntimeError("one clock of the batch cannot fire")
        return outcomes

    def failing_one(session: Session, row: Clock, now: Any) -> ClockStatus:
        status = one_handler(session, row, now)
        if row.id == bad:
            raise RuntimeError("this clock cannot fire")
        return status

    monkeypatch.setitem(worker.BATCH_HANDLERS, ClockKind.service_warning, failing_batch)
    monkeypatch.setitem(worker.HANDLERS, ClockKind.service_warning, failing_one)
    assert worker.run_until_idle(database, clock=clock)["service_warning"] == 29
    with database.unit_of_work() as session:
        per_clock = Counter(e.data["clock_id"] for e in _events(session, "sla.warning"))
        assert len(per_clock) == 29 and max(per_clock.values()) == 1
        assert bad not in per_clock
        left = session.get(Clock, bad)
        assert left is not None and left.status is ClockStatus.open
        assert left.due_at == clock.now() + worker.RETRY_AFTER
    monkeypatch.undo()
    clock.advance(worker.RETRY_AFTER)
    assert worker.run_until_idle(database, clock=clock)["service_warning"] == 1
    _fired_once(database, 30)


@pytest.mark.slow
def test_two_workers_racing_fire_each_clock_once(
    committed_database: Database, clock: FixedClock
) -> None:
    _due_clocks(committed_database, clock, CLOCKS)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while sum(worker.fire_due(committed_database, clock=clock, batch=25).values()):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    _fired_once(committed_database, CLOCKS)


def _open_test_clocks(database: Database) -> int:
    with database.unit_of_work() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Clock)
                .where(Clock.rule_source == "test", Clock.status == ClockStatus.open)
            )
            or 0
        )


def _work_forever(url: str, now_iso: str) -> None:

    database = Database.from_url(url)
    fixed = FixedClock(datetime.fromisoformat(now_iso))
    while True:
        worker.fire_due(database, clock=fixed, batch=10)
        time.sleep(0.002)  # let the test observe progress (SQLite writers take turns)


@pytest.mark.slow
def test_a_worker_killed_at_random_points_loses_and_doubles_nothing(
    committed_database: Database, clock: FixedClock, database_url: str
) -> None:
    count = 4000
    _due_clocks(committed_database, clock, count)
    context = multiprocessing.get_context("spawn")
    rng = random.Random(7)
    interrupted = 0
    for _ in range(6):
        before = _open_test_clocks(committed_database)
        if not before:
            break
        process = context.Process(
            target=_work_forever, args=(database_url, clock.now().isoformat())
        )
        process.start()
        # Kill it once it has fired a random amount of work: mid-batch, at any point.
        target = before - rng.randint(30, 400)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _open_test_clocks(committed_database) > target:
            time.sleep(0.01)
        process.kill()
        process.join()
        interrupted += _open_test_clocks(committed_database) > 0
    assert interrupted >= 3, "the worker was not interrupted while it worked"
    while sum(worker.fire_due(committed_database, clock=clock, batch=50).values()):
        pass
    _fired_once(committed_database, count)


class _Spy:
    """Records the worker's log calls, whatever structlog's level and configuration."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def info(self, event: str, **_: object) -> None:
        self.events.append(event)

    error = info


def test_an_idle_worker_logs_nothing_between_start_and_stop(
    committed_database: Database, clock: FixedClock, tmp_path: Path, monkeypatch: Any
) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    spy = _Spy()
    monkeypatch.setattr(worker, "log", spy)
    sink = FileSink(tmp_path / "outbox.jsonl")
    worker.run(committed_database, clock=clock, sink=sink, stop=stop, idle_seconds=0.05)
    assert spy.events == ["worker.started", "worker.stopped"]
