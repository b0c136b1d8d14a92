"""The member page and the staff work queue on a phone (390 x 844, an iPhone 12-15):
everything fits the width, nothing scrolls sideways. Screenshots go to test-artifacts/
to be looked at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.escalation import EscalationCreate, PartyKind, Reason, RequesterIn
from careloop.escalation import service as escalation_service
from careloop.referral import service as referral_service
from careloop.referral.schemas import CancelIn
from tests.e2e.conftest import World, shot, sign_in
from tests.factories.identity import make_user
from tests.factories.referral import referral_draft

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, world: World) -> Iterator[Page]:
    context = browser.new_context(
        base_url=world.base_url, viewport=PHONE, device_scale_factor=2, is_mobile=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _too_wide(page: Page) -> list[str]:
    """The elements whose right edge passes the viewport (what makes the page scroll)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
              .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
                           && getComputedStyle(e).position !== 'fixed')
              .slice(0, 10)
              .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')
                        + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )
    return found


def _fits(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], (width, _too_wide(page))


def test_the_member_page_fits_a_phone(phone: Page, world: World) -> None:
    sign_in(phone, world.member)
    phone.goto("/member")
    expect(phone.get_by_role("heading", name="My care")).to_be_visible()
    expect(phone.get_by_text(world.offered_case)).to_be_visible()
    shot(phone, "phone-member")
    _fits(phone)


def test_the_work_queue_fits_a_phone(phone: Page, world: World) -> None:
    sign_in(phone, world.intake)
    phone.goto("/staff")
    expect(phone.get_by_role("heading", level=1)).to_be_visible()
    shot(phone, "phone-queue")
    _fits(phone)


#: A caregiver's account of the problem with the carrier's tracking link pasted in whole.
LINK = "https://tracking.example.com/shipments/" + "1Z999AA10123456784" * 12


@pytest.fixture(scope="module")
def linked_case(world: World) -> Iterator[str]:
    """A case for Лариса Орлова escalated with the link in "What is wrong"; cancelled
    afterwards, so that the other stories' queue is as it was."""
    clock = FixedClock(datetime.now(UTC))
    database = Database.from_url(world.database_url)
    try:
        with database.unit_of_work() as session:
            agent, _ = make_user(
                session, clock=clock, role=Role.intake_agent, email="link@e2e.test"
            )
            draft = referral_draft(
                clock.now(),
                external_id="E2E-LINK",
                member__first_name="Лариса",
                member__last_name="Орлова",
            )
            number = referral_service.submit_referral(session, agent, draft, clock=clock)
            escalation_service.open_escalation(
                session,
                agent,
                number.case_number,
                EscalationCreate(
                    reason=Reason.service_delay,
                    details=f"The van never came; the carrier says {LINK}",
                    requested_by=RequesterIn(
                        kind=PartyKind.caregiver, name="Ольга Орлова", phone="860-555-0142"
                    ),
                ),
                clock=clock,
            )
        yield number.case_number
        with database.unit_of_work() as session:
            referral_service.cancel_referral(
                session, agent, number.case_number, CancelIn(reason="Test case"), clock=clock
            )
    finally:
        database.engine.dispose()


def test_a_case_with_a_long_pasted_link_and_its_search_fit_a_phone(
    phone: Page, world: World, linked_case: str
) -> None:
    """The link once widened the case page to thousands of pixels, and the case's items
    and the search's results passed the screen's edge."""
    sign_in(phone, world.intake)
    phone.goto(f"/cases/{linked_case}")
    expect(phone.get_by_text(LINK[:40], exact=False)).to_be_visible()
    shot(phone, "phone-case-long-link")
    _fits(phone)
    phone.goto("/staff/search?q=орлова")
    expect(phone.get_by_role("link", name=linked_case)).to_be_visible()
    shot(phone, "phone-search")
    _fits(phone)
