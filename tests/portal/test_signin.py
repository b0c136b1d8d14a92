"""Signing in to the portal: password, TOTP, recovery codes, session lifetime, sign-out,
and the cookie's flags (RELIABILITY.md rows 17-18)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.identity.secrets import totp_code
from careloop.settings import Settings
from tests.portal.conftest import (
    People,
    PortalUser,
    csrf_of,
    make_portal_user,
    page_csrf,
    password_step,
    sign_in,
)


class TestPassword:
    def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
        self, browser: TestClient, people: People
    ) -> None:
        response = password_step(browser, people.hartford.email, "not the password")
        assert response.status_code == 401
        assert "E-mail or password not recognised" in response.text
        assert "careloop_session" not in response.cookies
        unknown = password_step(browser, "nobody@example.test", "not the password")
        assert unknown.status_code == 401
        assert "E-mail or password not recognised" in unknown.text

    def test_referrer_is_signed_in_by_password_alone(
        self, browser: TestClient, people: People
    ) -> None:
        response = password_step(browser, people.hartford.email)
        assert response.status_code == 303
        home = browser.get("/", follow_redirects=True)
        assert home.status_code == 200
        assert "Our referrals" in home.text

    def test_sign_in_form_without_its_token_is_refused(
        self, browser: TestClient, people: People
    ) -> None:
        response = browser.post(
            "/signin", data={"email": people.hartford.email, "password": "x", "csrf_token": "x"}
        )
        assert response.status_code == 403

    def test_pages_send_an_anonymous_visitor_to_sign_in(self, browser: TestClient) -> None:
        response = browser.get("/staff")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=%2Fstaff")


class TestSecondFactor:
    def test_staff_must_give_a_totp_code_before_any_page(
        self, browser: TestClient, people: People
    ) -> None:
        response = password_step(browser, people.intake.email)
        assert response.headers["location"].startswith("/signin/totp")
        # Skipping the step: every page sends the browser back to it, with no PHI.
        skipped = browser.get("/staff")
        assert skipped.status_code == 303
        assert skipped.headers["location"] == "/signin/totp"

    def test_wrong_totp_code_is_refused(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        password_step(browser, people.intake.email)
        page = browser.get("/signin/totp")
        response = browser.post(
            "/signin/totp", data={"code": "000000", "csrf_token": csrf_of(page.text)}
        )
        assert response.status_code == 401
        assert "not valid" in response.text
        assert browser.get("/staff").status_code == 303

    def test_a_totp_code_works_once(
        self, app: object, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        assert browser.get("/staff").status_code == 200
        # A second browser replays the same code in the same 30-second window.
        with TestClient(
            browser.app, base_url="https://testserver", follow_redirects=False
        ) as other:
            password_step(other, people.intake.email)
            page = other.get("/signin/totp")
            replay = other.post(
                "/signin/totp",
                data={
                    "code": totp_code(people.intake.secret or "", clock.now()),
                    "csrf_token": csrf_of(page.text),
                },
            )
            assert replay.status_code == 401

    def test_the_session_cookie_changes_when_the_second_step_is_passed(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        password_step(browser, people.intake.email)
        before = browser.cookies.get("careloop_session")
        page = browser.get("/signin/totp")
        browser.post(
            "/signin/totp",
            data={
                "code": totp_code(people.intake.secret or "", clock.now()),
                "csrf_token": csrf_of(page.text),
            },
        )
        assert browser.cookies.get("careloop_session") not in (None, before)


@pytest.fixture
def newcomer(people: People, session: Session, clock: FixedClock) -> PortalUser:
    """A case manager with a password and no authenticator yet."""
    return make_portal_user(session, clock, Role.case_manager, email="new@careloop.test")


def _enrol(browser: TestClient, user: PortalUser, clock: FixedClock) -> list[str]:
    """Enrol through the pages; the recovery codes shown once."""
    response = password_step(browser, user.email)
    assert response.headers["location"].startswith("/signin/enrol")
    page = browser.get("/signin/enrol")
    assert page.status_code == 200
    secret = page.text.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")
    done = browser.post(
        "/signin/enrol",
        data={"code": totp_code(secret, clock.now()), "csrf_token": csrf_of(page.text)},
    )
    assert done.status_code == 200
    return [c.split("</code>")[0] for c in done.text.split("<code>")[1:]]


class TestEnrolment:
    def test_enrolment_shows_a_qr_code_and_the_same_secret_on_reload(
        self, browser: TestClient, newcomer: PortalUser
    ) -> None:
        password_step(browser, newcomer.email)
        first = browser.get("/signin/enrol")
        assert "<svg" in first.text
        assert "<script" not in first.text.split("</head>")[1]
        secret = first.text.split('id="totp-secret">')[1].split("<")[0]
        assert secret in browser.get("/signin/enrol").text

    def test_a_wrong_code_does_not_enrol(self, browser: TestClient, newcomer: PortalUser) -> None:
        password_step(browser, newcomer.email)
        page = browser.get("/signin/enrol")
        wrong = browser.post(
            "/signin/enrol", data={"code": "123456", "csrf_token": csrf_of(page.text)}
        )
        assert wrong.status_code == 303
        assert "error=true" in wrong.headers["location"]
        assert browser.get("/staff").status_code == 303

    def test_enrolment_issues_ten_recovery_codes_and_signs_in(
        self, browser: TestClient, newcomer: PortalUser, clock: FixedClock
    ) -> None:
        codes = _enrol(browser, newcomer, clock)
        assert len(codes) == 10
        assert len(set(codes)) == 10
        assert browser.get("/staff").status_code == 200
        # The enrolment page does not come back to replace a working authenticator.
        assert browser.get("/signin/enrol").status_code == 303

    def test_a_recovery_code_signs_in_once(
        self, browser: TestClient, newcomer: PortalUser, clock: FixedClock
    ) -> None:
        codes = _enrol(browser, newcomer, clock)
        for expected in (303, 401):
            with TestClient(
                browser.app, base_url="https://testserver", follow_redirects=False
            ) as other:
                password_step(other, newcomer.email)
                page = other.get("/signin/totp")
                response = other.post(
                    "/signin/totp", data={"code": codes[0], "csrf_token": csrf_of(page.text)}
                )
                assert response.status_code == expected


class TestSessionLifetime:
    def test_session_survives_29_idle_minutes_and_ends_at_30(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        clock.advance(timedelta(minutes=29))
        assert browser.get("/referrer").status_code == 200
        clock.advance(timedelta(minutes=29))
        assert browser.get("/referrer").status_code == 200
        clock.advance(timedelta(minutes=31))
        ended = browser.get("/referrer")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/signin")

    def test_an_active_session_ends_12_hours_after_sign_in(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        for _ in range(47):  # every 15 minutes for 11 h 45 min
            clock.advance(timedelta(minutes=15))
            assert browser.get("/referrer").status_code == 200
        clock.advance(timedelta(minutes=15))
        assert browser.get("/referrer").status_code == 303

    def test_sign_out_ends_the_session_on_the_server(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        stolen = browser.cookies.get("careloop_session")
        token = page_csrf(browser, "/referrer")
        out = browser.post("/signout", data={"csrf_token": token})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
        # The old cookie, replayed, is worthless: the row is gone.
        browser.cookies.set("careloop_session", stolen or "", domain="testserver")
        assert browser.get("/referrer").status_code == 303


class TestCookie:
    def test_session_cookie_is_httponly_samesite_lax_and_secure(
        self, browser: TestClient, people: People
    ) -> None:
        response = password_step(browser, people.hartford.email)
        header = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and "careloop_session" in v
        )
        lowered = header.lower()
        assert "httponly" in lowered
        assert "samesite=lax" in lowered
        assert "secure" in lowered


class TestDemoSetting:
    def test_the_app_refuses_to_start_with_the_demo_setting_outside_the_demo(
        self, settings: Settings
    ) -> None:
        with pytest.raises(ValueError, match="CARELOOP_DEMO_SKIP_TOTP"):
            create_app(settings.model_copy(update={"demo_skip_totp": True}))

    def test_in_the_demo_an_unenrolled_staff_user_skips_the_code_step(
        self,
        settings: Settings,
        database: Database,
        clock: FixedClock,
        newcomer: PortalUser,
    ) -> None:
        demo = settings.model_copy(update={"environment": "demo", "demo_skip_totp": True})
        app = create_app(demo, database=database, clock=clock)
        with TestClient(app, follow_redirects=False) as client:  # plain http: no Secure
            response = password_step(client, newcomer.email)
            assert response.headers["location"] == "/"
            assert "secure" not in response.headers["set-cookie"].lower()
            page = client.get("/staff")
            assert page.status_code == 200
            assert "Demo" in page.text
