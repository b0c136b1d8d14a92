"""A refused move's summary, above the form that was sent, names each field by the label
the form shows beside it ("Reason for cancelling: say why the case is cancelled"), never
by words made from the API's field path ("Reason", "Email", "Raised by name").

Every call of the shared summary (macros.html ``refused``) passes its form's labels, so
a form added without them fails here; and each form the services can refuse is refused
once, its summary's links checked against the labels on the page."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from fastapi.testclient import TestClient
from jinja2 import nodes
from sqlalchemy.orm import Session

from careloop.appeal import service as appeal_service
from careloop.appeal.schemas import AppealCreate
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.grievance import service as grievance_service
from careloop.grievance.rules import Party, Subject
from careloop.grievance.schemas import GrievanceCreate
from careloop.portal.templates import environment
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import DenialReason
from careloop.prior_auth.rules import Outcome as DecisionOutcome
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn
from careloop.referral import service as referral_service
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.referral import referral_draft
from tests.portal.conftest import (
    People,
    PortalUser,
    assert_named_as_labelled,
    csrf_of,
    make_portal_user,
    sign_in,
    summary_and_labels,
)
from tests.portal.test_fulfilment import (
    OXYGEN,
    REVIEWER_SECRET,
    ZONE,
    _accepted,
    _book_tomorrow,
    _record_outcome,
)
from tests.portal.test_pages import submit


def test_every_refusal_summary_is_given_its_forms_labels() -> None:
    env = environment()
    assert env.loader is not None
    bare: list[str] = []
    calls = 0
    for name in env.list_templates(extensions=["html"]):
        source = env.loader.get_source(env, name)[0]
        for call in env.parse(source).find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == "refused":
                calls += 1
                if len(call.args) < 3 and not any(k.key == "labels" for k in call.kwargs):
                    bare.append(f"{name}, line {call.lineno}")
    assert calls >= 18, calls
    assert not bare, bare


def _post(browser: TestClient, number: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(browser.get(f"/cases/{number}").text)
    return browser.post(f"/cases/{number}/{path}", data={"csrf_token": token, **data})


def test_the_case_forms_summaries_name_fields_as_the_form_labels_them(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    assert_named_as_labelled(_post(browser, number, "assignee", **{"assignee.email": ""}))
    assert_named_as_labelled(_post(browser, number, "cancel", reason=" "))
    assert_named_as_labelled(
        browser.post(
            f"/cases/{number}/documents",
            data={"csrf_token": csrf_of(browser.get(f"/cases/{number}").text), "kind": "other"},
        )
    )
    assert_named_as_labelled(
        _post(browser, number, "grievances", **{"grievance.details": "Nobody called back"})
    )


def test_the_dispute_forms_summaries_name_fields_as_the_form_labels_them(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = submit(session, people.hartford, clock)
    grievance = grievance_service.open_grievance(
        session,
        people.intake.actor,
        number,
        GrievanceCreate(
            subject=Subject.coordination,
            details="Nobody called back",
            raised_by=Party.member,
            raised_by_name="Dorothy",
        ),
        clock=clock,
    )
    session.flush()
    sign_in(browser, people.intake, clock)
    assert_named_as_labelled(
        _post(browser, number, "regulatory-escalations", **{"regulator.reference": "x" * 201})
    )
    p = f"gres_{grievance.id}"
    assert_named_as_labelled(
        _post(browser, number, f"grievances/{grievance.id}/resolve", **{f"{p}.note": " "})
    )


@pytest.fixture
def appealed(people: People, session: Session, clock: FixedClock) -> tuple[str, int, PortalUser]:
    """A case whose prior authorisation a reviewer denied and the case manager appealed
    (the first level filed)."""
    make_coverage(session, clock=clock, prior_auth="E1390")
    number = referral_service.submit_referral(
        session, people.manager.actor, referral_draft(clock.now(), items=OXYGEN), clock=clock
    ).case_number
    make_ready(session, people.manager.actor, number, clock=clock)
    read = prior_auth_service.request_authorization(
        session, people.manager.actor, number, AuthorizationRequestIn(), clock=clock
    )
    reviewer = _reviewer(session, clock)
    prior_auth_service.record_decision(
        session,
        reviewer.actor,
        read.id,
        DecisionIn(
            outcome=DecisionOutcome.denied,
            denial_reason=DenialReason.not_medically_necessary,
            peer_to_peer_contact="Dr. Lee, 860-555-0100",
        ),
        clock=clock,
    )
    appeal = appeal_service.open_appeal(
        session,
        people.manager.actor,
        number,
        AppealCreate(authorization_id=read.id, rationale="6-minute walk test"),
        clock=clock,
    )
    session.flush()
    return number, appeal.id, reviewer


def _reviewer(session: Session, clock: FixedClock) -> PortalUser:
    return make_portal_user(
        session,
        clock,
        Role.clinical_reviewer,
        email="rev@careloop.test",
        name="Dr. Rina Vos",
        secret=REVIEWER_SECRET,
    )


def test_the_appeal_forms_summaries_name_fields_as_the_form_labels_them(
    browser: TestClient, appealed: tuple[str, int, PortalUser], clock: FixedClock
) -> None:
    number, appeal_id, reviewer = appealed
    sign_in(browser, reviewer, clock)
    assert f"/appeals/{appeal_id}/outcome" in browser.get(f"/cases/{number}").text
    p = f"appeal_outcome_{appeal_id}"
    assert_named_as_labelled(
        _post(
            browser,
            number,
            f"appeals/{appeal_id}/outcome",
            **{f"{p}.outcome": "overturned", f"{p}.valid_from": "2026-13-40"},
        )
    )
    upheld = _post(
        browser,
        number,
        f"appeals/{appeal_id}/outcome",
        **{f"{p}.outcome": "upheld", f"{p}.note": "Criteria not met"},
    )
    assert upheld.status_code == 303, upheld.text
    assert f"/appeals/{appeal_id}/levels" in browser.get(f"/cases/{number}").text
    p = f"level_{appeal_id}"
    assert_named_as_labelled(
        _post(browser, number, f"appeals/{appeal_id}/levels", **{f"{p}.rationale": "x" * 4001})
    )


def test_the_close_forms_summary_names_the_note_as_the_form_labels_it(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = _accepted(people, session, clock)
    sign_in(browser, people.provider, clock)
    first = _book_tomorrow(browser, session, number, clock)
    token = csrf_of(browser.get(f"/cases/{number}").text)
    at = clock.now().astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")
    done = _record_outcome(
        browser,
        number,
        first.id,
        token,
        outcome="delivered",
        at=at,
        received_by="Self",
        serial_numbers="SN-1",
    )
    assert done.status_code == 303, done.text
    browser.cookies.clear()
    sign_in(browser, people.manager, clock)
    assert_named_as_labelled(_post(browser, number, "close", **{"close.note": "x" * 501}))


def test_the_contact_and_note_summaries_name_fields_as_the_form_labels_them(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The contact panel's refusal once said only "see the messages beside the fields",
    above a form longer than the screen."""
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    panel = browser.get(f"/cases/{number}/contact")
    started = panel.text.split('name="started_at" value="', 1)[1].split('"', 1)[0]
    sent = {
        "csrf_token": csrf_of(panel.text),
        "started_at": started,
        "kind": "call",
        "direction": "inbound",
        "reason": "status_check",
        "party.kind": "member",
        "outcome": "follow_up",
    }
    for changes, named in (
        ({"party.name": ""}, ["Name"]),
        (
            {"party.name": "Ann Lee", "party.email": "not an address"},
            ["E-mail address", "Follow-up due (member's local time)"],
        ),
    ):
        refused = browser.post(f"/cases/{number}/contacts", data={**sent, **changes})
        assert_named_as_labelled(refused)
        summary, _ = summary_and_labels(refused.text)
        assert sorted(html.unescape(words) for _, words in summary) == named, summary
    assert_named_as_labelled(_post(browser, number, "notes", text=" "))


