"""Users and tokens that read like the domain."""

from __future__ import annotations

from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.identity import service as identity_service
from careloop.identity.models import User
from careloop.identity.secrets import hash_password


def make_user(
    session: Session,
    *,
    clock: Clock,
    role: Role,
    email: str | None = None,
    organization: str | None = None,
    name: str | None = None,
    extension: str | None = None,
) -> tuple[Actor, str]:
    """A user of ``role`` and a bearer token for them."""
    email = email or f"{role.value}.{organization or 'hub'}@example.test".replace(" ", "-").lower()
    user = identity_service.add_user(
        session,
        email=email,
        role=role,
        organization=organization,
        display_name=name,
        phone_extension=extension,
        clock=clock,
    )
    token = identity_service.issue_token(session, email, clock=clock)
    actor = Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        display_name=user.display_name,
    )
    return actor, token


@cache
def _password_hash(password: str) -> str:
    return hash_password(password)


def give_password(session: Session, email: str, password: str) -> None:
    """A portal password, hashed once per test run (argon2 is slow on purpose; the
    service's own path, identity_service.set_password, is tested on its own)."""
    user = session.scalars(select(User).where(User.email == email.lower())).one()
    user.password_hash = _password_hash(password)
    session.flush()
