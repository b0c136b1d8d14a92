"""Queries of the identity domain. No commit here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.identity.models import (
    ApiToken,
    Organization,
    PortalSession,
    RecoveryCode,
    SignInFailure,
    TotpFactor,
    User,
    UserSkill,
)


def token_principal(session: Session, token_hash: str, now: datetime) -> Row[User] | None:
    stmt = (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == token_hash,
            ApiToken.revoked_at.is_(None),
            (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now),
            User.active.is_(True),
        )
    )
    return session.execute(stmt).first()


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.lower())).first()


def organization_by_name(session: Session, name: str) -> Organization | None:
    return session.scalars(select(Organization).where(Organization.name == name)).first()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def case_managers(session: Session, team: str) -> list[tuple[User, UserSkill | None]]:
    """The active case managers of a team, each with their skills (one row per skill,
    or one row with None), in one statement: the case page lists them."""
    stmt = (
        select(User, UserSkill)
        .outerjoin(UserSkill, UserSkill.user_id == User.id)
        .where(User.role == Role.case_manager, User.active.is_(True), User.team == team)
        .order_by(User.display_name, User.id, UserSkill.kind, UserSkill.value)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def active_users_with_role(session: Session, role: Role) -> list[User]:
    stmt = select(User).where(User.role == role, User.active.is_(True)).order_by(User.id)
    return list(session.scalars(stmt))


# ---- portal sign-in ------------------------------------------------------------------------


def session_with_user(session: Session, token_hash: str) -> tuple[PortalSession, User] | None:
    stmt = (
        select(PortalSession, User)
        .join(User, User.id == PortalSession.user_id)
        .where(PortalSession.token_hash == token_hash)
    )
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row is not None else None


def delete_session(session: Session, session_id: int) -> None:
    session.execute(delete(PortalSession).where(PortalSession.id == session_id))


def delete_sessions_of_user(session: Session, user_id: int) -> None:
    session.execute(delete(PortalSession).where(PortalSession.user_id == user_id))


def touch_session(session: Session, session_id: int, at: datetime) -> None:
    session.execute(
        update(PortalSession).where(PortalSession.id == session_id).values(last_seen_at=at)
    )


def totp_factor(session: Session, user_id: int) -> TotpFactor | None:
    return session.scalars(select(TotpFactor).where(TotpFactor.user_id == user_id)).first()


def mark_totp_step(session: Session, factor_id: int, step: int) -> bool:
    """Record the step of an accepted code; False when this or a later step was already
    used (a replayed code), decided by one conditional UPDATE."""
    result = session.connection().execute(
        update(TotpFactor)
        .where(
            TotpFactor.id == factor_id,
            (TotpFactor.last_step.is_(None)) | (TotpFactor.last_step < step),
        )
        .values(last_step=step)
    )
    return result.rowcount == 1


def use_recovery_code(session: Session, user_id: int, code_hash: str, at: datetime) -> bool:
    """Spend an unused recovery code of the user; False when there is none to spend."""
    result = session.connection().execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=at)
    )
    return result.rowcount == 1


def replace_recovery_codes(
    session: Session, user_id: int, code_hashes: list[str], at: datetime
) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    session.add_all(RecoveryCode(user_id=user_id, code_hash=h, created_at=at) for h in code_hashes)


def unused_recovery_codes(session: Session, user_id: int) -> int:
    stmt = select(func.count(RecoveryCode.id)).where(
        RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
    )
    return int(session.scalar(stmt) or 0)


# ---- failed sign-ins -----------------------------------------------------------------------


def account_failures(
    session: Session, account_hash: str, /, *, since: datetime, limit: int
) -> list[datetime]:
    """When the account's most recent failures (at most ``limit``, newest first) after
    ``since`` happened."""
    stmt = (
        select(SignInFailure.failed_at)
        .where(SignInFailure.account_hash == account_hash, SignInFailure.failed_at > since)
        .order_by(SignInFailure.failed_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def address_failures(
    session: Session, address: str, /, *, since: datetime, limit: int
) -> list[datetime]:
    """When the address's most recent failures (at most ``limit``, newest first) after
    ``since`` happened."""
    stmt = (
        select(SignInFailure.failed_at)
        .where(SignInFailure.address == address, SignInFailure.failed_at > since)
        .order_by(SignInFailure.failed_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def add_sign_in_failure(
    session: Session, *, account_hash: str, address: str | None, step: str, at: datetime
) -> None:
    session.add(SignInFailure(account_hash=account_hash, address=address, step=step, failed_at=at))
    session.flush()


def delete_sign_in_failures(session: Session, *, before: datetime) -> None:
    session.execute(delete(SignInFailure).where(SignInFailure.failed_at < before))
