"""Sign-in rules: how long a portal session lives, who needs a second factor, the
TOTP parameters, and how many failed sign-ins are tolerated. Pure: no database, no HTTP.

Sources: HIPAA 164.312(a)(2)(iii) automatic logoff and NIST SP 800-63B AAL2 (re-
authenticate after 30 minutes idle and 12 hours in all), RELIABILITY.md rows 17-18; the
HIPAA security-rule NPRM asks for MFA for the workforce; RFC 6238 for TOTP; NIST SP
800-63B §5.2.2 (rate-limit failed authentication) and RELIABILITY.md §2 C.26 for the
credential-stuffing limits.
"""

from __future__ import annotations

from collections.abc import Iterable
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
SECOND_FACTOR_ROLES = STAFF_ROLES | {Role.admin, Role.provider_staff}

#: RFC 6238 defaults that authenticator apps expect: 30-second steps, 6 digits.
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
#: Codes of the step before and after are accepted too (clock drift of a phone).
TOTP_DRIFT_STEPS = 1
TOTP_ISSUER = "CareLoop"

#: Recovery codes issued at enrolment, each usable once.
RECOVERY_CODE_COUNT = 10

# Failed sign-ins (credential stuffing and password guessing; RELIABILITY.md §2 C.26).
# Policy: every failed step (an e-mail and password that do not match, a wrong TOTP or
# recovery code) counts against the account, that is the e-mail as typed whether or not
# it is registered, and against the client's address. While an account has 10 failures in
# the last 15 minutes, or an address 20 in the last minute, every sign-in step for it
# answers 429 with Retry-After, a correct password or code too, until enough failures
# have aged out of the window. The answer is the same for a registered e-mail and an
# unknown one, so the limit cannot be used to probe which e-mails exist. Refused attempts
# are not counted (the lock ends when the window passes, however often it is knocked on),
# and a success does not clear the count (knowing the password must not buy fresh guesses
# at the TOTP code). NIST SP 800-63B allows at most 100 consecutive failures per account;
# 10 per 15 minutes is stricter and still lets a person who mistypes try again soon. The
# cost: anyone who knows an e-mail can keep that account locked by failing 10 times every
# 15 minutes; it is never locked for longer, and operators see it in the logs
# (portal.sign_in_throttled). Not counted: a wrong first code while enrolling (the secret
# is on the enrolling person's own screen; there is nothing to guess). The address is the
# client as the ASGI server reports it (uvicorn takes X-Forwarded-For only from its
# forwarded-allow-ips), so behind a proxy that list must name the proxy.
ACCOUNT_FAILURE_LIMIT = 10
ACCOUNT_FAILURE_WINDOW = timedelta(minutes=15)
ADDRESS_FAILURE_LIMIT = 20
ADDRESS_FAILURE_WINDOW = timedelta(minutes=1)
#: Failures older than this count for nothing any more and are deleted.
FAILURE_RETENTION = max(ACCOUNT_FAILURE_WINDOW, ADDRESS_FAILURE_WINDOW)


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


def failure_wait(
    now: datetime, failures: Iterable[datetime], *, limit: int, window: timedelta
) -> timedelta | None:
    """How long until fewer than ``limit`` of ``failures`` lie within ``window`` before
    ``now`` (the sliding window of the failed-sign-in policy above); None when that is
    already so and the attempt may go ahead."""
    recent = sorted((at for at in failures if now - at < window), reverse=True)
    if len(recent) < limit:
        return None
    return recent[limit - 1] + window - now


def totp_step(at: datetime) -> int:
    """The RFC 6238 time step an instant falls in."""
    return int(at.timestamp()) // TOTP_STEP_SECONDS
