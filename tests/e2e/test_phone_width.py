"""The member page and the staff work queue on a phone (390 x 844, an iPhone 12-15):
everything fits the width, nothing scrolls sideways. Screenshots go to test-artifacts/
to be looked at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import World, shot, sign_in

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
