"""End-to-end fixtures: a real uvicorn server on a free 127.0.0.1 port over a fresh
SQLite file, seeded through the services, a real SMTP server (aiosmtpd) on another free
port that the server's settings and the worker pass point at, and Debian's chromium driven
by Playwright (launch settings in DEVELOPERS.md). Without /usr/bin/chromium the tests are
skipped with a notice, except under CI=true, where that is an error."""

from __future__ import annotations

import email
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect, sync_playwright

from careloop import worker
from careloop.core.actor import Role
from careloop.core.clock import Clock, FixedClock, SystemClock
from careloop.db.migrate import upgrade_database
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.secrets import totp_code
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.notification.sinks import channel_sink
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import DenialReason
from careloop.prior_auth.rules import Outcome as DenialOutcome
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn
from careloop.referral import members as referral_members
from careloop.referral import service as referral_service
from careloop.settings import Settings
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import give_password, make_user
from tests.factories.network import make_provider
from tests.factories.referral import make_payer, referral_draft
from tests.live_server import free_port, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "e2e password 2026"
OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]
INTAKE_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PROVIDER_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SUPERVISOR_SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
#: The team's supervisor: a name with letters beyond ASCII, a direct line.
SUPERVISOR_NAME = "Zofia Dąbrowska"
SUPERVISOR_PHONE = "1-860-555-0177"


@dataclass(frozen=True)
class Account:
    email: str
    secret: str | None = None


