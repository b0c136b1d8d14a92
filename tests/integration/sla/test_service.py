"""The sla domain's writes against a real database: many clocks in one INSERT, a case's
clocks closed by kind in one UPDATE, assignment that one person wins, a pause that
pushes the deadline later but never past a cap, an offer's clock closed by its answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.sla import service as sla
from careloop.sla.models import Clock, ClockKind, ClockStatus, Team
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []
    connection = session.connection()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split(maxsplit=1)[0].upper())

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", count)


@pytest.fixture
def case_id(session: Session, clock: FixedClock) -> int:
    make_payer(session, clock=clock)
    intake, _ = make_user(session, clock=clock, role=Role.intake_agent)
    draft = referral_draft(clock.now(), items=OXYGEN, external_id="ORD-SLA")
    case_number = referral_service.submit_referral(session, intake, draft, clock=clock).case_number
    return int(
        session.scalars(select(Referral.id).where(Referral.case_number == case_number)).one()
    )


def _clocks(session: Session, referral_id: int) -> dict[ClockKind, Clock]:
    session.expire_all()
    rows = session.scalars(select(Clock).where(Clock.referral_id == referral_id))
    return {row.kind: row for row in rows}


def _row(referral_id: int, kind: ClockKind, now: datetime, **values: Any) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "kind": kind,
        "status": ClockStatus.open,
        "calendar": "clock",
        "time_zone": "America/Chicago",
        "rule_source": "test rule",
        "started_at": now,
        "due_at": now + timedelta(hours=4),
        "paused_at": None,
        **values,
    }


def test_start_many_is_one_insert_and_each_clock_goes_to_its_team(
    session: Session, clock: FixedClock, case_id: int
) -> None:
    now = clock.now()
    rows = [
        _row(case_id, ClockKind.appeal_deadline, now),
        _row(case_id, ClockKind.authorization_decision, now, due_at=now + timedelta(days=3)),
    ]
    with statements(session) as seen:
        sla.start_many(session, rows)
    assert seen == ["INSERT"]
    clocks = _clocks(session, case_id)
    assert clocks[ClockKind.appeal_deadline].team == Team.case_management.value
    assert clocks[ClockKind.authorization_decision].team == Team.clinical_review.value
    assert clocks[ClockKind.authorization_decision].due_at == now + timedelta(days=3)


def test_close_all_closes_the_named_kinds_in_one_update(
    session: Session, clock: FixedClock, case_id: int
) -> None:
    clock.advance(timedelta(minutes=20))
    at = clock.now()
    with statements(session) as seen:
        sla.close_all(session, case_id, [ClockKind.acknowledgement], status=ClockStatus.met, at=at)
    assert seen == ["UPDATE"]
    clocks = _clocks(session, case_id)
    ack = clocks[ClockKind.acknowledgement]
    assert (ack.status, ack.met_at, ack.cancelled_at) == (ClockStatus.met, at, None)
    assert clocks[ClockKind.service_start].status is ClockStatus.open
    sla.close_all(session, case_id, list(ClockKind), status=ClockStatus.cancelled, at=at)
    clocks = _clocks(session, case_id)
    assert clocks[ClockKind.acknowledgement].status is ClockStatus.met
    assert {c.status for k, c in clocks.items() if k is not ClockKind.acknowledgement} == {
        ClockStatus.cancelled
    }


def test_one_assignee_at_a_time(session: Session, clock: FixedClock, case_id: int) -> None:
    ack = _clocks(session, case_id)[ClockKind.acknowledgement]
    at = clock.now()
    assert sla.assign(session, ack.id, user_id=101, at=at)
    assert not sla.assign(session, ack.id, user_id=202, at=at)
    assert not sla.unassign(session, ack.id, assignee=202)
    assert sla.unassign(session, ack.id, assignee=101)
    assert sla.assign(session, ack.id, user_id=202, at=at)
    assert _clocks(session, case_id)[ClockKind.acknowledgement].assigned_user_id == 202


def test_a_pause_pushes_the_deadline_later_never_past_the_cap(
    session: Session, clock: FixedClock, case_id: int
) -> None:
    start = _clocks(session, case_id)[ClockKind.service_start]
    due = start.due_at
    sla.pause(session, start, now=clock.now())
    assert start.status is ClockStatus.paused
    clock.advance(timedelta(hours=2))
    sla.resume(session, start, now=clock.now(), not_after=due + timedelta(hours=1))
    assert (start.status, start.paused_at) == (ClockStatus.open, None)
    assert start.due_at == due + timedelta(hours=1)
    sla.pause(session, start, now=clock.now())
    clock.advance(timedelta(hours=2))
    sla.resume(session, start, now=clock.now())
    assert start.due_at == due + timedelta(hours=3)


def test_an_answered_offer_closes_its_clock(session: Session, clock: FixedClock) -> None:
    now = clock.now()
    row = sla.start(
        session,
        kind=ClockKind.offer_response,
        referral_id=None,
        offer_id=77,
        provider_id=5,
        due_at=now + timedelta(hours=2),
        rule_source="offer answer window",
        time_zone="UTC",
        now=now,
    )
    session.flush()
    clock.advance(timedelta(minutes=30))
    sla.close_offer_clock(session, 77, ClockStatus.met, clock.now())
    session.flush()
    session.expire_all()
    closed = session.get(Clock, row.id)
    assert closed is not None
    assert (closed.status, closed.met_at, closed.fired_at, closed.team) == (
        ClockStatus.met,
        clock.now(),
        clock.now(),
        Team.case_management.value,
    )
