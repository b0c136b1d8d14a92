"""Sign-in rules: how long a portal session lives, who needs a second factor, and the
TOTP parameters. Pure: no database, no HTTP.

Sources: HIPAA 164.312(a)(2)(iii) automatic logoff and NIST SP 800-63B AAL2 (re-
authenticate after 30 minutes idle and 12 hours in all), RELIABILITY.md rows 17-18; the
HIPAA security-rule NPRM asks for MFA for the workforce; RFC 6238 for TOTP.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from careloop.core.actor import STAFF_ROLES, Role

#: A session unused this long ends (NIST SP 800-63B AAL2: 30 minutes of inactivity).
SESSION_IDLE = timedelta(minutes=30)
#: A session ends this long after sign-in, however active (NIST SP 800-63B AAL2: 12 h).
SESSION_ABSOLUTE = timedelta(hours=12)
#: How stale ``last_seen_at`` may get before a request writes it again: saves one write
#: per page view while keeping the idle limit exact to within this margin.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
#: A session that passed the password but not the second factor may finish within this.
SECOND_STEP_WINDOW = timedelta(minutes=10)

#: Roles that must give a TOTP code after the password: the coordination workforce,
#: administrators and provider staff (they see PHI of many members).
SECOND_FACTOR_ROLES = STAFF_ROLES | {Role.admin, Role.supervisor, Role.provider_staff}

#: RFC 6238 defaults that authenticator apps expect: 30-second steps, 6 digits.
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
#: Codes of the step before and after are accepted too (clock drift of a phone).
TOTP_DRIFT_STEPS = 1
TOTP_ISSUER = "CareLoop"

#: Recovery codes issued at enrolment, each usable once.
RECOVERY_CODE_COUNT = 10


class SecondFactor(StrEnum):
    """How a session passed the second step."""

    totp = "totp"
    recovery_code = "recovery_code"
    not_required = "not_required"
    # The demo setting CARELOOP_DEMO_SKIP_TOTP: refused outside the demo environment.
    demo_skip = "demo_skip"


class SessionEnd(StrEnum):
    idle = "idle"
    absolute = "absolute"
    second_step = "second_step"


def needs_second_factor(role: Role) -> bool:
    return role in SECOND_FACTOR_ROLES


def session_end(
    *,
    now: datetime,
    created_at: datetime,
    last_seen_at: datetime,
    expires_at: datetime,
    second_factor_done: bool,
) -> SessionEnd | None:
    """Why a session has ended, or None while it is alive."""
    if now >= expires_at:
        return SessionEnd.absolute
    if now - last_seen_at >= SESSION_IDLE:
        return SessionEnd.idle
    if not second_factor_done and now - created_at >= SECOND_STEP_WINDOW:
        return SessionEnd.second_step
    return None


def session_expiry(created_at: datetime) -> datetime:
    return created_at + SESSION_ABSOLUTE


def should_touch(now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= LAST_SEEN_RESOLUTION


def totp_step(at: datetime) -> int:
    """The RFC 6238 time step an instant falls in."""
    return int(at.timestamp()) // TOTP_STEP_SECONDS
