from __future__ import annotations

from careloop.core.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RuleViolationError,
    TooManyRequestsError,
    UnauthenticatedError,
)


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    title = "No such user"


class UserExistsError(ConflictError):
    code = "user_exists"
    title = "A user with this e-mail already exists"


class OrganizationRequiredError(RuleViolationError):
    code = "organization_required"
    title = "This role belongs to an organisation"


class SignInFailedError(UnauthenticatedError):
    """Wrong e-mail or password: one message for both, so e-mails cannot be probed."""

    code = "sign_in_failed"
    title = "E-mail or password not recognised"


class SignInThrottledError(TooManyRequestsError):
    """Too many failed sign-ins for the account or from the address (identity.rules:
    the failed-sign-in policy); the same answer whether the e-mail is registered or not."""

    code = "sign_in_throttled"
    title = "Too many failed sign-in attempts"


class SecondFactorFailedError(UnauthenticatedError):
    code = "second_factor_failed"
    title = "That code is not valid (or was already used)"


class SessionEndedError(UnauthenticatedError):
    code = "session_ended"
    title = "Your session has ended; please sign in again"


class SecondFactorRequiredError(ForbiddenError):
    """RELIABILITY.md row 18: PHI pages answer mfa_required until the second step."""

    code = "mfa_required"
    title = "Give your authenticator code first"


class WeakPasswordError(RuleViolationError):
    code = "weak_password"
    title = "The password is too short"


class NotACaseManagerError(RuleViolationError):
    """A case can be given only to an active case manager."""

    code = "not_a_case_manager"
    title = "Not an active case manager"
