"""Password hashing (argon2id), TOTP codes (RFC 6238) and recovery codes.

Passwords are low-entropy, so they get a slow, salted hash; session cookies and recovery
codes carry 80+ random bits, so a fast SHA-256 is the right tool for them (as for
bearer tokens, see tokens.py).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from careloop.identity import rules
from careloop.identity.tokens import hash_token

_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked when the e-mail is unknown, so a wrong e-mail takes as long as a wrong
    password. Made on first use: an argon2 hash costs a third of a second, which every
    command and process start would otherwise pay."""
    return _HASHER.hash("careloop-dummy-password")


def warm_up() -> None:
    """Make the dummy hash now (the app's start-up), so that the first sign-in with an
    unknown e-mail takes no longer than any other."""
    _dummy_hash()


MIN_PASSWORD_LENGTH = 12
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an absent hash still costs one verification."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(
        secret, digits=rules.TOTP_DIGITS, interval=rules.TOTP_STEP_SECONDS
    ).provisioning_uri(name=email, issuer_name=rules.TOTP_ISSUER)


def totp_code(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret, digits=rules.TOTP_DIGITS, interval=rules.TOTP_STEP_SECONDS).at(at)


def matching_totp_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step whose code ``code`` is (within the allowed drift), or None."""
    code = "".join(code.split())
    if not code.isdigit() or len(code) != rules.TOTP_DIGITS:
        return None
    now_step = rules.totp_step(at)
    for step in range(now_step - rules.TOTP_DRIFT_STEPS, now_step + rules.TOTP_DRIFT_STEPS + 1):
        expected = pyotp.TOTP(
            secret, digits=rules.TOTP_DIGITS, interval=rules.TOTP_STEP_SECONDS
        ).generate_otp(step)
        if hmac.compare_digest(expected, code):
            return step
    return None


def new_recovery_codes(count: int = rules.RECOVERY_CODE_COUNT) -> list[str]:
    """Codes like ``7KQ2-M4XD-93PA-LT6W``: 16 base32 characters, 80 random bits."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(_BASE32) for _ in range(16))
        out.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return out


def hash_recovery_code(code: str) -> str:
    return hash_token("".join(code.split()).replace("-", "").upper())


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)
