"""The webhooks page: an organisation's admin sees each receiver in plain words, why a
paused one stopped, and resumes it; another organisation's admin sees none of it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.identity import service as identity_service
from careloop.identity.models import OrganizationKind
from careloop.webhook import WebhookEvent, rules
from careloop.webhook.models import WebhookSubscription
from tests.factories.webhook import make_webhook
from tests.portal.conftest import csrf_of, make_portal_user, sign_in
from tests.portal.test_plain_words import leaks

SECRET = "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"


def test_an_admin_reads_why_a_webhook_stopped_and_resumes_it(
    browser: TestClient, session: Session, clock: FixedClock
) -> None:
    for name in ("Hartford General", "Albany Riverside"):
        identity_service.ensure_organization(session, name, OrganizationKind.referrer, clock=clock)
    admin = make_portal_user(
        session,
        clock,
        Role.admin,
        email="it@hartford.test",
        organization="Hartford General",
        secret=SECRET,
    )
    other = make_portal_user(
        session,
        clock,
        Role.admin,
        email="it@albany.test",
        organization="Albany Riverside",
        secret=SECRET,
    )
    hook = make_webhook(
        session,
        admin.actor,
        clock=clock,
        events=(WebhookEvent.status_changed, WebhookEvent.delivered),
    )
    # What the worker writes after ten failed attempts in a row.
    row = session.get(WebhookSubscription, hook.id)
    assert row is not None
    row.status, row.paused_at, row.consecutive_failures = "paused", clock.now(), 10
    row.pause_reason = rules.pause_reason(10, "The receiver answered 500, a server error.")
    session.flush()

    sign_in(browser, admin, clock)
    listed = browser.get("/webhooks")
    assert listed.status_code == 200, listed.text
    assert leaks(listed.text) == []
    for words in (
        "Paused",
        "Why it stopped",
        "Paused after 10 failed attempts in a row",
        "the case&#39;s status changes",
        "the equipment is delivered or the first visit made",
        "Resume",
    ):
        assert words in listed.text, words
    resumed = browser.post(f"/webhooks/{hook.id}/resume", data={"csrf_token": csrf_of(listed.text)})
    assert resumed.status_code == 303 and resumed.headers["location"] == "/webhooks"
    after = browser.get("/webhooks").text
    assert "Working" in after and "Why it stopped" not in after

    browser.cookies.clear()
    sign_in(browser, other, clock)
    theirs = browser.get("/webhooks")
    assert "You have no webhooks yet" in theirs.text and hook.url not in theirs.text
    refused = browser.post(f"/webhooks/{hook.id}/resume", data={"csrf_token": csrf_of(theirs.text)})
    assert refused.status_code == 404
