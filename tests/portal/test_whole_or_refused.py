"""Text a coordinator types is kept whole or refused beside its field, never cut to fit:
an escalation's "What is wrong" and "What was done", a reason for cancelling and the
note on a reassignment were once cut at their limit without a word (a 2,600-character
account kept as its first 2,000). The rule comes back in plain words ("must be at most
2000 characters"), never the validation library's ("String should have at most ...")
nor a field's path ("must not be before started_at"), and a required group left wholly
blank names each of its fields."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from careloop.escalation.models import Escalation
from careloop.interaction.models import Contact
from careloop.referral.models import Referral
from tests.portal.conftest import People, assert_named_as_labelled, sign_in
from tests.portal.test_contacts import contact_form, new_case
from tests.portal.test_escalations import _supervisor
from tests.portal.test_intake import open_form
from tests.portal.test_refusal_summaries import _post

#: One letter of each script a member's or caller's words come in.
SCRIPTS = ["陈", "Ж", "م", "é", "a"]
#: The words of the validation library, and field paths, that must never reach a page.
_CODE_WORDS = re.compile(r"String should|Input should|List should|started_at|valid_from")


def _shown(html: str) -> str:
    """The words a person reads (tags and their attributes, input names, removed)."""
    return re.sub(r"<[^>]+>", " ", html)


def beside(html: str, field_id: str) -> str:
    """The message shown beside the field ``field_id`` (its ``err-`` paragraph)."""
    return html.split(f'id="err-{field_id}"', 1)[1].split(">", 1)[1].split("</p>", 1)[0]


def _escalate(browser: TestClient, number: str, details: str) -> httpx.Response:
    return _post(
        browser,
        number,
        "escalations",
        **{
            "escalate.reason": "service_delay",
            "escalate.severity": "urgent",
            "escalate.requested_by.kind": "caregiver",
            "escalate.requested_by.name": "Sam Hale",
            "escalate.requested_by.phone": "860-555-0142",
            "escalate.details": details,
        },
    )


def _escalations(session: Session) -> list[str | None]:
    return list(session.scalars(select(Escalation.details)))


@pytest.mark.parametrize("letter", SCRIPTS)
def test_what_is_wrong_is_kept_whole_at_its_limit_and_refused_beyond_it(
    browser: TestClient, people: People, session: Session, clock: FixedClock, letter: str
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.intake, clock)
    refused = _escalate(browser, number, letter * 2001)
    assert_named_as_labelled(refused)
    html = refused.text
    assert beside(html, "escalate-details") == "must be at most 2000 characters"
    assert not _CODE_WORDS.search(_shown(html))
    assert _escalations(session) == []
    kept = _escalate(browser, number, letter * 2000)
    assert kept.status_code == 303, kept.text[:2000]
    assert _escalations(session) == [letter * 2000]


def test_what_was_done_beyond_its_limit_is_refused_and_the_escalation_stays_open(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    supervisor = _supervisor(session, clock)
    sign_in(browser, people.intake, clock)
    assert _escalate(browser, number, "No van yet").status_code == 303
    (escalation,) = session.scalars(select(Escalation))
    browser.cookies.clear()
    sign_in(browser, supervisor, clock)
    path = f"escalations/{escalation.id}/resolve"
    refused = _post(browser, number, path, resolution="Ж" * 2001)
    assert_named_as_labelled(refused)
    assert beside(refused.text, f"resolve-{escalation.id}-resolution") == (
        "must be at most 2000 characters"
    )
    session.refresh(escalation)
    assert escalation.resolution is None and escalation.resolved_at is None


def test_a_reason_for_cancelling_beyond_its_limit_is_refused_and_the_case_stays_open(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.intake, clock)
    refused = _post(browser, number, "cancel", reason="The member moved away. " * 25)
    assert_named_as_labelled(refused)
    assert beside(refused.text, "cancel-reason") == "must be at most 500 characters"
    status = session.scalar(select(Referral.status).where(Referral.case_number == number))
    assert status is not None and status.value == "received"


def test_a_reassignment_note_beyond_its_limit_is_refused_and_nothing_moves(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    before = session.scalar(select(Referral.assignee_user_id).where(Referral.case_number == number))
    sign_in(browser, people.intake, clock)
    refused = _post(
        browser,
        number,
        "assignee",
        **{"assignee.email": people.manager.email, "assignee.note": "語" * 4001},
    )
    assert_named_as_labelled(refused)
    assert beside(refused.text, "assignee-note") == "must be at most 4000 characters"
    after = session.scalar(select(Referral.assignee_user_id).where(Referral.case_number == number))
    assert after == before


def _log(browser: TestClient, number: str, **changes: str) -> httpx.Response:
    csrf, started = contact_form(browser, number)
    data = {
        "csrf_token": csrf,
        "started_at": started,
        "kind": "call",
        "direction": "inbound",
        "reason": "status_check",
        "party.kind": "member",
        "party.name": "Лариса Орлова",
        "summary": "Asked when the oxygen comes.",
        "outcome": "resolved",
        **changes,
    }
    return browser.post(f"/cases/{number}/contacts", data=data)


def _contacts(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Contact)) or 0)


def test_a_callers_name_too_long_is_refused_with_the_rule_in_plain_words(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = new_case(people, session, clock)
    sign_in(browser, people.manager, clock)
    refused = _log(browser, number, **{"party.name": "陈" * 101})
    assert refused.status_code == 422
    html = refused.text
    assert beside(html, "party-name") == "must be at most 100 characters"
    assert not _CODE_WORDS.search(_shown(html))
    assert _contacts(session) == 0


def test_an_end_before_the_start_is_said_without_the_fields_path(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The start is no input of the panel (the server sets it when the panel opens), so
    the end's message says "the contact started", not ``started_at``."""
    number = new_case(people, session, clock)
    sign_in(browser, people.manager, clock)
    hartford = ZoneInfo("America/New_York")  # the member's zone, as the panel reads it
    earlier = (clock.now() - timedelta(hours=1)).astimezone(hartford).strftime("%Y-%m-%dT%H:%M")
    refused = _log(browser, number, ended_at=earlier)
    assert refused.status_code == 422
    assert beside(refused.text, "ended_at") == "must not be before the contact started"
    assert _contacts(session) == 0


