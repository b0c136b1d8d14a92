"""Members never read each other's cases: members whose names are written in Chinese,
Cyrillic, Arabic, Greek and Latin letters, all born on the same day, each linked to one
case sent by a different hospital. Every member asks for every other member's case
through the API (case, timeline, list) and the portal (the case page, their own member
page): not one success, and every refusal is the 404 of a case that does not exist."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.referral import members as referral_members
from careloop.referral import service as referral_service
from tests.factories.identity import give_password, make_user
from tests.factories.names import SCRIPTS, name_in
from tests.factories.referral import make_payer, referral_draft
from tests.portal.conftest import PASSWORD, PortalUser, sign_in

BASE = "/api/v1/referrals"
MISSING = "CL-2026-999999"
_CASE_NUMBER = re.compile(r"CL-\d{4}-\d+")
_RUN = itertools.count()

#: One member per script: (first name, last name) in that script's letters.
members_in_every_script = st.tuples(
    *(st.tuples(name_in(letters), name_in(letters)) for letters in SCRIPTS.values())
)


def _same_404(response: Any, missing: Any) -> None:
    """The refusal is the answer for a case that does not exist (its number aside)."""
    assert response.status_code == 404 == missing.status_code
    body = _CASE_NUMBER.sub("CL-?", response.text)
    expected = _CASE_NUMBER.sub("CL-?", missing.text)
    if response.headers.get("content-type", "").startswith("application/"):
        body_json, expected_json = json.loads(body), json.loads(expected)
        for volatile in ("instance", "request_id"):
            body_json.pop(volatile, None)
            expected_json.pop(volatile, None)
        assert body_json == expected_json
    else:
        assert body == expected
    assert "location" not in response.headers and "etag" not in response.headers


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=members_in_every_script)
def test_members_with_the_same_birth_date_never_read_each_others_cases(
    browser: TestClient,
    session: Session,
    clock: FixedClock,
    names: tuple[tuple[str, str], ...],
) -> None:
    run = next(_RUN)
    if run == 0:
        make_payer(session, clock=clock)
    staff, _ = make_user(session, clock=clock, role=Role.case_manager, email=f"cm{run}@hub.test")
    members = []
    for index, (first, last) in enumerate(names):
        hospital, _ = make_user(
            session,
            clock=clock,
            role=Role.referring_clinician,
            email=f"planner{run}-{index}@hospital.test",
            organization=f"Hospital {run}-{index}",
        )
        draft = referral_draft(
            clock.now(),
            member__first_name=first,
            member__last_name=last,
            member__birth_date="1945-01-23",
            external_id=f"H{run}-{index}",
        )
        case = referral_service.submit_referral(session, hospital, draft, clock=clock).case_number
        email = f"member{run}-{index}@example.test"
        actor, token = make_user(session, clock=clock, role=Role.member, email=email)
        give_password(session, email, PASSWORD)
        referral_members.link_member_account(session, staff, case, email, clock=clock)
        # A name of a few Latin letters may be part of any page's words; the others not.
        shown = f"{first} {last}" if list(SCRIPTS)[index] != "Latin" else None
        members.append((PortalUser(email, actor), token, case, shown))
    session.flush()

    successes = []
    for me, token, mine, _ in members:
        others = [(case, name) for who, _, case, name in members if who != me]
        bearer = {"Authorization": f"Bearer {token}"}
        browser.cookies.clear()
        # Their own case answers: the refusals below are about whose case it is.
        assert browser.get(f"{BASE}/{mine}", headers=bearer).status_code == 200
        missing = browser.get(f"{BASE}/{MISSING}", headers=bearer)
        missing_timeline = browser.get(f"{BASE}/{MISSING}/timeline", headers=bearer)
        listed = browser.get(BASE, headers=bearer).json()
        assert [c["case_number"] for c in listed["items"]] == [mine]
        assert listed["total"] == 1
        for case, _ in others:
            for path, refusal in ((case, missing), (f"{case}/timeline", missing_timeline)):
                response = browser.get(f"{BASE}/{path}", headers=bearer)
                if response.status_code < 400:
                    successes.append((me.email, path))
                _same_404(response, refusal)

        sign_in(browser, me, clock)
        page = browser.get("/member")
        assert page.status_code == 200 and mine in page.text
        missing_page = browser.get(f"/cases/{MISSING}")
        for case, name in others:
            assert case not in page.text
            assert name is None or name not in page.text
            response = browser.get(f"/cases/{case}")
            if response.status_code < 400:
                successes.append((me.email, f"/cases/{case}"))
            _same_404(response, missing_page)
    assert successes == []