class Inbox:
    """What the local SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@dataclass(frozen=True)
class World:
    base_url: str
    intake: Account
    newcomer: Account
    provider: Account
    referrer: Account
    member: Account
    supervisor: Account
    offered_case: str
    #: Received cases kept for the escalation stories (one each).
    escalation_cases: tuple[str, ...]
    # A case whose prior authorisation was denied (the appeal story).
    denied_case: str = ""
    database_url: str = ""
    settings: Settings | None = None
    inbox: Inbox = field(default_factory=Inbox)


def _need_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required under CI (make chromium installs it)")
    pytest.skip(f"NOTICE: {CHROMIUM} is not installed (make chromium); browser tests skipped")


def _seed(url: str) -> World:
    """One user per role, a provider, and a case already offered to that provider."""
    clock = FixedClock(datetime.now(UTC))
    database = Database.from_url(url)
    with database.unit_of_work() as session:
        make_payer(session, clock=clock)
        make_coverage(session, clock=clock)
        # The member the intake agent takes a call about: covered, no prior auth needed.
        make_coverage(
            session,
            clock=clock,
            member_id="NEH448812399",
            last_name="Kowalski",
            birth_date="1941-06-02",
        )
        intake, _ = make_user(
            session, clock=clock, role=Role.intake_agent, email="priya@e2e.test", name="Priya Shah"
        )
        make_user(session, clock=clock, role=Role.case_manager, email="new@e2e.test")
        planner, _ = make_user(
            session,
            clock=clock,
            role=Role.referring_clinician,
            email="planner@hartford.test",
            organization="Hartford General",
        )
        # The referrer's own case, waiting for a corrected NPI.
        waiting = referral_draft(
            clock.now(),
            external_id="HGH-2211",
            member__first_name="Evelyn",
            member__last_name="Nguyen",
            ordering_provider__npi="1234567890",
        )
        referral_service.submit_referral(session, planner, waiting, clock=clock)
        supervisor, _ = make_user(
            session,
            clock=clock,
            role=Role.supervisor,
            email="zofia@e2e.test",
            name=SUPERVISOR_NAME,
        )
        identity_service.set_direct_phone(session, "zofia@e2e.test", SUPERVISOR_PHONE)
        acme = make_provider(session, clock=clock, admin=supervisor, name="Acme Home Medical")
        provider_email = "dispatch@acmehomemedical.test"
        make_user(session, clock=clock, role=Role.member, email="dorothy@e2e.test")
        draft = referral_draft(clock.now(), items=OXYGEN, external_id="E2E-OFFER")
        number = referral_service.submit_referral(session, intake, draft, clock=clock).case_number
        referral_members.link_member_account(
            session, intake, number, "dorothy@e2e.test", clock=clock
        )
        make_ready(session, intake, number, clock=clock)
        matching_service.offer_referral(
            session, intake, number, OfferCreate(provider_id=acme.id), clock=clock
        )
        # Two received cases, one for each escalation story.
        escalation_cases = tuple(
            referral_service.submit_referral(
                session,
                intake,
                referral_draft(
                    clock.now(),
                    external_id=f"E2E-ESC-{n}",
                    member__first_name=first,
                    member__last_name=last,
                ),
                clock=clock,
            ).case_number
            for n, (first, last) in enumerate((("Лариса", "Орлова"), ("美玲", "陈")), start=1)
        )
        denied_case = _denied_case(session, clock, supervisor)
        for address in (
            "priya@e2e.test",
            "new@e2e.test",
            "planner@hartford.test",
            "dorothy@e2e.test",
            "zofia@e2e.test",
            provider_email,
        ):
            give_password(session, address, PASSWORD)
        identity_service.enrol_totp(session, "priya@e2e.test", secret=INTAKE_SECRET, clock=clock)
        identity_service.enrol_totp(session, provider_email, secret=PROVIDER_SECRET, clock=clock)
        identity_service.enrol_totp(
            session, "zofia@e2e.test", secret=SUPERVISOR_SECRET, clock=clock
        )
    database.engine.dispose()
    return World(
        base_url="",
        intake=Account("priya@e2e.test", INTAKE_SECRET),
        newcomer=Account("new@e2e.test"),
        provider=Account(provider_email, PROVIDER_SECRET),
        referrer=Account("planner@hartford.test"),
        member=Account("dorothy@e2e.test"),
        supervisor=Account("zofia@e2e.test", SUPERVISOR_SECRET),
        offered_case=number,
        escalation_cases=escalation_cases,
        denied_case=denied_case,
    )


def _denied_case(session: Any, clock: FixedClock, reviewer: Any) -> str:
    """A case for oxygen whose prior authorisation the payer denied as not medically
    necessary (its member is covered, and the plan needs authorisation for E1390)."""
    make_coverage(
        session,
        clock=clock,
        member_id="NEH448812377",
        last_name="Okafor",
        birth_date="1951-06-02",
        # A plan of its own: the other stories' plan needs no authorisation.
        plan_code="SILVER",
        plan_name="NEHP Silver HMO",
        prior_auth="E1390",
    )
    draft = referral_draft(
        clock.now(),
        items=OXYGEN,
        external_id="E2E-APPEAL",
        member__first_name="Ngozi",
        member__last_name="Okafor",
        member__birth_date="1951-06-02",
        coverage__member_id="NEH448812377",
    )
    number = referral_service.submit_referral(session, reviewer, draft, clock=clock).case_number
    make_ready(session, reviewer, number, clock=clock)
    request = prior_auth_service.request_authorization(
        session, reviewer, number, AuthorizationRequestIn(), clock=clock
    )
    prior_auth_service.record_decision(
        session,
        reviewer,
        request.id,
        DecisionIn(
            outcome=DenialOutcome.denied,
            denial_reason=DenialReason.not_medically_necessary,
            peer_to_peer_contact="Dr. Helen Marsh, 800-555-0142",
        ),
        clock=clock,
    )
    return number


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    _need_chromium()
    directory = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{directory / 'careloop.sqlite3'}"
    upgrade_database(url)
    seeded = _seed(url)
    inbox = Inbox()
    smtp_port = free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = {
        **os.environ,
        "CARELOOP_DATABASE_URL": url,
        "CARELOOP_ENVIRONMENT": "test",
        # Plain HTTP on 127.0.0.1: the cookie cannot be Secure here.
        "CARELOOP_COOKIE_SECURE": "false",
        "CARELOOP_LOG_LEVEL": "WARNING",
        # E-mail goes to the local SMTP server, in clear (it is on 127.0.0.1).
        "CARELOOP_SMTP_HOST": "127.0.0.1",
        "CARELOOP_SMTP_PORT": str(smtp_port),
        "CARELOOP_SMTP_SECURITY": "none",
        "CARELOOP_SMTP_FROM": "CareLoop <care@careloop.test>",
        "CARELOOP_NOTIFICATION_DIR": str(directory / "notifications"),
        "CARELOOP_DOCUMENT_DIR": str(directory / "documents"),
    }
    # The worker pass reads the same settings as the server.
    settings = Settings(
        database_url=url,
        environment="test",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_security="none",
        smtp_from="CareLoop <care@careloop.test>",
        notification_dir=directory / "notifications",
        document_dir=directory / "documents",
    )
    env.pop("CARELOOP_DEMO_SKIP_TOTP", None)
    try:
        with live_server(env) as base_url:
            yield World(
                **{
                    **seeded.__dict__,
                    "base_url": base_url,
                    "database_url": url,
                    "settings": settings,
                    "inbox": inbox,
                }
            )
    finally:
        smtp.stop()


def worker_pass(world: World, *, clock: Clock | None = None) -> Counter[str]:
    """What `careloop tick` does, against the server's database and SMTP server: fire what
    is due at ``clock`` (the system clock by default) and deliver the outbox."""
    assert world.settings is not None
    database = Database.from_url(world.database_url)
    try:
        return worker.run_until_idle(
            database, clock=clock or SystemClock(), sink=channel_sink(world.settings)
        )
    finally:
        database.engine.dispose()


@pytest.fixture(scope="session")
def browser(world: World) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, world: World) -> Iterator[Page]:
    """A fresh browser context (no cookies) at tablet width."""
    context = browser.new_context(base_url=world.base_url, viewport={"width": 1024, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield tab
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


# ---- signing in as a person does ---------------------------------------------------------


#: The session cookies of each account's first sign-in through the form, reused by its later
#: sign-ins: the server refuses an authenticator code twice, so a second sign-in by form
#: within the same 30 seconds would wait for the next code.
_SESSIONS: dict[str, list[Any]] = {}


def sign_in(
    page: Page, account: Account, *, screenshot: str | None = None, by_form: bool = False
) -> None:
    """Sign in as ``account``: through the form the first time (or when ``by_form``), then
    with the session that sign-in opened, as a person's browser would keep it."""
    cookies = _SESSIONS.get(account.email)
    if cookies and not by_form and screenshot is None:
        page.context.add_cookies(cookies)
        page.goto("/")
        if page.get_by_role("button", name="Sign out").count():
            return
        page.context.clear_cookies()
    page.goto("/signin")
    page.get_by_label("E-mail").fill(account.email)
    page.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        shot(page, screenshot)
    page.get_by_role("button", name="Sign in").click()
    if account.secret:
        asked = page.get_by_role("heading", name="Your authenticator code")
        expect(asked).to_be_visible()
        page.get_by_label("Code").fill(_fresh_code(account.secret))
        page.get_by_role("button", name="Continue").click()
        expect(asked).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    _SESSIONS[account.email] = page.context.cookies()


_LAST_CODE: dict[str, str] = {}


def _fresh_code(secret: str) -> str:
    """A code not used yet: the server refuses a code twice (replay), so a second sign-in
    within the same 30 seconds waits for the next one."""
    while (code := totp_code(secret, datetime.now(UTC))) == _LAST_CODE.get(secret):
        time.sleep(1)
    _LAST_CODE[secret] = code
    return code
