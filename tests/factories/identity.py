"""Users and tokens that read like the domain."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.identity import service as identity_service


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