def test_a_refusal_whose_form_is_not_on_the_page_names_its_fields_once_by_their_labels(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """A form sent from a page opened before the case moved on (here: closing a case not
    yet fulfilled) comes back to a page without it; the page's summary read "Some fields
    are not valid: Some fields are not valid; see the messages beside them" and linked to
    a form that was not there. It names each field by its form's label, with its rule."""
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.manager, clock)
    refused = _post(browser, number, "close", **{"close.note": "x" * 501})
    assert refused.status_code == 422, refused.text[:2000]
    assert 'id="form-close"' not in refused.text
    alert = refused.text.split('role="alert"', 1)[1].split("</div>", 1)[0]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", alert)).split())
    assert "Closing note (optional): must be at most 500 characters" in text, text
    assert "Nothing was saved" in text, text
    page = html.unescape(re.sub(r"<[^>]+>", " ", refused.text))
    assert "Some fields are not valid" not in page
    assert 'href="#problem-close"' not in refused.text


def test_a_refusal_beside_its_form_is_summarised_once_at_the_top(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The top of the page names the fields to correct and links to the form, whose own
    summary gives each message: no title repeated as its own detail."""
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    refused = _post(browser, number, "cancel", reason=" ")
    assert_named_as_labelled(refused)
    top = refused.text.split('<p class="alert">', 1)[1].split("</p>", 1)[0]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", top)).split())
    assert text == "Nothing was saved: Reason for cancelling needs correcting. Go to the form", text
    assert 'href="#problem-cancel"' in top


def test_a_refusal_is_titled_in_a_coordinators_words_not_the_apis(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The services' title for a refused request, "The request has invalid fields", is
    the API's (its problem+json keeps it); the portal says it in its own words."""
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    refused = _post(browser, number, "cancel", reason=" ")
    assert refused.status_code == 422
    page = html.unescape(re.sub(r"<[^>]+>", " ", refused.text))
    assert "invalid fields" not in page and "The request" not in page
    assert "Some details need correcting." in page


def test_a_move_the_case_no_longer_allows_is_said_in_words_not_action_names(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """A second click on "Acknowledge" (another tab) read "… Allowed now: verify_eligibility,
    supply_information, cancel." beside the same list in words."""
    number = submit(session, people.hartford, clock)
    sign_in(browser, people.intake, clock)
    assert _post(browser, number, "acknowledge").status_code == 303
    again = _post(browser, number, "acknowledge")
    assert again.status_code == 409, again.text[:2000]
    top = again.text.split('<p class="alert" role="alert">', 1)[1].split("</p>", 1)[0]
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", top)).split())
    assert "already acknowledged" in text, text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
    assert text.count("Allowed now") == 1, text
