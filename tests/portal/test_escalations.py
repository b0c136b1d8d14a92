"""Escalations on the case page: staff escalate for a caller, the supervisor promises a
time and resolves, the referrer escalates their own case with their e-mail filled in;
refusals come back beside the field and the page speaks plain words."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.escalation import service as escalation_service
from careloop.escalation.models import Escalation
from careloop.identity import service as identity_service
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
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
from tests.portal.test_pages import assert_safe_html

SUPERVISOR_SECRET = "ONSWG4TFORRW6ZDFONSWG4TFORRW6ZDF"
_INTERNAL = re.compile(r"\b(service_delay|no_response|deadline_missed|escalation_commit|§)")


def _shown(html: str) -> str:
    """The words a person reads (tags and their attributes, such as option values, removed)."""
    return re.sub(r"<[^>]+>", " ", html)


def _switch(browser: TestClient, user: PortalUser, clock: FixedClock) -> None:
    browser.cookies.clear()
    sign_in(browser, user, clock)


def _supervisor(session: Session, clock: FixedClock) -> PortalUser:
    user = make_portal_user(
        session,
        clock,
        Role.supervisor,
        email="morgan@careloop.test",
        name="Morgan Reyes",
        secret=SUPERVISOR_SECRET,
    )
    identity_service.set_direct_phone(session, user.email, "1-860-555-0177")
    session.flush()
    return user


def _case(session: Session, people: People, clock: FixedClock, by: PortalUser) -> str:
    return referral_service.submit_referral(
        session, by.actor, referral_draft(clock.now()), clock=clock
    ).case_number


def test_staff_escalate_the_supervisor_promises_and_resolves(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    supervisor = _supervisor(session, clock)
    case = _case(session, people, clock, people.intake)
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/cases/{case}")
    assert page.status_code == 200
    assert "Escalate" in page.text and "Escalations" in page.text
    sent = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "service_delay",
            "escalate.severity": "urgent",
            "escalate.requested_by.kind": "caregiver",
            "escalate.requested_by.name": "Sam Hale",
            "escalate.requested_by.email": "sam@example.org",
        },
    )
    assert sent.status_code == 303, sent.text
    page = browser.get(sent.headers["location"])
    assert "Service is late" in page.text
    assert "Morgan Reyes, 1-860-555-0177" in page.text
    # Tuesday 24 Nov 2026 09:00 in Hartford: the ETA is due one business hour later.
    assert "ETA due by Tue 24 Nov 2026, 10:00" in page.text
    assert not _INTERNAL.search(_shown(page.text))
    assert_safe_html(page.text)

    _switch(browser, supervisor, clock)
    page = browser.get(f"/cases/{case}")
    (esc_id,) = re.findall(r"/escalations/(\d+)/commit", page.text)
    refused = browser.post(
        f"/cases/{case}/escalations/{esc_id}/commit",
        data={
            "csrf_token": csrf_of(page.text),
            "zone": "America/New_York",
            "eta_date": "2026-11-23",
            "eta_time": "16:30",
        },
    )
    assert refused.status_code == 422
    assert "the ETA must be in the future" in refused.text
    committed = browser.post(
        f"/cases/{case}/escalations/{esc_id}/commit",
        data={
            "csrf_token": csrf_of(page.text),
            "zone": "America/New_York",
            "eta_date": "2026-11-24",
            "eta_time": "16:30",
        },
    )
    assert committed.status_code == 303, committed.text
    page = browser.get(f"/cases/{case}")
    assert "Promised for Tue 24 Nov 2026, 16:30" in page.text
    blank = browser.post(
        f"/cases/{case}/escalations/{esc_id}/resolve",
        data={"csrf_token": csrf_of(page.text), "resolution": "  "},
    )
    assert blank.status_code == 422 and "say how the escalation was resolved" in blank.text
    clock.advance(timedelta(minutes=20))
    resolved = browser.post(
        f"/cases/{case}/escalations/{esc_id}/resolve",
        data={"csrf_token": csrf_of(page.text), "resolution": "Oxygen delivered"},
    )
    assert resolved.status_code == 303
    page = browser.get(f"/cases/{case}")
    assert "Promise kept" in page.text and "Oxygen delivered" in page.text
    assert not _INTERNAL.search(_shown(page.text))


def test_the_referrer_escalates_with_their_e_mail_filled_in(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    _supervisor(session, clock)
    case = _case(session, people, clock, people.hartford)
    sign_in(browser, people.hartford, clock)
    page = browser.get(f"/cases/{case}")
    assert "Escalate this case" in page.text
    assert 'value="planner@hartford.test"' in page.text
    # No reason chosen: refused beside the field, nothing written.
    refused = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "",
            "escalate.requested_by.name": "Pat Planner",
            "escalate.requested_by.email": "planner@hartford.test",
        },
    )
    assert refused.status_code == 422
    assert "choose why the case is escalated" in refused.text
    assert session.scalar(select(func.count()).select_from(Escalation)) == 0
    bad_mail = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "no_response",
            "escalate.requested_by.name": "Pat Planner",
            "escalate.requested_by.email": "planner at hartford",
        },
    )
    assert bad_mail.status_code == 422 and "this is not an e-mail address" in bad_mail.text
    sent = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "no_response",
            "escalate.severity": "routine",
            "escalate.requested_by.name": "Pat Planner",
            "escalate.requested_by.email": "planner@hartford.test",
        },
    )
    assert sent.status_code == 303, sent.text
    page = browser.get(f"/cases/{case}")
    assert "No answer from us" in page.text and "Morgan Reyes" in page.text
    assert "Commit this ETA" not in page.text and "Resolve" not in page.text
    esc = session.scalars(select(Escalation)).one()
    assert esc.requester_email == "planner@hartford.test"
    assert esc.source.value == "referrer"


def test_an_escalation_the_deadline_watch_opened_says_so_in_plain_words(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    """The worker escalates a breached case itself: the panel names it in one plain
    phrase, without brackets inside brackets."""
    _supervisor(session, clock)
    case = _case(session, people, clock, people.intake)
    referral_id = session.scalars(select(Referral.id).where(Referral.case_number == case)).one()
    clock.advance(timedelta(days=4))
    assert escalation_service.escalate_for_breach(
        session, referral_id, "the service start", clock=clock
    )
    session.flush()
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/cases/{case}")
    asked = re.search(r"<dt>Asked by</dt><dd>([^<]*)</dd>", page.text)
    assert asked, page.text
    assert asked.group(1).startswith(
        "CareLoop&#39;s deadline watch, automatically, when a deadline passed, "
    ), asked.group(1)
    assert "(" not in asked.group(1)
    assert not _INTERNAL.search(_shown(page.text))


def test_the_escalation_forms_summaries_name_fields_as_the_form_labels_them(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    supervisor = _supervisor(session, clock)
    case = _case(session, people, clock, people.intake)
    sign_in(browser, people.intake, clock)
    page = browser.get(f"/cases/{case}")
    bad_mail = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "service_delay",
            "escalate.requested_by.kind": "caregiver",
            "escalate.requested_by.name": "Sam Hale",
            "escalate.requested_by.email": "sam at example",
        },
    )
    assert bad_mail.status_code == 422
    summary, labels = summary_and_labels(bad_mail.text)
    assert summary == [("f-escalate-requested_by-email", "Their e-mail")], summary
    assert labels["f-escalate-requested_by-email"] == "Their e-mail"
    assert ">Their e-mail</a>: this is not an e-mail address" in bad_mail.text

    escalated = browser.post(
        f"/cases/{case}/escalations",
        data={
            "csrf_token": csrf_of(page.text),
            "escalate.reason": "service_delay",
            "escalate.requested_by.kind": "caregiver",
            "escalate.requested_by.name": "Sam Hale",
            "escalate.requested_by.email": "sam@example.org",
        },
    )
    assert escalated.status_code == 303, summary_and_labels(escalated.text)[0]
    _switch(browser, supervisor, clock)
    page = browser.get(f"/cases/{case}")
    (esc_id,) = re.findall(r"/escalations/(\d+)/commit", page.text)
    for action, data in (
        ("commit", {"zone": "America/New_York", "eta_date": "", "eta_time": ""}),
        ("resolve", {"resolution": " "}),
    ):
        refused = browser.post(
            f"/cases/{case}/escalations/{esc_id}/{action}",
            data={"csrf_token": csrf_of(page.text), **data},
        )
        assert_named_as_labelled(refused)
