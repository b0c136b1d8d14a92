"""The portal's pages over the same services as the API: what each role sees, the
moves a page makes, CSRF, the security headers, and 404 for another organisation's case."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from tests.factories.referral import VALID_NPI, referral_draft
from tests.portal.conftest import People, PortalUser, csrf_of, link_member, sign_in

_SCRIPT = re.compile(r"<script\b[^>]*>", re.I)


def submit(session: Session, user: PortalUser, clock: FixedClock, **overrides: object) -> str:
    draft = referral_draft(clock.now(), **overrides)
    submission = referral_service.submit_referral(session, user.actor, draft, clock=clock)
    session.flush()
    return submission.case_number


def assert_safe_html(html: str) -> None:
    """No inline script (every <script> loads a file) and no inline style attribute."""
    for tag in _SCRIPT.findall(html):
        assert "src=" in tag, tag
    assert " style=" not in html
    assert "<style" not in html


class TestSecurity:
    @pytest.mark.parametrize(
        ("who", "path"),
        [
            ("intake", "/staff"),
            ("intake", "/staff/search?q=Hale"),
            ("intake", "/referrals/new"),
            ("intake", "/codes/icd10?q=copd"),
            ("hartford", "/referrer"),
            ("provider", "/provider"),
            ("member", "/member"),
        ],
    )
    def test_pages_carry_the_csp_and_no_inline_script(
        self,
        browser: TestClient,
        people: People,
        session: Session,
        clock: FixedClock,
        who: str,
        path: str,
    ) -> None:
        submit(session, people.hartford, clock)
        sign_in(browser, getattr(people, who), clock)
        response = browser.get(path)
        assert response.status_code == 200, response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert_safe_html(response.text)

    def test_sign_in_page_is_covered_too(self, browser: TestClient) -> None:
        response = browser.get("/signin")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert_safe_html(response.text)

    def test_post_without_the_csrf_token_is_refused_with_a_clear_page(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        missing = browser.post(f"/cases/{number}/acknowledge", data={})
        assert missing.status_code == 403
        assert "security token" in missing.text
        wrong = browser.post(f"/cases/{number}/acknowledge", data={"csrf_token": "forged"})
        assert wrong.status_code == 403
        case = browser.get(f"/cases/{number}")
        assert "Received, waiting to be acknowledged" in case.text

    def test_member_data_with_markup_is_escaped(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(
            session, people.hartford, clock, member__last_name="<script>alert(1)</script>"
        )
        sign_in(browser, people.intake, clock)
        html = browser.get(f"/cases/{number}").text
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


class TestVisibility:
    def test_another_organisations_case_answers_404_like_a_missing_one(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.albany, clock)
        theirs = browser.get(f"/cases/{number}")
        missing = browser.get("/cases/CL-2026-999999")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(number, "X") == missing.text.replace("CL-2026-999999", "X")
        assert "Dorothy" not in theirs.text

    def test_own_organisations_case_is_shown_with_what_is_missing(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock, ordering_provider__npi="1234567890")
        sign_in(browser, people.hartford, clock)
        listing = browser.get("/referrer")
        assert number in listing.text
        assert "Waiting for missing information" in listing.text
        assert f"/cases/{number}/information" in listing.text
        form = browser.get(f"/cases/{number}/information")
        assert "check digit" in form.text.lower()

    def test_referrer_sends_the_missing_information(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock, ordering_provider__npi="1234567890")
        sign_in(browser, people.hartford, clock)
        page = browser.get(f"/cases/{number}/information")
        response = browser.post(
            f"/cases/{number}/information",
            data={
                "csrf_token": csrf_of(page.text),
                "ordering_provider.npi": VALID_NPI,
                "note": "corrected NPI",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/cases/{number}?done=supplied"
        case = browser.get(response.headers["location"])
        assert "Received, waiting to be acknowledged" in case.text

    def test_member_sees_their_case_in_plain_words_and_nothing_internal(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        link_member(session, people, number, clock)
        # The same name and birth date, not linked: not theirs to see.
        twin = submit(session, people.hartford, clock, external_id="X1")
        submit(session, people.hartford, clock, member__first_name="Walter", external_id="X2")
        sign_in(browser, people.member, clock)
        page = browser.get("/member")
        assert page.status_code == 200
        assert number in page.text
        assert "We received the order" in page.text
        assert "1-800-555-0199" in page.text
        assert "Walter" not in page.text
        assert twin not in page.text
        for internal in ("J44.1", "E1390", "NEH448812301", "finding", "Timeline"):
            assert internal not in page.text
        # Their own case page is not an internal view they can open either... it is theirs:
        # but another member's case answers 404.
        other = browser.get("/cases/CL-2026-999999")
        assert other.status_code == 404


class TestStaffConsole:
    def test_work_queue_shows_overdue_items_in_red_with_how_late(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        clock.advance(timedelta(days=3, hours=2, minutes=10))
        sign_in(browser, people.intake, clock)
        page = browser.get("/staff")
        assert page.status_code == 200
        assert number in page.text
        assert re.search(r'class="due overdue"[^>]*>overdue by 2 d 2 h 10 min<', page.text) or (
            re.search(r'class="due overdue"[^>]*>overdue by [^<]+<', page.text)
        )
        assert "is-overdue" in page.text
        # The KPI charts, worded from report.rules (24 h to acknowledge; targets).
        assert 'id="chart-ack"' in page.text and 'id="chart-on-time"' in page.text
        assert "Acknowledged within 24 h, by week starting (target 100 %)" in page.text
        assert "Delivered or started on time, by week starting (target 95 %)" in page.text

    def test_claim_and_release_from_the_queue(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        page = browser.get("/staff?team=intake")
        clock_id = re.search(r"/staff/queue/(\d+)/claim", page.text)
        assert clock_id
        token = csrf_of(page.text)
        claimed = browser.post(
            f"/staff/queue/{clock_id.group(1)}/claim",
            data={"csrf_token": token, "back": "/staff?team=intake"},
        )
        assert claimed.status_code == 303
        mine = browser.get("/staff?mine=true")
        assert f"/staff/queue/{clock_id.group(1)}/release" in mine.text
        released = browser.post(
            f"/staff/queue/{clock_id.group(1)}/release", data={"csrf_token": token}
        )
        assert released.status_code == 303
        assert "Nothing needs anyone" in browser.get("/staff?mine=true").text

    def test_filters_narrow_the_queue(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock, urgency="urgent")
        sign_in(browser, people.intake, clock)
        assert number in browser.get("/staff?urgency=urgent").text
        assert number not in browser.get("/staff?urgency=discharge").text
        assert number in browser.get("/staff?payer=nehp").text
        assert number not in browser.get("/staff?payer=OTHER").text
        assert number in browser.get("/staff?status=received").text
        assert number not in browser.get("/staff?status=cancelled").text

    def test_acknowledge_from_the_queue(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.intake, clock)
        page = browser.get("/staff")
        response = browser.post(
            f"/cases/{number}/acknowledge", data={"csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 303
        case = browser.get(response.headers["location"])
        assert "Acknowledged" in case.text
        assert "Priya Shah" in case.text
        # The state machine no longer allows it: the button is gone, a replay is refused.
        assert f'action="/cases/{number}/acknowledge"' not in case.text
        again = browser.post(
            f"/cases/{number}/acknowledge", data={"csrf_token": csrf_of(page.text)}
        )
        assert again.status_code == 409

    def test_case_page_shows_codes_findings_clocks_and_timeline(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock, diagnoses=[{"code": "J44"}])
        sign_in(browser, people.manager, clock)
        page = browser.get(f"/cases/{number}").text
        assert "Oxygen concentrator, single delivery port" in page  # E1390's description
        assert "J44 is a category, not a billable code" in page
        assert "What to do:" in page
        assert "Acknowledgement" in page
        assert "Timeline (newest first)" in page
        assert "Referral received" in page

    def test_search_by_case_number_name_and_birth_date_or_order_id(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock, external_id="HOSP-77")
        sign_in(browser, people.intake, clock)
        assert number in browser.get(f"/staff/search?q={number}").text
        assert number in browser.get("/staff/search?q=Hale&birth_date=1945-01-23").text
        assert number not in browser.get("/staff/search?q=Hale&birth_date=1950-01-01").text
        assert number in browser.get("/staff/search?external_id=HOSP-77").text


class TestAudit:
    def test_case_page_reads_are_audited_like_the_api_and_denials_too(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        number = submit(session, people.hartford, clock)
        sign_in(browser, people.manager, clock)
        assert browser.get(f"/cases/{number}").status_code == 200
        sign_in(browser, people.albany, clock)
        assert browser.get(f"/cases/{number}").status_code == 404
        rows = session.execute(
            select(AuditRecord.action, AuditRecord.outcome, AuditRecord.actor_user_id).where(
                AuditRecord.case_number == number
            )
        ).all()
        assert ("referral.read", "success", people.manager.actor.user_id) in rows
        assert ("referral.timeline", "success", people.manager.actor.user_id) in rows
        assert ("referral.read", "denied", people.albany.actor.user_id) in rows


class TestPossibleDuplicates:
    def test_a_referrer_never_sees_the_other_hospitals_case_number_staff_do(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        theirs = submit(session, people.hartford, clock)
        ours = submit(session, people.albany, clock, external_id="ALB-9")
        sign_in(browser, people.albany, clock)
        for path in ("/referrer", f"/cases/{ours}", f"/cases/{ours}/information"):
            page = browser.get(path)
            assert page.status_code == 200, path
            assert theirs not in page.text, path
            assert " h ago" not in page.text, path
        assert "the coordinator will check" in browser.get(f"/cases/{ours}").text
        browser.cookies.clear()
        sign_in(browser, people.intake, clock)
        staff_page = browser.get(f"/cases/{ours}").text
        assert f'href="/cases/{theirs}"' in staff_page
