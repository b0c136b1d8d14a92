"""The case page in a care coordinator's words: a refused move says what could not be
done and where the case stands, never an action name or a status value ("Cannot verify
eligibility this referral: it is eligibility verified"); what the clearinghouse did with
the payer is said as done electronically, not "by clearinghouse"."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

import careloop.portal
from careloop.clearinghouse import service as clearinghouse
from careloop.clearinghouse.rules import ClearinghouseConfig
from careloop.core.clock import FixedClock
from careloop.portal.presenters import event_words
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import DenialReason, Outcome
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn
from tests.factories.coverage import make_coverage, make_ready
from tests.portal.conftest import People, csrf_of, sign_in
from tests.portal.test_fulfilment import OXYGEN
from tests.portal.test_pages import submit


def _text(part: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", part)).split())


def _post(browser: TestClient, number: str, path: str, **data: str) -> httpx.Response:
    token = csrf_of(browser.get(f"/cases/{number}").text)
    return browser.post(f"/cases/{number}/{path}", data={"csrf_token": token, **data})


def test_an_eligibility_check_refused_by_the_case_is_said_in_plain_words(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """A check clicked in another tab once the case waits for the health plan read
    "Cannot verify eligibility this referral: it is authorization pending"."""
    make_coverage(session, clock=clock, prior_auth="E1390")
    number = submit(session, people.hartford, clock, items=OXYGEN)
    make_ready(session, people.manager.actor, number, clock=clock)
    prior_auth_service.request_authorization(
        session, people.manager.actor, number, AuthorizationRequestIn(), clock=clock
    )
    session.flush()
    sign_in(browser, people.manager, clock)
    again = _post(browser, number, "eligibility")
    assert again.status_code == 409, again.text[:2000]
    top = again.text.split('<p class="alert"', 1)[1].split("</p>", 1)[0]
    text = _text(top.split(">", 1)[1])
    assert text.startswith(
        "This case's eligibility can't be verified now: "
        "it is waiting for the health plan's approval. Allowed now: "
    ), text
    assert "current status" not in text, text
    assert "Cannot" not in text and "this referral" not in text, text
    assert "authorization pending" not in text.lower(), text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text


def test_an_authorisation_the_clearinghouse_exchanged_is_said_in_words(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """A request the clearinghouse opened and sent, and the payer's answer it recorded,
    read "Requested … by clearinghouse" and "Decided … by clearinghouse", and their
    timeline entries "Prior authorisation denied by clearinghouse"."""
    make_coverage(session, clock=clock, prior_auth="E1390")
    number = submit(session, people.hartford, clock, items=OXYGEN)
    make_ready(session, people.manager.actor, number, clock=clock)
    actor = clearinghouse.CLEARINGHOUSE_ACTOR
    clearinghouse.send_review_request(
        session, actor, number, clock=clock, config=ClearinghouseConfig()
    )
    (request,) = prior_auth_service.list_authorizations(
        session, people.manager.actor, number, clock=clock
    ).items
    prior_auth_service.record_payer_decision(
        session,
        actor,
        request.id,
        DecisionIn(
            outcome=Outcome.denied,
            denial_reason=DenialReason.not_medically_necessary,
            peer_to_peer_contact="Dr. Lee, 860-555-0100",
        ),
        clock=clock,
    )
    session.flush()
    sign_in(browser, people.manager, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    panel = _text(page.text.split('id="auth-title"', 1)[1].split("</section>", 1)[0])
    assert "sent to the payer electronically" in panel, panel
    assert "received from the payer electronically" in panel, panel
    assert "clearinghouse" not in panel.lower(), panel
    timeline = _text(page.text.split("Timeline (newest first)", 1)[1])
    assert "Prior authorisation denied electronically" in timeline, timeline
    assert "by clearinghouse" not in timeline, timeline


@pytest.mark.parametrize(
    "data,sentence",
    [
        (
            {"result": "active", "plan": "GOLD", "plan_name": "NEHP Gold HMO"},
            "Eligibility verified: coverage active (NEHP Gold HMO)",
        ),
        # Written before the event named the plan: its code, said as one.
        (
            {"result": "active", "plan": "GOLD"},
            "Eligibility verified: coverage active (plan code GOLD)",
        ),
    ],
)
def test_an_eligibility_entry_names_the_plan(data: dict[str, Any], sentence: str) -> None:
    said, details = event_words("eligibility.verified", data, "America/New_York")
    assert said == sentence
    assert not any("Plan" in label for label, _ in details), details


def test_the_timeline_names_the_plan_a_check_found_not_its_code(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The eligibility entry read "Eligibility verified: coverage active (plan GOLD)"."""
    make_coverage(session, clock=clock)
    number = submit(session, people.hartford, clock)
    make_ready(session, people.manager.actor, number, clock=clock)
    session.flush()
    sign_in(browser, people.manager, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    text = _text(page.text)
    assert "Eligibility verified: coverage active (NEHP Gold HMO)" in text, text
    assert "plan GOLD" not in text, text


_TEMPLATES = Path(careloop.portal.__file__).parent / "templates"
_ROUTE_PREFIX = re.compile(r'prefix\b[^\n]*?f"([a-z_]+)[_-]\{')
_FORM_PREFIX = re.compile(r'\{%\s*set p = "([a-z_]+)[_-]"\s*~')


def test_each_numbered_case_page_form_has_its_own_prefix() -> None:
    """A visit's outcome and an appeal's decision were both ``outcome_<id>``: an appeal
    decision refused showed its messages on the form of the visit with the same number
    (the page opens the form whose prefix the refusal names, and marks its fields)."""
    routes: dict[str, list[str]] = {}
    for module in Path(careloop.portal.__file__).parent.glob("*.py"):
        for kind in _ROUTE_PREFIX.findall(module.read_text(encoding="utf-8")):
            routes.setdefault(kind, []).append(module.name)
    forms: dict[str, list[str]] = {}
    for template in _TEMPLATES.rglob("*.html"):
        for kind in _FORM_PREFIX.findall(template.read_text(encoding="utf-8")):
            forms.setdefault(kind, []).append(template.name)
    assert "appeal_outcome" in routes and "outcome" in routes, routes
    assert {k: v for k, v in routes.items() if len(v) > 1} == {}
    assert {k: v for k, v in forms.items() if len(v) > 1} == {}


@pytest.mark.parametrize(
    "prior_auth,why",
    [
        ("E1390", "E1390 is on the prior-authorisation list of NEHP Gold HMO"),
        ("service_line:dme", "NEHP Gold HMO authorises medical equipment in advance"),
    ],
)
def test_why_an_item_needs_prior_authorisation_names_the_plan(
    browser: TestClient,
    people: People,
    session: Session,
    clock: FixedClock,
    prior_auth: str,
    why: str,
) -> None:
    """The eligibility panel's reason read "plan GOLD authorises dme in advance"."""
    make_coverage(session, clock=clock, prior_auth=prior_auth)
    number = submit(session, people.hartford, clock, items=OXYGEN)
    make_ready(session, people.manager.actor, number, clock=clock)
    session.flush()
    sign_in(browser, people.manager, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    text = _text(page.text)
    assert why in text, text
    assert "plan GOLD" not in text and not re.search(r"\bdme\b", text), text
