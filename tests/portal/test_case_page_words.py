"""The case page in a care coordinator's words: a refused move says what could not be
done and where the case stands, never an action name or a status value ("Cannot verify
eligibility this referral: it is eligibility verified")."""

from __future__ import annotations

import html
import re

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.schemas import AuthorizationRequestIn
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
    assert (
        "This case's eligibility can't be verified now: "
        "it is waiting for the health plan's approval." in text
    ), text
    assert "Cannot" not in text and "this referral" not in text, text
    assert "authorization pending" not in text.lower(), text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
