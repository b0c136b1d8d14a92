"""The work queue as a coordinator sees it: late work stays, first and in red with how
late; one row per case; the header's overdue count is the queue's; sorting, views and
team counts are links; the keys come from a script file."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core import events
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.schemas import AcknowledgeIn
from careloop.worker import climb_ladder
from careloop.workqueue import service as workqueue_service
from careloop.workqueue.models import WorkItem
from tests.factories.referral import make_payer
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import assert_safe_html, submit

ROW = re.compile(r"<tr class=\"([^\"]*)\"[^>]*>(.*?)</tr>", re.S)


def rows(html: str) -> list[tuple[str, str]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return ROW.findall(body)


def test_a_breached_never_acknowledged_case_stays_first_in_red_with_how_late(
    browser: TestClient, people: People, session: Session, clock: FixedClock, app: FastAPI
) -> None:
    late = submit(session, people.hartford, clock, external_id="LATE-1")
    clock.advance(timedelta(days=3, hours=2))
    fresh = submit(session, people.hartford, clock, external_id="FRESH-1")
    session.flush()
    assert climb_ladder(app.state.database, clock=clock) == 1  # the worker's pass
    sign_in(browser, people.intake, clock)
    page = browser.get("/staff")
    assert page.status_code == 200
    listed = rows(page.text)
    assert [late in body for _, body in listed] == [True, False]
    assert fresh in listed[1][1]
    css, body = listed[0]
    assert "is-overdue" in css
    assert re.search(r'class="due overdue"[^>]*>overdue by \d+ d[^<]*<', body), body
    assert "Supervisor" in body  # it climbed to the supervisor's queue
    header = re.search(r'id="overdue-now">(\d+)<', page.text)
    assert header and header.group(1) == "1"
    assert "work items overdue now" in page.text
    supervisor = browser.get("/staff?view=supervisor")
    assert [late in body for _, body in rows(supervisor.text)] == [True]
    assert_safe_html(page.text)


def test_a_case_with_several_items_is_one_row_and_2_more(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = submit(session, people.hartford, clock, diagnoses=[])  # acknowledge and clarify
    referral_id = session.scalars(select(Referral.id).where(Referral.case_number == number)).one()
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=referral_id,
        kind="call_back",
        team="case_management",
        due_at=clock.now() + timedelta(days=5),
        subject="contact:1",
        title="Call the referrer back",
    )
    session.flush()
    sign_in(browser, people.intake, clock)
    listed = rows(browser.get("/staff").text)
    assert len(listed) == 1
    assert "and 2 more" in listed[0][1]


def test_team_counts_views_and_sort_links(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    submit(session, people.hartford, clock, external_id="A-1")
    submit(session, people.hartford, clock, external_id="A-2", urgency="urgent")
    sign_in(browser, people.intake, clock)
    page = browser.get("/staff").text
    assert re.search(r'href="/staff\?team=intake">Intake <span class="count">2</span>', page)
    assert 'href="/staff?view=supervisor"' in page and 'href="/staff?view=manager"' in page
    for key in ("urgency", "payer", "status", "owner"):
        assert f'href="/staff?sort={key}"' in page
    urgent_first = browser.get("/staff?sort=urgency&team=intake")
    assert urgent_first.status_code == 200
    assert "Urgent" in rows(urgent_first.text)[0][1]


@pytest.mark.parametrize("view", ["supervisor", "manager"])
def test_empty_views_say_so(
    browser: TestClient, people: People, session: Session, clock: FixedClock, view: str
) -> None:
    submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    assert "Nothing needs anyone" in browser.get(f"/staff?view={view}").text


def test_keys_come_from_a_script_file(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    page = browser.get("/staff").text
    assert '<script src="/static/js/queue.js" defer></script>' in page
    assert 'data-open="/cases/' in page and 'class="inline claim"' in page
    script = browser.get("/static/js/queue.js")
    assert script.status_code == 200
    for key in ('"j"', '"k"', '"o"', '"c"', '"Enter"'):
        assert key in script.text


@pytest.mark.parametrize("sort", ["urgency", "payer", "status", "owner"])
def test_late_work_stays_first_whatever_the_sort(
    browser: TestClient,
    people: People,
    session: Session,
    clock: FixedClock,
    app: FastAPI,
    sort: str,
) -> None:
    """A sort orders the rows within the late ones and within the rest: it never puts
    work on time above a breached case (nor, on a long queue, on a page before it)."""
    make_payer(session, clock=clock, code="AAHP", name="Aardvark Health Plan")
    late = submit(session, people.hartford, clock, external_id="LATE-2")
    clock.advance(timedelta(days=3, hours=2))
    # On time, and first by every other order: urgent, a payer that sorts first, further
    # along (acknowledged), and claimed.
    fresh = submit(
        session,
        people.hartford,
        clock,
        external_id="FRESH-2",
        urgency="urgent",
        coverage__payer_id="AAHP",
    )
    referral_service.acknowledge_referral(
        session, people.intake.actor, fresh, AcknowledgeIn(), clock=clock
    )
    fresh_id = session.scalars(select(Referral.id).where(Referral.case_number == fresh)).one()
    item = session.scalars(
        select(WorkItem.id).where(WorkItem.referral_id == fresh_id, WorkItem.closed_at.is_(None))
    ).first()
    assert item is not None
    workqueue_service.claim_item(session, people.intake.actor, item, clock=clock, whole_case=True)
    session.flush()
    climb_ladder(app.state.database, clock=clock)
    sign_in(browser, people.intake, clock)
    listed = rows(browser.get(f"/staff?sort={sort}").text)
    assert [late in body for _, body in listed] == [True, False], sort
    assert "is-overdue" in listed[0][0] and fresh in listed[1][1]


@pytest.mark.parametrize("sort", ["due", "urgency", "payer", "status", "owner"])
def test_work_about_to_breach_comes_right_after_the_late_work_whatever_the_sort(
    browser: TestClient,
    people: People,
    session: Session,
    clock: FixedClock,
    app: FastAPI,
    sort: str,
) -> None:
    """Work due within the hour is about to breach: after the late rows, before the rest,
    under every sort, and the queue's caption says so."""
    make_payer(session, clock=clock, code="AAHP", name="Aardvark Health Plan")
    late = submit(session, people.hartford, clock, external_id="LATE-3")
    clock.advance(timedelta(days=3, hours=2))
    soon = submit(session, people.hartford, clock, external_id="SOON-3")
    soon_id = session.scalars(select(Referral.id).where(Referral.case_number == soon)).one()
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=soon_id,
        kind="call_back",
        team="intake",
        due_at=clock.now() + timedelta(minutes=40),
        subject="contact:3",
        title="Call the caregiver back",
    )
    # Due later, and first by every other order: urgent, a payer that sorts first,
    # further along (acknowledged), and claimed.
    fresh = submit(
        session,
        people.hartford,
        clock,
        external_id="FRESH-3",
        urgency="urgent",
        coverage__payer_id="AAHP",
    )
    referral_service.acknowledge_referral(
        session, people.intake.actor, fresh, AcknowledgeIn(), clock=clock
    )
    fresh_id = session.scalars(select(Referral.id).where(Referral.case_number == fresh)).one()
    item = session.scalars(
        select(WorkItem).where(WorkItem.referral_id == fresh_id, WorkItem.closed_at.is_(None))
    ).first()
    assert item is not None and item.due_at > clock.now() + timedelta(hours=1)
    workqueue_service.claim_item(
        session, people.intake.actor, item.id, clock=clock, whole_case=True
    )
    session.flush()
    climb_ladder(app.state.database, clock=clock)
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/staff?sort={sort}").text
    listed = rows(page)
    assert [next(n for n in (late, soon, fresh) if n in body) for _, body in listed] == [
        late,
        soon,
        fresh,
    ], sort
    caption = re.search(r"<caption[^>]*>(.*?)</caption>", page, re.S)
    assert caption and "due within the hour" in caption.group(1), caption
