"""The staff case page shows the case's claims: charged, paid, where each stands and
what the payer last said (277), in plain words; a referrer sees none of it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.claim import delivery, rules, service, status
from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import FixedClock
from careloop.payer.models import Payer
from careloop.portal.presenters import rule_words
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus
from tests.factories.referral import referral_draft
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import assert_safe_html
from tests.portal.test_plain_words import leaks


def test_the_case_page_shows_each_claim_and_the_payers_word(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    number = referral_service.submit_referral(
        session, SYSTEM_ACTOR, referral_draft(clock.now()), clock=clock
    ).case_number
    referral = session.scalars(select(Referral).where(Referral.case_number == number)).one()
    session.add(
        Appointment(
            referral_id=referral.id, sequence=1, kind=next(iter(AppointmentKind)),
            status=AppointmentStatus.delivered, outcome_at=clock.now(), serial_numbers=[],
            units=[],
        )
    )  # fmt: skip
    session.scalars(select(Payer)).one().rules = {"claims": {"billed_by": "coordinator"}}
    session.flush()
    lines = [rules.Line("E0260", 1, clock.now().date(), ("RR",), (1,))]
    prepared = service.prepare(session, SYSTEM_ACTOR, referral.id, lines, clock=clock)
    status.record_payer_status(
        session, SYSTEM_ACTOR, prepared.claim_number, category="F2", code="88",
        effective=clock.now().date(), source="277 from NEHP", clock=clock,
    )  # fmt: skip
    session.flush()

    sign_in(browser, people.manager, clock)
    page = browser.get(f"/cases/{number}")
    assert page.status_code == 200
    html = page.text
    assert_safe_html(html)
    assert 'id="claims"' in html
    assert prepared.claim_number in html and "$178.40" in html
    assert "Finalized: denied (status code 88)" in html
    assert f"The payer on claim {prepared.claim_number}: Finalized: denied" in html
    assert leaks(html) == []


def test_the_claim_preparation_deadline_reads_plainly() -> None:
    """The deadline table shows each clock's rule without its source document, and
    nothing is left of the reference (no empty brackets)."""
    text = rule_words(delivery.RULE_SOURCE)
    assert text == "A claim is prepared for each delivery or visit done"
    assert leaks(f"<td>{text}</td>") == []
