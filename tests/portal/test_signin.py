"""Signing in to the portal: password, TOTP, recovery codes, session lifetime, sign-out,
the cookie's flags, deprovisioning and the failed-sign-in limits (RELIABILITY.md rows
17-19, §2 C.25-C.26)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.app import create_app
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.identity import secrets
from careloop.identity.models import User
from careloop.identity.secrets import totp_code
from careloop.settings import Settings
from tests.portal.conftest import (
    PASSWORD,
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
        stolen = browser.cookies.get("careloop_session") or ""
        assert _replay(browser, stolen, "/referrer") == 200  # a copy works while signed in
        token = page_csrf(browser, "/referrer")
        out = browser.post("/signout", data={"csrf_token": token})
        assert out.status_code == 303
        assert out.headers["location"] == "/signin"
        # The old cookie, replayed, is worthless: the row is gone.
        assert _replay(browser, stolen, "/referrer") == 303


def _replay(browser: TestClient, cookie: str, path: str) -> int:
    """The status another browser gets for ``path`` when it sends ``cookie``."""
    with TestClient(browser.app, base_url="https://testserver", follow_redirects=False) as other:
        other.cookies.set("careloop_session", cookie)
        return other.get(path).status_code


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


class TestDeprovisioning:
    def test_a_disabled_users_live_session_is_refused_at_once(
        self, browser: TestClient, people: People, session: Session, clock: FixedClock
    ) -> None:
        sign_in(browser, people.intake, clock)
        assert browser.get("/staff").status_code == 200
        user = session.scalars(select(User).where(User.email == people.intake.email)).one()
        user.active = False
        session.flush()
        refused = browser.get("/staff")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/signin")
        # The session row is gone: enabling the user again does not revive the cookie.
        user.active = True
        session.flush()
        assert browser.get("/staff").status_code == 303


class TestSessionFixation:
    def test_a_cookie_planted_before_sign_in_is_replaced_and_worthless(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        browser.cookies.set("careloop_session", "planted-by-someone-else")
        response = password_step(browser, people.hartford.email)
        assert response.status_code == 303
        issued = response.cookies.get("careloop_session")
        assert issued not in (None, "planted-by-someone-else")
        assert _replay(browser, issued or "", "/referrer") == 200
        assert _replay(browser, "planted-by-someone-else", "/referrer") == 303

    def test_each_sign_in_issues_a_new_session_id(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        sign_in(browser, people.hartford, clock)
        first = browser.cookies.get("careloop_session")
        sign_in(browser, people.hartford, clock)
        assert browser.cookies.get("careloop_session") not in (None, first)


class TestStepSkipping:
    def test_the_enrolment_page_cannot_replace_an_enrolled_factor_before_the_code_step(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        """Password done, code not: enrolling a fresh authenticator would skip the step."""
        password_step(browser, people.intake.email)
        assert browser.get("/signin/enrol").status_code == 409
        token = csrf_of(browser.get("/signin/totp").text)
        chosen = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
        forged = browser.post(
            "/signin/enrol", data={"code": totp_code(chosen, clock.now()), "csrf_token": token}
        )
        assert forged.status_code == 409
        assert "careloop_session" not in forged.cookies
        skipped = browser.get("/staff")
        assert skipped.status_code == 303
        assert skipped.headers["location"] == "/signin/totp"


# ---- failed-sign-in limits (identity.rules: 10 per account in 15 min, 20 per address in 1 min)


def _client(app: FastAPI, address: str) -> TestClient:
    return TestClient(
        app,
        base_url="https://testserver",
        follow_redirects=False,
        raise_server_exceptions=False,
        client=(address, 50000),
    )


def _same_page(response: Response, email: str) -> str:
    """The page with what legitimately differs taken out: the e-mail echoed back into
    the form and the per-page CSRF token."""
    return re.sub(r'value="[^"]*"', 'value=""', response.text.replace(email, "EMAIL"))


class CountingHasher:
    """Stands in for the argon2 hasher and records which hashes were verified."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.verified: list[str] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.verified.append(password_hash)
        return self.real.verify(password_hash, password)


