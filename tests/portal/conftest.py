"""Portal fixtures: one user per role with a password (staff and provider users with an
enrolled TOTP secret), a browser-like client on https://testserver (the session cookie
is Secure outside the demo), and helpers that sign in the way a person does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.identity import service as identity_service
from careloop.identity.secrets import totp_code
from careloop.referral import members as referral_members
from tests.factories.identity import give_password, make_user
from tests.factories.referral import make_payer

PASSWORD = "correct horse battery staple"
#: Known TOTP secrets (RFC 4648 base32), one per enrolled user.
SECRETS = {
    "intake": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "manager": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
    "provider": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
}
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_LINK = re.compile(r'<li><a href="#([^"]+)">([^<]*)</a>')
_LABEL = re.compile(r'<label for="([^"]+)">([^<]*)')


@dataclass(frozen=True)
class PortalUser:
    email: str
    actor: Actor
    secret: str | None = None


@dataclass(frozen=True)
class People:
    intake: PortalUser
    manager: PortalUser
    hartford: PortalUser
    albany: PortalUser
    provider: PortalUser
    member: PortalUser


def make_portal_user(
    session: Session,
    clock: FixedClock,
    role: Role,
    *,
    email: str,
    name: str | None = None,
    organization: str | None = None,
    secret: str | None = None,
) -> PortalUser:
    actor, _ = make_user(
        session, clock=clock, role=role, email=email, name=name, organization=organization
    )
    give_password(session, email, PASSWORD)
    if secret:
        identity_service.enrol_totp(session, email, secret=secret, clock=clock)
    return PortalUser(email, actor, secret)


def link_member(session: Session, people: People, case_number: str, clock: FixedClock) -> None:
    """Staff let the member's account (Dorothy's) read one case."""
    referral_members.link_member_account(
        session, people.intake.actor, case_number, people.member.email, clock=clock
    )
    session.flush()


@pytest.fixture
def people(session: Session, clock: FixedClock) -> People:
    make_payer(session, clock=clock)
    intake = make_portal_user(
        session,
        clock,
        Role.intake_agent,
        email="priya@careloop.test",
        name="Priya Shah",
        secret=SECRETS["intake"],
    )
    manager = make_portal_user(
        session,
        clock,
        Role.case_manager,
        email="jane@careloop.test",
        name="Jane Ruiz",
        secret=SECRETS["manager"],
    )
    hartford = make_portal_user(
        session,
        clock,
        Role.referring_clinician,
        email="planner@hartford.test",
        organization="Hartford General",
    )
    albany = make_portal_user(
        session,
        clock,
        Role.referring_clinician,
        email="planner@albany.test",
        organization="Albany Riverside",
    )
    provider = make_portal_user(
        session,
        clock,
        Role.provider_staff,
        email="dispatch@acme.test",
        organization="Acme Home Medical",
        secret=SECRETS["provider"],
    )
    member = make_portal_user(session, clock, Role.member, email="dorothy@example.test")
    session.flush()
    return People(intake, manager, hartford, albany, provider, member)


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    """A client that keeps cookies, on https (Secure cookies), not following redirects."""
    with TestClient(
        app, base_url="https://testserver", raise_server_exceptions=False, follow_redirects=False
    ) as c:
        yield c


def csrf_of(html: str) -> str:
    found = _HIDDEN.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def password_step(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    form = client.get("/signin")
    assert form.status_code == 200
    return client.post(
        "/signin",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text), "next": "/"},
    )


def sign_in(client: TestClient, user: PortalUser, clock: FixedClock) -> None:
    """Password, then (enrolled users) the current TOTP code."""
    response = password_step(client, user.email)
    assert response.status_code == 303, response.text
    if user.secret is None:
        assert response.headers["location"] == "/"
        return
    assert response.headers["location"].startswith("/signin/totp")
    page = client.get("/signin/totp")
    done = client.post(
        "/signin/totp",
        data={"code": totp_code(user.secret, clock.now()), "csrf_token": csrf_of(page.text)},
    )
    assert done.status_code == 303, done.text


def page_csrf(client: TestClient, path: str = "/") -> str:
    """The session's CSRF token, read from a page's sign-out form."""
    response = client.get(path, follow_redirects=True)
    return csrf_of(response.text)


def summary_and_labels(html: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The refusal's summary (field id, the words linking to it) and each field's label."""
    alert = html.split('role="alert"', 1)[1].split("</div>", 1)[0]
    labels = {k: v.strip() for k, v in _LABEL.findall(html)}
    return _LINK.findall(alert), labels


def assert_named_as_labelled(refused: Response) -> None:
    """The summary lists at least one field, each under its label's words."""
    assert refused.status_code == 422, refused.text[:2000]
    summary, labels = summary_and_labels(refused.text)
    assert summary, "the refusal's summary names no field"
    wrong = [(fid, words, labels.get(fid)) for fid, words in summary if labels.get(fid) != words]
    assert not wrong, wrong
