"""The case page and the work queue stay a fixed number of statements however long the
history (no N+1): counted with an engine event listener while the page renders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.referral.models import Referral, ReferralEvent
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import submit
from tests.portal.test_provider import OXYGEN

#: Budgets (measured: case page 9, queue 7): session lookup, the reads of each service,
#: their audit rows; room for the candidates of a case ready to offer.
CASE_PAGE_STATEMENTS = 20
QUEUE_PAGE_STATEMENTS = 12


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def add_events(session: Session, case_number: str, count: int, clock: FixedClock) -> None:
    referral_id = session.query(Referral.id).filter(Referral.case_number == case_number).scalar()
    session.execute(
        insert(ReferralEvent),
        [
            {
                "referral_id": referral_id,
                "at": clock.now() + timedelta(seconds=i),
                "type": "referral.note_added",
                "actor_user_id": None,
                "actor_label": "Priya Shah",
                "channel": "phone",
                "provider_id": None,
                "data": {"note": f"call {i}"},
            }
            for i in range(count)
        ],
    )
    session.flush()


def test_case_page_statements_do_not_grow_with_its_timeline(
    browser: TestClient, people: People, session: Session, clock: FixedClock, engine: Engine
) -> None:
    short = submit(session, people.hartford, clock)
    long = submit(session, people.hartford, clock, external_id="LONG-1", member__first_name="Al")
    add_events(session, long, 300, clock)
    sign_in(browser, people.manager, clock)
    counts = []
    for number in (short, long):
        with counting(engine) as statements:
            response = browser.get(f"/cases/{number}")
        assert response.status_code == 200
        counts.append(len(statements))
    assert "call 299" in response.text
    assert counts[0] == counts[1], counts
    assert counts[1] <= CASE_PAGE_STATEMENTS, counts


def test_work_queue_page_statements_do_not_grow_with_the_queue(
    browser: TestClient, people: People, session: Session, clock: FixedClock, engine: Engine
) -> None:
    submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    with counting(engine) as few:
        assert browser.get("/staff").status_code == 200
    for index in range(30):
        submit(session, people.hartford, clock, external_id=f"Q-{index}")
    with counting(engine) as many:
        page = browser.get("/staff")
    assert page.text.count("/staff/queue/") >= 30
    assert len(few) == len(many), (len(few), len(many))
    assert len(many) <= QUEUE_PAGE_STATEMENTS


def test_case_page_with_candidates_stays_within_its_budget(
    browser: TestClient, people: People, session: Session, clock: FixedClock, engine: Engine
) -> None:
    make_coverage(session, clock=clock)
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    for name in ("Acme Home Medical", "Charter Oak Home Medical", "Nutmeg Oxygen"):
        make_provider(session, clock=clock, admin=admin, name=name)
    number = submit(session, people.hartford, clock, items=OXYGEN)
    make_ready(session, people.manager.actor, number, clock=clock)
    add_events(session, number, 300, clock)
    sign_in(browser, people.manager, clock)
    with counting(engine) as statements:
        page = browser.get(f"/cases/{number}")
    assert "Nutmeg Oxygen" in page.text
    assert len(statements) <= CASE_PAGE_STATEMENTS, len(statements)
