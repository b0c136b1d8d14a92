"""Use cases of identity: add users, issue and check tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import UnauthenticatedError
from careloop.identity import repository
from careloop.identity.errors import OrganizationRequiredError, UserExistsError, UserNotFoundError
from careloop.identity.models import ApiToken, Organization, OrganizationKind, User
from careloop.identity.tokens import hash_token, new_token

# Roles that act for an organisation and whose reads are scoped to it.
ORG_BOUND_ROLES = frozenset({Role.referring_clinician, Role.provider_staff, Role.payer_analyst})

_ORG_KIND_FOR_ROLE = {
    Role.referring_clinician: OrganizationKind.referrer,
    Role.provider_staff: OrganizationKind.provider,
    Role.payer_analyst: OrganizationKind.payer,
}


def ensure_organization(
    session: Session, name: str, kind: OrganizationKind, *, clock: Clock
) -> Organization:
    org = repository.organization_by_name(session, name)
    if org is None:
        org = Organization(name=name, kind=kind, created_at=clock.now())
        session.add(org)
        session.flush()
    return org


def add_user(
    session: Session,
    *,
    email: str,
    role: Role,
    clock: Clock,
    display_name: str | None = None,
    organization: str | None = None,
    phone_extension: str | None = None,
) -> User:
    """Create a user. Referring clinicians, provider staff and payer analysts need an org."""
    email = email.strip().lower()
    if repository.user_by_email(session, email) is not None:
        raise UserExistsError(f"{email} is already registered", field="email")
    org_id: int | None = None
    if organization:
        kind = _ORG_KIND_FOR_ROLE.get(role, OrganizationKind.coordinator)
        org_id = ensure_organization(session, organization, kind, clock=clock).id
    elif role in ORG_BOUND_ROLES:
        raise OrganizationRequiredError(f"role {role} needs --org", field="organization")
    user = User(
        email=email,
        display_name=display_name or email.split("@")[0].replace(".", " ").title(),
        role=role,
        organization_id=org_id,
        phone_extension=phone_extension,
        active=True,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def issue_token(
    session: Session,
    email: str,
    *,
    clock: Clock,
    label: str | None = None,
    valid_for: timedelta | None = None,
) -> str:
    """Issue a bearer token for a user; the token is returned once and stored hashed."""
    user = repository.user_by_email(session, email)
    if user is None:
        raise UserNotFoundError(f"no user {email.strip().lower()}", field="email")
    token = new_token()
    now = clock.now()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=token[:10],
            label=label,
            created_at=now,
            expires_at=now + valid_for if valid_for else None,
        )
    )
    session.flush()
    return token


def authenticate(
    session: Session, token: str, *, now: datetime, ip: str | None, request_id: str | None
) -> Actor:
    """The actor behind a bearer token, or 401 (unknown, revoked, expired, disabled)."""
    row = repository.token_principal(session, hash_token(token), now)
    if row is None:
        raise UnauthenticatedError("the bearer token is not valid")
    user = row[0]
    return Actor(
        user_id=user.id,
        role=user.role,
        organization_id=user.organization_id,
        display_name=user.display_name,
        ip=ip,
        request_id=request_id,
    )


def case_manager_contact(session: Session, user_id: int) -> tuple[str, str | None]:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFoundError("no such user")
    return user.display_name, user.phone_extension


def list_users(session: Session) -> list[User]:
    return repository.list_users(session)
