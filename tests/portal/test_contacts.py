"""Contacts and notes on the case page: the panel's timer set by the server, the contact
on the timeline in plain words, refusals beside the fields with nothing saved, notes
internal or shared, and the referrer's page with shared notes only."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.interaction import service as interaction_service
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, csrf_of, sign_in
from tests.portal.test_intake import form_data
from tests.portal.test_pages import assert_safe_html


def new_case(people: People, session: Session, clock: FixedClock) -> str:
    draft = referral_draft(clock.now(), channel="portal")
    number = referral_service.submit_referral(
        session, people.hartford.actor, draft, clock=clock
    ).case_number
    session.flush()
    return number


def contact_form(browser: TestClient, number: str) -> tuple[str, str]:
    panel = browser.get(f"/cases/{number}/contact")
    assert panel.status_code == 200, panel.text
    assert_safe_html(panel.text)
    started = re.search(r'name="started_at" value="([^"]+)"', panel.text)
    assert started is not None
    return csrf_of(panel.text), started.group(1)


def test_a_call_logged_from_the_panel_is_on_the_timeline(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.manager, clock)
    case_page = browser.get(f"/cases/{number}")
    assert "Log a contact" in case_page.text
    assert f'hx-get="/cases/{number}/contact"' in case_page.text
    assert "Oxygen 2 L/min continuous." in case_page.text  # the intake form's note

    csrf, started = contact_form(browser, number)
    assert started == clock.now().isoformat()  # the timer starts when the panel opens
    fragment = browser.get(f"/cases/{number}/contact", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'name="started_at"' in fragment.text

    clock.advance(timedelta(minutes=6))
    saved = browser.post(
        f"/cases/{number}/contacts",
        data={
            "csrf_token": csrf,
            "started_at": started,
            "kind": "call",
            "direction": "inbound",
            "party.kind": "member",
            "party.name": "Dorothy Hale",
            "party.phone": "860-555-0142",
            "reason": "status_check",
            "summary": "When does the oxygen come?",
            "case_number_given": "yes",
            "agent_name_given": "yes",
            "outcome": "resolved",
        },
    )
    assert saved.status_code == 303, saved.text
    page = browser.get(saved.headers["location"])
    assert "Call from Dorothy Hale (member): status check, resolved — 6 min" in page.text
    assert "status_check" not in page.text


def test_a_refused_contact_comes_back_beside_the_field_and_nothing_is_saved(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.manager, clock)
    csrf, started = contact_form(browser, number)
    refused = browser.post(
        f"/cases/{number}/contacts",
        data={
            "csrf_token": csrf,
            "started_at": started,
            "kind": "email",
            "direction": "inbound",
            "party.kind": "caregiver",
            "party.name": "Ольга Хейл",
            "party.email": "olga-at-example",
            "reason": "scheduling",
            "outcome": "follow_up",
        },
    )
    assert refused.status_code == 422
    assert "is not an e-mail address" in refused.text
    assert "is required for a follow-up" in refused.text
    assert "Ольга Хейл" in refused.text  # the form comes back filled in
    page = browser.get(f"/cases/{number}")
    assert "E-mail from" not in page.text


def test_notes_internal_for_staff_shared_for_the_referrer(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.manager, clock)
    csrf = csrf_of(browser.get(f"/cases/{number}").text)
    for text, visibility in [("Daughter has a key.", "shared"), ("Payer is slow.", "internal")]:
        added = browser.post(
            f"/cases/{number}/notes",
            data={"csrf_token": csrf, "text": text, "visibility": visibility},
        )
        assert added.status_code == 303, added.text
    blank = browser.post(f"/cases/{number}/notes", data={"csrf_token": csrf, "text": "  "})
    assert blank.status_code == 422
    staff_page = browser.get(f"/cases/{number}").text
    assert "Daughter has a key." in staff_page and "Payer is slow." in staff_page
    assert "Internal note: Payer is slow." in staff_page  # on the timeline

    browser.cookies.clear()
    sign_in(browser, people.hartford, clock)
    referrer_page = browser.get(f"/cases/{number}")
    assert referrer_page.status_code == 200
    assert "Daughter has a key." in referrer_page.text
    assert "Payer is slow." not in referrer_page.text
    assert "Log a contact" not in referrer_page.text
    assert_safe_html(referrer_page.text)


def test_the_dashboard_shows_the_contact_figures(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    sign_in(browser, people.manager, clock)
    queue = browser.get("/staff")
    assert queue.status_code == 200
    assert "first-contact resolution: no inbound contact to count" in queue.text
    assert "average handling time: no contact logged" in queue.text


class TestIntakeCaller:
    def open(self, browser: TestClient) -> tuple[str, str, str]:
        page = browser.get("/referrals/new")
        assert page.status_code == 200
        assert 'name="caller.name"' in page.text
        key = page.text.split('name="idempotency_key" value="')[1].split('"')[0]
        started = re.search(r'name="caller.started_at" value="([^"]+)"', page.text)
        assert started is not None
        return csrf_of(page.text), key, started.group(1)

    def test_the_call_that_brought_the_order_is_on_the_new_case(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        csrf, key, started = self.open(browser)
        clock.advance(timedelta(minutes=9))
        data = {
            **form_data(clock, idempotency_key=key),
            "csrf_token": csrf,
            "caller.started_at": started,
            "caller.kind": "referrer",
            "caller.name": "Jane Doe",
            "caller.organization": "ABC Home Health",
            "caller.phone": "860-555-0177",
            "caller.agent_name_given": "yes",
        }
        created = browser.post("/referrals/new", data=data)
        assert created.status_code == 201, created.text
        number = created.text.split('id="case-number">')[1].split("<")[0]
        again = browser.post("/referrals/new", data=data)  # a double submit: one contact
        assert number in again.text
        listed = interaction_service.list_contacts(
            session, people.intake.actor, number, clock=clock
        ).items
        assert [(c.direction, c.party.organization, c.handling_seconds) for c in listed] == [
            ("inbound", "ABC Home Health", 540)
        ]
        assert listed[0].text == "Call from Jane Doe (referrer): other reason, resolved — 9 min"

    def test_a_wrong_call_back_number_stores_nothing(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        csrf, key, started = self.open(browser)
        data = {
            **form_data(clock, idempotency_key=key),
            "csrf_token": csrf,
            "caller.started_at": started,
            "caller.name": "Jane Doe",
            "caller.phone": "123-456-7890",
        }
        refused = browser.post("/referrals/new", data=data)
        assert refused.status_code == 422
        assert "is not a valid US phone number" in refused.text
        assert session.scalar(select(func.count()).select_from(Referral)) == 0

    def test_the_referrers_form_has_no_caller(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        assert 'name="caller.name"' not in browser.get("/referrals/new").text