class TestFailedSignInLimits:
    def test_429_for_a_correct_password_after_10_failures_until_15_minutes_pass(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        for _ in range(10):
            assert password_step(browser, people.hartford.email, "wrong").status_code == 401
        locked = password_step(browser, people.hartford.email, PASSWORD)
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "900"
        assert "Too many failed sign-in attempts. Wait 15 minutes" in locked.text
        assert "careloop_session" not in locked.cookies
        clock.advance(timedelta(minutes=14, seconds=59))
        still = password_step(browser, people.hartford.email, PASSWORD)
        assert still.status_code == 429
        assert still.headers["retry-after"] == "1"
        clock.advance(timedelta(seconds=1))
        assert password_step(browser, people.hartford.email, PASSWORD).status_code == 303

    def test_refused_attempts_do_not_extend_the_lock(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        for _ in range(10):
            password_step(browser, people.hartford.email, "wrong")
        for _ in range(14):
            clock.advance(timedelta(minutes=1))
            assert password_step(browser, people.hartford.email, "wrong").status_code == 429
        clock.advance(timedelta(minutes=1))
        assert password_step(browser, people.hartford.email, PASSWORD).status_code == 303

    def test_registered_and_unknown_emails_get_the_same_answers(
        self, app: FastAPI, people: People
    ) -> None:
        """No enumeration: wrong password and unknown e-mail read alike, before and
        after the lock (each from its own address, so only the account limit applies)."""
        unknown = "nobody@hartford.test"
        with _client(app, "198.51.100.1") as one, _client(app, "198.51.100.2") as two:
            for _ in range(11):
                registered = password_step(one, people.hartford.email, "wrong")
                stranger = password_step(two, unknown, "wrong")
                assert registered.status_code == stranger.status_code
                assert registered.headers.get("retry-after") == stranger.headers.get("retry-after")
                assert _same_page(registered, people.hartford.email) == _same_page(
                    stranger, unknown
                )
            assert registered.status_code == 429

    def test_an_unknown_email_costs_an_argon2_verification_like_a_registered_one(
        self, browser: TestClient, people: People, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        hasher = CountingHasher(PasswordHasher())
        monkeypatch.setattr(secrets, "_HASHER", hasher)
        password_step(browser, "nobody@example.test", "wrong")
        password_step(browser, people.hartford.email, "wrong")
        assert len(hasher.verified) == 2
        assert all(h.startswith("$argon2id$") for h in hasher.verified)

    def test_20_failures_from_one_address_lock_it_for_a_minute(
        self, app: FastAPI, people: People, clock: FixedClock
    ) -> None:
        with _client(app, "203.0.113.9") as stuffer, _client(app, "198.51.100.7") as other:
            for n in range(20):
                assert password_step(stuffer, f"user{n}@example.test", "x").status_code == 401
            locked = password_step(stuffer, people.hartford.email, PASSWORD)
            assert locked.status_code == 429
            assert locked.headers["retry-after"] == "60"
            assert "Wait 1 minute and" in locked.text
            # The accounts are not locked: the same person from elsewhere gets in.
            assert password_step(other, people.hartford.email, PASSWORD).status_code == 303
            clock.advance(timedelta(minutes=1))
            assert password_step(stuffer, people.hartford.email, PASSWORD).status_code == 303

    def test_wrong_totp_codes_count_against_the_account(
        self, browser: TestClient, people: People, clock: FixedClock
    ) -> None:
        password_step(browser, people.intake.email)
        token = csrf_of(browser.get("/signin/totp").text)
        for _ in range(10):
            wrong = browser.post("/signin/totp", data={"code": "000000", "csrf_token": token})
            assert wrong.status_code == 401
        right = totp_code(people.intake.secret or "", clock.now())
        locked = browser.post("/signin/totp", data={"code": right, "csrf_token": token})
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "900"
        assert "Too many failed sign-in attempts" in locked.text
        assert browser.get("/staff").status_code == 303
        # The password step of the same account is locked too.
        with TestClient(
            browser.app, base_url="https://testserver", follow_redirects=False
        ) as other:
            assert password_step(other, people.intake.email).status_code == 429
            clock.advance(timedelta(minutes=15))
            sign_in(other, people.intake, clock)
            assert other.get("/staff").status_code == 200
