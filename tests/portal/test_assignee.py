"""The staff case page names the case's case manager and lets staff give the case to
another (the same service as POST /api/v1/referrals/{case}/assignee)."""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.identity import service as identity_service
from tests.portal.conftest import People, csrf_of, sign_in
from tests.portal.test_pages import submit


def test_case_page_names_the_assignee_and_reassigns_when_staff_choose_another(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    identity_service.add_user(
        session,
        email="lucia@careloop.test",
        role=Role.case_manager,
        display_name="Lucía Gómez",
        phone_extension="4418",
        languages=["es"],
        clock=clock,
    )
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Case manager: Jane Ruiz" in text
    assert "Lucía Gómez · speaks Spanish" in text
    moved = browser.post(
        f"/cases/{number}/assignee",
        data={
            "csrf_token": csrf_of(page.text),
            "assignee.email": "lucia@careloop.test",
            "assignee.note": "Family prefers Spanish",
        },
    )
    assert moved.status_code == 303, moved.text
    after = html.unescape(browser.get(moved.headers["location"]).text)
    assert "Case manager: Lucía Gómez, ext. 4418" in after
    assert "chosen by Priya Shah: Family prefers Spanish" in after
    assert "Referral reassigned" in after or "referral reassigned" in after.lower()


def test_reassign_refused_beside_the_field_when_nobody_is_chosen(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/cases/{number}")
    refused = browser.post(
        f"/cases/{number}/assignee",
        data={"csrf_token": csrf_of(page.text), "assignee.email": ""},
    )
    assert refused.status_code == 422
    assert 'id="problem-assignee"' in refused.text
    assert "choose a case manager" in refused.text
    assert "Case manager: Jane Ruiz" in html.unescape(refused.text)


def test_referrer_sees_no_reassign_form_and_is_refused(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.hartford, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    assert "/assignee" not in page.text
    refused = browser.post(
        f"/cases/{number}/assignee",
        data={"csrf_token": csrf_of(page.text), "assignee.email": "jane@careloop.test"},
    )
    assert refused.status_code == 403
