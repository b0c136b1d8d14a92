"""Errors of the referral domain."""

from __future__ import annotations

from careloop.core.errors import ConflictError, NotFoundError, RuleViolationError


class ReferralNotFoundError(NotFoundError):
    code = "referral_not_found"
    title = "No such referral"


class IdempotencyKeyReusedError(RuleViolationError):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was used with a different request body"


class IdempotencyKeyInFlightError(ConflictError):
    code = "idempotency_key_in_flight"
    title = "A request with this Idempotency-Key is still being processed"