def test_an_empty_referral_form_names_each_required_field_beside_itself(
    browser: TestClient, people: People, clock: FixedClock
) -> None:
    """It once named only the items ("List should have at least 1 item after validation,
    not 0"): the member's missing name and birth date had no field to stand beside."""
    sign_in(browser, people.intake, clock)
    token, key = open_form(browser)
    refused = browser.post(
        "/referrals/new",
        data={
            "csrf_token": token,
            "idempotency_key": key,
            "items.0.code_system": "HCPCS",
            "items.0.quantity": "1",
        },
    )
    assert refused.status_code == 422
    for field in ("member-first_name", "member-last_name", "member-birth_date"):
        assert beside(refused.text, field) == "is required", field
    assert beside(refused.text, "items") == "must have at least one entry"
    assert not _CODE_WORDS.search(_shown(refused.text))


def test_an_eta_years_away_is_refused_beside_the_eta_not_a_server_error(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """A promised day outside the range a case's dates may take (a year typed wrong) once
    answered "Something went wrong on our side"."""
    number = new_case(people, session, clock)
    supervisor = _supervisor(session, clock)
    sign_in(browser, people.intake, clock)
    assert _escalate(browser, number, "No van yet").status_code == 303
    (escalation,) = session.scalars(select(Escalation))
    browser.cookies.clear()
    sign_in(browser, supervisor, clock)
    for day in ("2020-01-01", "2099-01-01"):
        refused = _post(
            browser,
            number,
            f"escalations/{escalation.id}/commit",
            zone="America/New_York",
            eta_date=day,
            eta_time="10:00",
        )
        assert_named_as_labelled(refused)
        assert "out of range" in beside(refused.text, f"commit-{escalation.id}-eta"), day
    session.refresh(escalation)
    assert escalation.eta is None
