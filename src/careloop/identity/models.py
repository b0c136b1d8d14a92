"""Organisations, users, their API tokens, and the portal's sign-in records (browser
sessions, TOTP second factors, recovery codes and failed sign-ins)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from careloop.core.actor import Role
from careloop.db.base import Base
from careloop.db.types import StrEnumType, UTCDateTime


class OrganizationKind(StrEnum):
    coordinator = "coordinator"
    referrer = "referrer"
    provider = "provider"
    payer = "payer"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrganizationKind] = mapped_column(StrEnumType(OrganizationKind))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The phone extension a case manager gives callers (DOMAIN.md §2 step 2).
    phone_extension: Mapped[str | None] = mapped_column(String(20))
    # A direct line (a supervisor's, given to whoever escalates a case: DOMAIN.md §6).
    direct_phone: Mapped[str | None] = mapped_column(String(40))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the assignment of new cases reads (identity.rules, assignment): the team a
    # case manager works in, and whether they take cases now. Their languages, payers
    # and service lines are rows of ``user_skills``.
    team: Mapped[str | None] = mapped_column(String(40))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class SkillKind(StrEnum):
    """What a case manager's skill is about (identity.rules, assignment)."""

    language = "language"  # a primary language subtag beyond English: "es", "pt"
    payer = "payer"  # a payer code; none listed: every payer
    service_line = "service_line"  # codes.ServiceLine; none listed: every line


class UserSkill(Base):
    """One language, payer or service line of a case manager, one row each, so that the
    assignment query tests them with an indexed lookup on both databases."""

    __tablename__ = "user_skills"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[SkillKind] = mapped_column(StrEnumType(SkillKind), primary_key=True)
    value: Mapped[str] = mapped_column(String(60), primary_key=True)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored (the token itself is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the token, so an operator can tell tokens apart in listings.
    prefix: Mapped[str] = mapped_column(String(12))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PortalSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie is stored; deleting the row
    signs the browser out. ``second_factor`` stays null until the TOTP step is done
    (or the role needs none): such a session reaches only the sign-in pages."""

    __tablename__ = "portal_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Per-session CSRF token, sent back in every form (not a secret from the user).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The absolute end (identity.rules.SESSION_ABSOLUTE after sign-in), whatever happens.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How the second step was passed: totp, recovery_code, not_required, demo_skip.
    second_factor: Mapped[str | None] = mapped_column(String(20))


class TotpFactor(Base):
    """A user's TOTP secret (RFC 6238). Pending until a first code confirms it;
    ``last_step`` refuses a code replayed in the same 30-second window."""

    __tablename__ = "totp_factors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_step: Mapped[int | None] = mapped_column(Integer)


class RecoveryCode(Base):
    """A one-time code that stands in for a TOTP code; shown once, stored as SHA-256
    (80 random bits: a fast hash is enough, as for bearer tokens)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignInFailure(Base):
    """One failed sign-in step, counted against the account and against the client's
    address (identity.rules: the failed-sign-in policy). Rows older than the longest
    window count for nothing and are deleted as new failures come in."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_account_hash", "account_hash", "failed_at"),
        Index("ix_sign_in_failures_address", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the e-mail as typed (lower-cased), registered or not: people sometimes
    # type their password into the e-mail field, so the text itself is not kept.
    account_hash: Mapped[str] = mapped_column(String(64))
    # The client's IP address (45 characters hold any IPv6 text form); null when unknown.
    address: Mapped[str | None] = mapped_column(String(45))
    # Which step failed: password or second_factor.
    step: Mapped[str] = mapped_column(String(20))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
