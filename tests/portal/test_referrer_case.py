"""The referrer's case page: where the case is, who the provider is and when they come,
what is missing and how to send it, the written confirmation once booked, and only the
milestones meant for the referrer (never another provider's decline, offers to other
providers, internal notes or contacts)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.interaction import service as interaction_service
from careloop.interaction.schemas import NoteCreate
from careloop.matching import service as matching_service
from careloop.matching.models import DeclineReason, Offer
from careloop.matching.schemas import DeclineIn, OfferCreate
from careloop.referral import service as referral_service
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import assert_safe_html
from tests.portal.test_plain_words import leaks
from tests.portal.test_provider import OXYGEN

DECLINER = "Pioneer Valley Oxygen"
TAKER = "Acme Home Medical"


def _declined_then_accepted(people: People, session: Session, clock: FixedClock) -> str:
    """Hartford's case, offered to Pioneer Valley (who declines: no capacity), then to
    Acme (who accepts)."""
    make_coverage(session, clock=clock)
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    decliner = make_provider(session, clock=clock, admin=admin, name=DECLINER)
    taker = make_provider(session, clock=clock, admin=admin, name=TAKER)
    manager = people.manager.actor
    number = referral_service.submit_referral(
        session, people.hartford.actor, referral_draft(clock.now(), items=OXYGEN), clock=clock
    ).case_number
    make_ready(session, manager, number, clock=clock)
    first = matching_service.offer_referral(
        session, manager, number, OfferCreate(provider_id=decliner.id), clock=clock
    )
    assert first is not None
    matching_service.decline_offer(
        session,
        decliner.staff,
        first.id,
        DeclineIn(reason=DeclineReason.no_capacity),
        clock=clock,
    )
    pending = session.scalars(
        select(Offer).where(
            Offer.referral_id == session.get(Offer, first.id).referral_id,  # type: ignore[union-attr]
            Offer.status == "pending",
        )
    ).first()
    if pending is None:
        pending_id = matching_service.offer_referral(
            session, manager, number, OfferCreate(provider_id=taker.id), clock=clock
        )
        assert pending_id is not None
        offer_id = pending_id.id
    else:
        assert pending.provider_id == taker.id
        offer_id = pending.id
    matching_service.accept_offer(session, taker.staff, offer_id, clock=clock)
    session.flush()
    return number


def test_the_referrer_sees_the_provider_who_accepted_and_never_the_one_who_declined(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = _declined_then_accepted(people, session, clock)
    # Staff see the whole story, decline included.
    sign_in(browser, people.manager, clock)
    staff_page = browser.get(f"/cases/{number}").text
    assert DECLINER in staff_page and TAKER in staff_page
    assert f"{DECLINER} declined" in staff_page

    browser.cookies.clear()
    sign_in(browser, people.hartford, clock)
    response = browser.get(f"/cases/{number}")
    assert response.status_code == 200
    page = response.text
    assert_safe_html(page)
    assert "Where the case is" in page
    assert f"Provider confirmed: {TAKER}" in page
    assert TAKER in page
    assert DECLINER not in page
    for internal in ("declined", "Offered to", "No capacity", "Eligibility verified", "score"):
        assert internal not in page, internal
    assert "Jane Ruiz" in page  # the case manager who acknowledged it
    assert "ask the referrer" not in page.lower()
    assert not leaks(page)
    # Not booked yet: no confirmation, and the page says the provider agrees a time.
    assert "confirmation.pdf" not in page
    assert "agree a time" in page


def test_the_referrer_sees_what_is_missing_and_where_to_send_it_but_no_internal_note(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    make_coverage(session, clock=clock)
    draft = referral_draft(clock.now(), items=OXYGEN, signed_order=None)
    number = referral_service.submit_referral(
        session, people.hartford.actor, draft, clock=clock
    ).case_number
    interaction_service.add_note(
        session,
        people.manager.actor,
        number,
        NoteCreate(text="Internal: payer rep was rude"),
        clock=clock,
    )
    session.flush()
    sign_in(browser, people.hartford, clock)
    page = browser.get(f"/cases/{number}").text
    assert "Signed order" in page
    assert f'href="/cases/{number}/information"' in page
    assert "payer rep was rude" not in page
    assert "signed_order" not in page
    assert not leaks(page)
