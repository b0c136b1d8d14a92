"""What CareLoop asked of a payer through the clearinghouse (an eligibility check, a
prior authorisation request), as the case page shows it: which payer by its name, what
was asked and when, the answer; never a row id ("Request 28") or an X12 transaction or
control number under its own name. The control number stays, as the reference a person
quotes to the payer when they call."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clearinghouse import service as clearinghouse
from careloop.clearinghouse.rules import ClearinghouseConfig
from careloop.core.clock import FixedClock
from careloop.payer.models import Payer
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.schemas import AuthorizationRequestIn
from careloop.referral import service as referral_service
from careloop.referral.schemas import AcknowledgeIn
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, sign_in
from tests.portal.test_fulfilment import OXYGEN


def _text(page: str) -> str:
    main = page.split("<main", 1)[1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", main)).split())


def test_the_case_page_says_what_was_asked_of_which_payer_without_ids(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    make_coverage(session, clock=clock, prior_auth="E1390")
    number = referral_service.submit_referral(
        session, people.manager.actor, referral_draft(clock.now(), items=OXYGEN), clock=clock
    ).case_number
    referral_service.acknowledge_referral(
        session, people.manager.actor, number, AcknowledgeIn(), clock=clock
    )
    config = ClearinghouseConfig()
    actor = clearinghouse.CLEARINGHOUSE_ACTOR
    inquiry = clearinghouse.send_eligibility_inquiry(
        session, actor, number, clock=clock, config=config
    )
    make_ready(session, people.manager.actor, number, clock=clock)
    read = prior_auth_service.request_authorization(
        session, people.manager.actor, number, AuthorizationRequestIn(), clock=clock
    )
    review = clearinghouse.send_review_request(session, actor, number, clock=clock, config=config)
    session.flush()
    payer = session.scalars(select(Payer)).first()
    assert payer is not None

    sign_in(browser, people.manager, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    text = _text(page.text)
    assert f"Asked {payer.name} whether the member's coverage is active" in text, text
    assert f"Sent {payer.name} the prior authorisation request to review" in text, text
    for sent in (inquiry, review):
        assert f"Reference to quote to the payer: {sent.control_number}" in text, text
    assert "Control number" not in text
    assert not re.search(r"\bX12\b|\b27[018]\b", text), text
    assert f"Request {read.id}" not in text and f"request {read.id}" not in text
    assert not re.search(r"\bRequest \d+\b", text), text
