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

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import Outcome
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn
from careloop.referral.models import Referral, ReferralEvent
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.schemas import ScheduleIn
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import submit
from tests.portal.test_provider import OXYGEN

#: Budgets (measured on SQLite: case page 21 for a new case, 33 for a case ready to offer
#: with its candidates, 39 with its eligibility, an authorisation and an appointment;
#: queue 7): the session lookup, each service's scoped read of the case and its audit
#: row, and its own rows (eligibility 5, authorisations 5, appointments 4, notes 3,
#: escalations 4 with the supervisors to choose from, candidates). The documents list
#: adds 3 (case, audit, documents) on every case and the appeals panel 4 (case, audit,
#: the payer's ladder, appeals; their levels in one more query once there are appeals),
#: read once an authorisation is on the timeline: 32 -> 39. The grievances and regulator
#: filings panels read only once the timeline has a complaint or a filing (none here).
#: None grows with the timeline or with the number of rows shown.
CASE_PAGE_STATEMENTS = 39
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


def test_case_page_with_authorisation_and_appointments_does_not_grow_with_its_timeline(
    browser: TestClient, people: People, session: Session, clock: FixedClock, engine: Engine
) -> None:
    """Eligibility, the authorisation requests and the appointments each add their own
    fixed reads (the service's scoped read of the case, its audit row, its rows)."""
    make_coverage(session, clock=clock, prior_auth="E1390")
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    acme = make_provider(session, clock=clock, admin=admin, name="Acme Home Medical")
    reviewer, _ = make_user(session, clock=clock, role=Role.clinical_reviewer)
    numbers = []
    for external_id in ("FULL-1", "FULL-2"):
        number = submit(session, people.hartford, clock, items=OXYGEN, external_id=external_id)
        fulfil(session, people, reviewer, number, acme.id, clock)
        numbers.append(number)
    add_events(session, numbers[1], 300, clock)
    sign_in(browser, people.manager, clock)
    counts = []
    for number in numbers:
        with counting(engine) as statements:
            page = browser.get(f"/cases/{number}")
        assert page.status_code == 200
        assert "PA-1" in page.text and "Deliveries and visits" in page.text
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    assert counts[1] <= CASE_PAGE_STATEMENTS, counts


def fulfil(
    session: Session,
    people: People,
    reviewer: Actor,
    number: str,
    provider_id: int,
    clock: FixedClock,
) -> None:
    """Authorised, offered, accepted and scheduled, through the services."""
    manager = people.manager.actor
    make_ready(session, manager, number, clock=clock)
    request = prior_auth_service.request_authorization(
        session, manager, number, AuthorizationRequestIn(), clock=clock
    )
    today = clock.now().date()
    prior_auth_service.record_decision(
        session,
        reviewer,
        request.id,
        DecisionIn(
            outcome=Outcome.approved,
            authorization_number="PA-1",
            valid_from=today,
            valid_to=today + timedelta(days=90),
        ),
        clock=clock,
    )
    offer = matching_service.offer_referral(
        session, manager, number, OfferCreate(provider_id=provider_id), clock=clock
    )
    assert offer is not None
    matching_service.accept_offer(session, people.provider.actor, offer.id, clock=clock)
    start = clock.now() + timedelta(hours=20)
    scheduling_service.schedule(
        session,
        manager,
        number,
        ScheduleIn(window_start=start, window_end=start + timedelta(hours=3)),
        clock=clock,
    )
    session.flush()
