"""Hostile input through the portal (issue 9): forms and URLs holding control,
bidirectional or zero-width characters are refused with a page that says so, nothing
is stored; dates out of range come back beside their field; searches take ``%`` and
``_`` literally."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.db.models import Base
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, PortalUser, assert_named_as_labelled, csrf_of, sign_in
from tests.portal.test_contacts import contact_form
from tests.portal.test_intake import form_data, open_form

FORBIDDEN = ["\x00", "\x07", "\u202e", "\ufeff"]


def rows(session: Session) -> dict[str, int]:
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
        if table.name not in ("audit_records", "portal_sessions")
    }


def submit(session: Session, user: PortalUser, clock: FixedClock, **overrides: object) -> str:
    draft = referral_draft(clock.now(), **overrides)
    number = referral_service.submit_referral(session, user.actor, draft, clock=clock)
    session.flush()
    return number.case_number


class TestForms:
    @pytest.mark.parametrize("char", FORBIDDEN)
    def test_a_cancel_reason_with_a_forbidden_character_is_refused_and_nothing_changes(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock, char: str
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        before = rows(session)
        response = browser.post(
            f"/cases/{number}/cancel",
            data={"reason": f"Moved{char} away", "csrf_token": token},
        )
        assert response.status_code == 422, response.text
        assert "no text may hold" in response.text
        assert "Nothing was saved" in response.text
        # Beside its field on the case page's form, named by its label (it was a page of
        # its own naming no field).
        assert_named_as_labelled(response)
        beside = response.text.split('id="err-cancel-reason"', 1)[1].split("</p>", 1)[0]
        assert "must not contain" in beside, beside
        assert 'id="f-cancel-reason"' in response.text
        assert rows(session) == before
        status = session.scalar(select(Referral.status).where(Referral.case_number == number))
        assert status is not None and status.value == "received"

    def test_a_form_is_checked_only_once_the_csrf_token_is_right(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        response = browser.post(
            f"/cases/{number}/cancel", data={"reason": "x\x00", "csrf_token": "forged"}
        )
        assert response.status_code == 403

    @pytest.mark.parametrize("char", ["\u200b", "\u200d", "\u2060"])
    def test_an_invisible_character_in_a_name_comes_back_beside_the_field(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock, char: str
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        before = rows(session)
        data = form_data(clock, **{"member.last_name": f"Ha{char}le", "idempotency_key": key})
        response = browser.post("/referrals/new", data={**data, "csrf_token": token})
        assert response.status_code == 422, response.text
        message = response.text.split('id="err-member-last_name"')[1].split("</p>")[0]
        assert "must not contain" in message
        assert rows(session) == before

    def test_a_nul_in_the_referral_form_is_refused_before_the_check(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        before = rows(session)
        data = form_data(clock, **{"member.first_name": "Dor\x00othy", "idempotency_key": key})
        response = browser.post("/referrals/new", data={**data, "csrf_token": token})
        assert response.status_code == 422
        assert rows(session) == before

    @pytest.mark.parametrize("days", [-400, 800])
    def test_a_requested_start_out_of_range_comes_back_beside_the_field(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock, days: int
    ) -> None:
        sign_in(browser, people.intake, clock)
        token, key = open_form(browser)
        start = (clock.now() + timedelta(days=days)).date().isoformat()
        data = form_data(clock, requested_start=start, idempotency_key=key)
        before = rows(session)
        response = browser.post("/referrals/new", data={**data, "csrf_token": token})
        assert response.status_code == 422, response.text
        message = response.text.split('id="err-requested_start"')[1].split("</p>")[0]
        assert "out of range" in message
        assert rows(session) == before

    def test_sign_in_with_a_nul_in_the_address_is_refused_without_a_server_error(
        self, browser: TestClient, people: People
    ) -> None:
        form = browser.get("/signin")
        response = browser.post(
            "/signin",
            data={
                "email": "priya@careloop.test\x00",
                "password": "x",
                "csrf_token": csrf_of(form.text),
            },
        )
        assert response.status_code == 422
        assert "no text may hold" in response.text


class TestUrls:
    @pytest.mark.parametrize("escaped", ["%00", "%E2%80%AE", "%E2%80%8B"])
    def test_a_case_number_or_search_with_a_forbidden_character_is_refused(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock, escaped: str
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        for url in (
            f"/cases/{number}{escaped}",
            f"/staff/search?q=Hale{escaped}",
            f"/staff?payer=NEHP{escaped}",
        ):
            response = browser.get(url)
            assert response.status_code == 422, (url, response.text)
            assert response.headers["content-type"].startswith("text/html"), url
            assert "no text may hold" in response.text, url

    @pytest.mark.parametrize("term,found", [("%25", "Ha%le"), ("_", "Ha_le")])
    def test_search_takes_like_wildcards_literally(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        clock: FixedClock,
        term: str,
        found: str,
    ) -> None:
        numbers = {
            last: submit(
                session, people.hartford, clock, member__last_name=last, external_id=f"O-{last}"
            )
            for last in ("Hale", "Ha%le", "Ha_le")
        }
        sign_in(browser, people.intake, clock)
        page = browser.get(f"/staff/search?q={term}").text
        assert [last for last, n in numbers.items() if n in page] == [found]


#: What people type, in the scripts members' and callers' names come in, with one of the
#: characters no text may hold somewhere in it.
_WORDS = ["Dorothy Hale", "陈美玲", "Жанна Смирнова", "مريم حداد", "Chloé Lefèvre"]


def _with(char: str, words: str) -> str:
    middle = len(words) // 2
    return f"{words[:middle]}{char}{words[middle:]}"


class TestFormsBesideTheField:
    """A character no text may hold, typed into a form, comes back beside its field on
    that form (named by its label, what was typed kept), not on a page of its own that
    names no field; nothing is saved."""

    @pytest.mark.parametrize("char", FORBIDDEN)
    @pytest.mark.parametrize("words", _WORDS)
    def test_on_an_escalation(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        clock: FixedClock,
        char: str,
        words: str,
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        before = rows(session)
        response = browser.post(
            f"/cases/{number}/escalations",
            data={
                "csrf_token": token,
                "escalate.reason": "service_delay",
                "escalate.severity": "urgent",
                "escalate.requested_by.kind": "caregiver",
                "escalate.requested_by.name": _with(char, words),
                "escalate.details": "No van yet",
            },
        )
        assert_named_as_labelled(response)
        beside = response.text.split('id="err-escalate-requested_by-name"', 1)[1]
        assert "must not contain" in beside.split("</p>", 1)[0]
        assert rows(session) == before

    @pytest.mark.parametrize("char", FORBIDDEN)
    def test_on_a_contact_and_a_note(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock, char: str
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        token, started = contact_form(browser, number)
        before = rows(session)
        contact = browser.post(
            f"/cases/{number}/contacts",
            data={
                "csrf_token": token,
                "started_at": started,
                "kind": "call",
                "direction": "inbound",
                "reason": "status_check",
                "party.kind": "member",
                "party.name": _with(char, "Жанна Смирнова"),
                "outcome": "resolved",
            },
        )
        assert_named_as_labelled(contact)
        assert "must not contain" in contact.text.split('id="err-party-name"', 1)[1][:200]
        note = browser.post(
            f"/cases/{number}/notes", data={"csrf_token": token, "text": _with(char, "陈美玲")}
        )
        assert_named_as_labelled(note)
        assert "must not contain" in note.text.split('id="err-text"', 1)[1][:200]
        assert rows(session) == before
