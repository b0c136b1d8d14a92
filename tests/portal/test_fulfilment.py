"""Portal part 2: eligibility, prior authorisation and scheduling on the case page, the
provider's scheduling and delivery, the referrer's written confirmation and the member's
booked window. The pages call the services; the services' refusals come back beside the
fields (422) or as a clear message with the allowed moves (409), nothing half-written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.appeal import service as appeal_service
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.schemas import AuthorizationRequestIn
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.models import Appointment
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft
from tests.portal.conftest import (
    People,
    PortalUser,
    assert_named_as_labelled,
    csrf_of,
    link_member,
    make_portal_user,
    sign_in,
)
from tests.portal.test_pages import assert_safe_html
from tests.portal.test_provider import OXYGEN

ZONE = ZoneInfo("America/New_York")
REVIEWER_SECRET = "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"


@dataclass(frozen=True)
class Accepted:
    case_number: str


def switch(browser: TestClient, user: PortalUser, clock: FixedClock) -> None:
    """Sign in as someone else in the same browser."""
    browser.cookies.clear()
    sign_in(browser, user, clock)


def _tomorrow(clock: FixedClock) -> date:
    return clock.now().astimezone(ZONE).date() + timedelta(days=1)


def _accepted(
    people: People,
    session: Session,
    clock: FixedClock,
    *,
    sent_by: PortalUser | None = None,
    **draft: object,
) -> str:
    """A case sent by ``sent_by`` (the case manager unless said), made ready and offered
    by the case manager, and accepted by Acme Home Medical (people.provider's
    organisation)."""
    make_coverage(session, clock=clock)
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    acme = make_provider(session, clock=clock, admin=admin, name="Acme Home Medical")
    manager = people.manager.actor
    items = draft.pop("items", OXYGEN)
    number = referral_service.submit_referral(
        session,
        (sent_by or people.manager).actor,
        referral_draft(clock.now(), items=items, **draft),
        clock=clock,
    ).case_number
    make_ready(session, manager, number, clock=clock)
    offer = matching_service.offer_referral(
        session, manager, number, OfferCreate(provider_id=acme.id), clock=clock
    )
    assert offer is not None
    matching_service.accept_offer(session, people.provider.actor, offer.id, clock=clock)
    session.flush()
    return number


@pytest.fixture
def accepted(people: People, session: Session, clock: FixedClock) -> Accepted:
    return Accepted(_accepted(people, session, clock))


@pytest.fixture
def reviewer(session: Session, clock: FixedClock, people: People) -> PortalUser:
    return make_portal_user(
        session,
        clock,
        Role.clinical_reviewer,
        email="rev@careloop.test",
        name="Dr. Rina Vos",
        secret=REVIEWER_SECRET,
    )


def _schedule(
    browser: TestClient, number: str, day: date, start: str, end: str, **extra: str
) -> httpx.Response:
    token = csrf_of(browser.get(f"/cases/{number}").text)
    data = {
        "csrf_token": token,
        "form": "schedule_new",
        "schedule_new.day": day.isoformat(),
        "schedule_new.start": start,
        "schedule_new.end": end,
        **extra,
    }
    return browser.post(f"/cases/{number}/schedule", data=data)


def _book_tomorrow(
    browser: TestClient, session: Session, number: str, clock: FixedClock
) -> Appointment:
    """Book the first visit tomorrow 09:00-12:00 (the member's time) from the case page."""
    booked = _schedule(browser, number, _tomorrow(clock), "09:00", "12:00")
    assert booked.status_code == 303, booked.text
    first = scheduling_service.first_appointment(session, _referral_id(session, number))
    assert first is not None
    return first


def _record_outcome(
    browser: TestClient, number: str, appointment_id: int, token: str, **inputs: str
) -> httpx.Response:
    """Send the outcome form of one appointment (inputs named without their prefix)."""
    p = f"outcome_{appointment_id}"
    data = {"csrf_token": token, **{f"{p}.{name}": v for name, v in inputs.items()}}
    return browser.post(f"/cases/{number}/appointments/{appointment_id}/outcome", data=data)


def _authorization_move(
    browser: TestClient, number: str, auth_id: int, move: str, token: str, **inputs: str
) -> httpx.Response:
    """Send one authorisation form (``decision``, ``information`` or ``appeal``)."""
    p = f"{move}_{auth_id}"
    data = {"csrf_token": token, **{f"{p}.{name}": v for name, v in inputs.items()}}
    return browser.post(f"/cases/{number}/authorizations/{auth_id}/{move}", data=data)


class TestEligibilityOnTheCasePage:
    def test_shows_plan_and_per_item_prior_auth_when_verified(
        self, browser: TestClient, people: People, accepted: Accepted, clock: FixedClock
    ) -> None:
        sign_in(browser, people.manager, clock)
        page = browser.get(f"/cases/{accepted.case_number}").text
        assert "NEHP Gold HMO" in page
        assert "not needed: the case goes straight to an offer" in page
        assert "E1390" in page
        assert_safe_html(page)


class TestPriorAuthorization:
    @pytest.fixture
    def requested(
        self, people: People, session: Session, clock: FixedClock, reviewer: PortalUser
    ) -> tuple[str, int]:
        make_coverage(session, clock=clock, prior_auth="E1390")
        number = referral_service.submit_referral(
            session, people.manager.actor, referral_draft(clock.now(), items=OXYGEN), clock=clock
        ).case_number
        make_ready(session, people.manager.actor, number, clock=clock)
        read = prior_auth_service.request_authorization(
            session, people.manager.actor, number, AuthorizationRequestIn(), clock=clock
        )
        session.flush()
        return number, read.id

    def test_only_reviewers_get_the_decision_form(
        self,
        browser: TestClient,
        people: People,
        requested: tuple[str, int],
        reviewer: PortalUser,
        clock: FixedClock,
    ) -> None:
        number, auth_id = requested
        sign_in(browser, people.manager, clock)
        page = browser.get(f"/cases/{number}").text
        assert "Decision due" in page
        assert f"/authorizations/{auth_id}/decision" not in page

    def test_denial_without_contact_is_refused_beside_the_field_and_nothing_is_kept(
        self,
        browser: TestClient,
        session: Session,
        requested: tuple[str, int],
        reviewer: PortalUser,
        clock: FixedClock,
    ) -> None:
        number, auth_id = requested
        sign_in(browser, reviewer, clock)
        page = browser.get(f"/cases/{number}").text
        assert f"/authorizations/{auth_id}/decision" in page
        p = f"decision_{auth_id}"
        refused = _authorization_move(
            browser,
            number,
            auth_id,
            "decision",
            csrf_of(page),
            outcome="denied",
            denial_reason="not_medically_necessary",
        )
        assert_named_as_labelled(refused)
        assert f'id="err-{p}-peer_to_peer_contact"' in refused.text
        message = refused.text.split(f'id="err-{p}-peer_to_peer_contact"')[1].split("</p>")[0]
        assert "peer-to-peer" in message
        assert 'aria-invalid="true"' in refused.text
        assert_safe_html(refused.text)
        still = prior_auth_service.get_authorization(session, reviewer.actor, auth_id, clock=clock)
        assert still.status == "requested"

    def test_deny_then_appeal_then_approve_with_fewer_units(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        requested: tuple[str, int],
        reviewer: PortalUser,
        clock: FixedClock,
    ) -> None:
        number, auth_id = requested
        sign_in(browser, reviewer, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        denied = _authorization_move(
            browser,
            number,
            auth_id,
            "decision",
            token,
            outcome="denied",
            denial_reason="not_medically_necessary",
            peer_to_peer_contact="Dr. Lee, 860-555-0100",
        )
        assert denied.status_code == 303, denied.text
        page = browser.get(denied.headers["location"]).text
        assert "CARC 50" in page
        assert "Appeal by" in page and "Dr. Lee, 860-555-0100" in page
        assert_named_as_labelled(
            _authorization_move(browser, number, auth_id, "appeal", token, rationale=" ")
        )
        appealed = _authorization_move(
            browser, number, auth_id, "appeal", token, rationale="6-minute walk test"
        )
        assert appealed.status_code == 303, appealed.text
        page = browser.get(appealed.headers["location"]).text
        assert "First-level appeal" in page and "Filed, waiting for the decision" in page
        assert_safe_html(page)
        appeal_id = (
            appeal_service.list_appeals(session, reviewer.actor, number, clock=clock).items[0].id
        )
        p = f"appeal_outcome_{appeal_id}"
        fields = {
            "outcome": "overturned",
            "authorization_number": "PA-7781",
            "valid_from": clock.now().date().isoformat(),
            "valid_to": (clock.now().date() + timedelta(days=90)).isoformat(),
        }
        approved = browser.post(
            f"/cases/{number}/appeals/{appeal_id}/outcome",
            data={"csrf_token": token, **{f"{p}.{k}": v for k, v in fields.items()}},
        )
        assert approved.status_code == 303, approved.text
        page = browser.get(approved.headers["location"]).text
        assert "PA-7781" in page
        assert "Approved by the health plan" in page
        assert "Overturned: authorised" in page
        letter = browser.get(f"/cases/{number}/appeals/{appeal_id}/letter.pdf")
        assert letter.status_code == 200
        assert letter.content.startswith(b"%PDF")

    def test_pended_then_information_sent(
        self,
        browser: TestClient,
        requested: tuple[str, int],
        reviewer: PortalUser,
        clock: FixedClock,
    ) -> None:
        number, auth_id = requested
        sign_in(browser, reviewer, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        pended = _authorization_move(
            browser,
            number,
            auth_id,
            "decision",
            token,
            outcome="pended",
            missing_information="Recent oxygen saturation test",
        )
        assert pended.status_code == 303, pended.text
        page = browser.get(pended.headers["location"]).text
        assert "Recent oxygen saturation test" in page
        empty = _authorization_move(browser, number, auth_id, "information", token, note="")
        assert_named_as_labelled(empty)
        assert f'id="err-information_{auth_id}-note"' in empty.text
        sent = _authorization_move(
            browser, number, auth_id, "information", token, note="SpO2 88 % faxed"
        )
        assert sent.status_code == 303


class TestScheduling:
    def test_provider_schedules_in_local_time_and_records_delivery(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        accepted: Accepted,
        clock: FixedClock,
    ) -> None:
        number = accepted.case_number
        sign_in(browser, people.provider, clock)
        home = browser.get("/provider").text
        assert f"/cases/{number}#visits" in home and "Not scheduled yet" in home
        first = _book_tomorrow(browser, session, number, clock)
        assert first.window_start == datetime.combine(_tomorrow(clock), time(9), ZONE)
        home = browser.get("/provider").text
        assert "between 09:00 and 12:00" in home
        page = browser.get(f"/cases/{number}").text
        assert_safe_html(page)
        assert f"outcome_{first.id}.outcome" in page
        p = f"outcome_{first.id}"
        token = csrf_of(page)
        missing = _record_outcome(
            browser, number, first.id, token, outcome="delivered", received_by="Self"
        )
        assert_named_as_labelled(missing)
        assert f'id="err-{p}-serial_numbers"' in missing.text
        assert "serial numbers" in missing.text.split(f'id="err-{p}-serial_numbers"')[1][:200]
        done = _record_outcome(
            browser,
            number,
            first.id,
            token,
            outcome="delivered",
            at=clock.now().astimezone(ZONE).strftime("%Y-%m-%dT%H:%M"),
            received_by="Self",
            serial_numbers="SN-4411-0092",
        )
        assert done.status_code == 303, done.text
        page = browser.get(done.headers["location"]).text
        assert "SN-4411-0092" in page and "Delivered or started" in page
        # Recording it again is a move the appointment no longer allows: 409, said plainly.
        again = _record_outcome(
            browser, number, first.id, token, outcome="missed", reason="member_not_home"
        )
        assert again.status_code == 409
        assert "Not allowed in the appointment" in again.text

    def test_a_window_after_the_deadline_needs_a_reason(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        accepted: Accepted,
        clock: FixedClock,
    ) -> None:
        sign_in(browser, people.manager, clock)
        late = _tomorrow(clock) + timedelta(days=20)
        refused = _schedule(browser, accepted.case_number, late, "09:00", "12:00")
        assert_named_as_labelled(refused)
        text = refused.text
        assert 'id="err-schedule_new-late_reason"' in text
        assert "service deadline" in text.split('id="err-schedule_new-late_reason"')[1][:300]
        rid = _referral_id(session, accepted.case_number)
        assert scheduling_service.first_appointment(session, rid) is None
        booked = _schedule(
            browser,
            accepted.case_number,
            late,
            "09:00",
            "12:00",
            **{"schedule_new.late_reason": "Member away until then"},
        )
        assert booked.status_code == 303

    def test_a_bad_time_is_shown_beside_its_field(
        self, browser: TestClient, people: People, accepted: Accepted, clock: FixedClock
    ) -> None:
        sign_in(browser, people.manager, clock)
        refused = _schedule(browser, accepted.case_number, _tomorrow(clock), "", "08:00")
        assert_named_as_labelled(refused)
        assert 'id="err-schedule_new-start"' in refused.text

    def test_missed_needs_a_coded_reason_then_reopens_scheduling(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        accepted: Accepted,
        clock: FixedClock,
    ) -> None:
        number = accepted.case_number
        sign_in(browser, people.provider, clock)
        first = _book_tomorrow(browser, session, number, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        refused = _record_outcome(browser, number, first.id, token, outcome="missed")
        assert_named_as_labelled(refused)
        assert f'id="err-outcome_{first.id}-reason"' in refused.text
        missed = _record_outcome(
            browser, number, first.id, token, outcome="missed", reason="member_not_home"
        )
        assert missed.status_code == 303
        page = browser.get(f"/cases/{number}").text
        assert "Member not home" in page
        assert f'name="form" value="schedule_{first.id}"' in page


class TestConfirmationAndMember:
    def test_referrer_downloads_the_confirmation_once_scheduled(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        clock: FixedClock,
    ) -> None:
        number = _accepted(people, session, clock, sent_by=people.hartford)
        sign_in(browser, people.hartford, clock)
        assert f"/cases/{number}/confirmation.pdf" not in browser.get("/referrer").text
        pdf = browser.get(f"/cases/{number}/confirmation.pdf")
        assert pdf.status_code == 409  # nothing scheduled yet: a page saying so
        switch(browser, people.manager, clock)
        _book_tomorrow(browser, session, number, clock)
        switch(browser, people.hartford, clock)
        assert f"/cases/{number}/confirmation.pdf" in browser.get("/referrer").text
        pdf = browser.get(f"/cases/{number}/confirmation.pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        switch(browser, people.albany, clock)
        assert browser.get(f"/cases/{number}/confirmation.pdf").status_code == 404

    def test_member_sees_who_is_coming_and_when_and_nothing_internal(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        accepted: Accepted,
        clock: FixedClock,
    ) -> None:
        sign_in(browser, people.manager, clock)
        day = _tomorrow(clock)
        _book_tomorrow(browser, session, accepted.case_number, clock)
        link_member(session, people, accepted.case_number, clock)
        switch(browser, people.member, clock)
        page = browser.get("/member").text
        expected = f"Acme Home Medical is coming on {day:%a %d %b} between 09:00 and 12:00"
        assert expected in page
        assert "E1390" not in page and "NEHP Gold" not in page
        assert_safe_html(page)


class TestWorkQueue:
    def test_an_unacknowledged_case_has_one_acknowledge_button(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = referral_service.submit_referral(
            session, people.hartford.actor, referral_draft(clock.now()), clock=clock
        ).case_number
        session.flush()
        sign_in(browser, people.intake, clock)
        page = browser.get("/staff").text
        assert page.count(f'/cases/{number}"') >= 2  # several of its deadlines are rows
        assert page.count(f'action="/cases/{number}/acknowledge"') == 1


def _referral_id(session: Session, number: str) -> int:
    found = session.query(Referral.id).filter(Referral.case_number == number).scalar()
    assert found is not None
    return int(found)
