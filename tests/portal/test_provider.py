"""Provider pages: offers waiting with their deadline, accept or decline with a coded
reason, our accepted referrals, our onboarding checklist and expiring credentials."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.matching import service as matching_service
from careloop.matching.models import Offer, OfferStatus
from careloop.matching.schemas import OfferCreate
from careloop.referral import service as referral_service
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, assert_named_as_labelled, csrf_of, sign_in

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


def beside(html: str, field_id: str) -> str:
    """The message shown beside the field ``field_id`` (its ``err-`` paragraph)."""
    return html.split(f'id="err-{field_id}"', 1)[1].split(">", 1)[1].split("</p>", 1)[0]


@dataclass(frozen=True)
class Offered:
    case_number: str
    offer_id: int


@pytest.fixture
def offered(people: People, session: Session, clock: FixedClock) -> Offered:
    """A case offered to Acme Home Medical, whose dispatcher is ``people.provider``."""
    make_coverage(session, clock=clock)
    admin, _ = make_user(session, clock=clock, role=Role.supervisor)
    acme = make_provider(session, clock=clock, admin=admin, name="Acme Home Medical")
    draft = referral_draft(clock.now(), items=OXYGEN)
    manager = people.manager.actor
    number = referral_service.submit_referral(session, manager, draft, clock=clock).case_number
    make_ready(session, manager, number, clock=clock)
    offer = matching_service.offer_referral(
        session, manager, number, OfferCreate(provider_id=acme.id), clock=clock
    )
    session.flush()
    return Offered(number, offer.id)  # type: ignore[union-attr]


class TestOffers:
    def test_offer_waiting_shows_its_deadline_and_nothing_of_the_member(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        page = browser.get("/provider")
        assert page.status_code == 200
        assert offered.case_number in page.text
        assert "Answer by" in page.text
        assert "Dorothy" not in page.text and "Hale" not in page.text
        assert "Onboarding checklist" in page.text

    def test_accept_moves_the_case_to_our_accepted_referrals(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        page = browser.get("/provider")
        response = browser.post(
            f"/provider/offers/{offered.offer_id}/accept", data={"csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303
        after = browser.get(response.headers["location"])
        assert "Accepted." in after.text
        accepted = after.text.split("Referrals you accepted")[1]
        assert offered.case_number in accepted
        # Now the whole case is ours to open.
        case = browser.get(f"/cases/{offered.case_number}")
        assert case.status_code == 200
        assert "Hale" in case.text

    def test_decline_with_a_coded_reason(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        page = browser.get("/provider")
        response = browser.post(
            f"/provider/offers/{offered.offer_id}/decline",
            data={"csrf_token": csrf_of(page.text), "reason": "no_capacity"},
        )
        assert response.status_code == 303
        assert "Declined." in browser.get(response.headers["location"]).text

    def test_decline_for_other_reasons_needs_a_note(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        page = browser.get("/provider")
        response = browser.post(
            f"/provider/offers/{offered.offer_id}/decline",
            data={"csrf_token": csrf_of(page.text), "reason": "other", "note": ""},
        )
        assert response.status_code == 422
        assert "Say in a note why the offer is declined." in response.text

    @pytest.mark.parametrize("letter", ["陈", "Ж", "م", "é", "a"])
    def test_a_decline_note_is_kept_whole_at_its_limit_and_refused_beside_it_beyond(
        self,
        browser: TestClient,
        people: People,
        offered: Offered,
        session: Session,
        clock: FixedClock,
        letter: str,
    ) -> None:
        """The note was cut to its first 500 characters without a word; beyond the limit
        the offer's form comes back with the rule beside the note, nothing declined."""
        sign_in(browser, people.provider, clock)
        token = csrf_of(browser.get("/provider").text)
        path = f"/provider/offers/{offered.offer_id}/decline"
        sent = {"csrf_token": token, "reason": "other", "note": letter * 501}
        refused = browser.post(path, data=sent)
        assert_named_as_labelled(refused)
        p = f"decline_{offered.offer_id}"
        assert beside(refused.text, f"{p}-note") == "must be at most 500 characters"
        assert f'value="{letter * 501}"' in refused.text  # what was typed, whole
        assert 'value="other" selected' in refused.text
        offer = session.get(Offer, offered.offer_id)
        assert offer is not None
        session.refresh(offer)
        assert offer.status is OfferStatus.pending and offer.decline_note is None
        kept = browser.post(path, data={**sent, "note": letter * 500})
        assert kept.status_code == 303, kept.text[:2000]
        session.refresh(offer)
        assert offer.status is OfferStatus.declined and offer.decline_note == letter * 500

    @pytest.mark.parametrize("char", ["\x00", "\x07", "\u202e", "\ufeff"])
    def test_a_decline_note_holding_what_no_text_may_is_refused_beside_it(
        self,
        browser: TestClient,
        people: People,
        offered: Offered,
        session: Session,
        clock: FixedClock,
        char: str,
    ) -> None:
        sign_in(browser, people.provider, clock)
        refused = browser.post(
            f"/provider/offers/{offered.offer_id}/decline",
            data={
                "csrf_token": csrf_of(browser.get("/provider").text),
                "reason": "other",
                "note": f"Van{char} broke",
            },
        )
        assert_named_as_labelled(refused)
        assert beside(refused.text, f"decline_{offered.offer_id}-note").startswith(
            "must not contain"
        )
        offer = session.get(Offer, offered.offer_id)
        assert offer is not None
        session.refresh(offer)
        assert offer.status is OfferStatus.pending

    def test_a_decline_without_a_reason_is_refused_beside_the_reason(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        refused = browser.post(
            f"/provider/offers/{offered.offer_id}/decline",
            data={"csrf_token": csrf_of(browser.get("/provider").text), "note": "Van broke"},
        )
        assert_named_as_labelled(refused)
        assert beside(refused.text, f"decline_{offered.offer_id}-reason") == (
            "choose why the offer is declined"
        )
        assert 'value="Van broke"' in refused.text

    def test_before_acceptance_the_case_page_is_not_the_providers(
        self, browser: TestClient, people: People, offered: Offered, clock: FixedClock
    ) -> None:
        sign_in(browser, people.provider, clock)
        assert browser.get(f"/cases/{offered.case_number}").status_code == 404


class TestCaseMoves:
    def test_staff_verify_eligibility_then_offer_from_the_case_page(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        make_coverage(session, clock=clock)
        admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        make_provider(session, clock=clock, admin=admin, name="Acme Home Medical")
        draft = referral_draft(clock.now(), items=OXYGEN)
        number = referral_service.submit_referral(
            session, people.manager.actor, draft, clock=clock
        ).case_number
        sign_in(browser, people.manager, clock)
        token = csrf_of(browser.get(f"/cases/{number}").text)
        for path, done in (("acknowledge", "acknowledged"), ("eligibility", "verified")):
            moved = browser.post(f"/cases/{number}/{path}", data={"csrf_token": token})
            assert moved.headers["location"] == f"/cases/{number}?done={done}"
        page = browser.get(f"/cases/{number}")
        assert "Coverage checked" in page.text
        assert "Candidates for" in page.text
        assert "Acme Home Medical" in page.text
        offered = browser.post(f"/cases/{number}/offer", data={"csrf_token": token})
        assert offered.headers["location"] == f"/cases/{number}?done=offered"
        assert "Offered to a provider" in browser.get(offered.headers["location"]).text
