"""Errors of matching and offers."""

from __future__ import annotations

from careloop.core.errors import ConflictError, NotFoundError, RuleViolationError


class OfferNotFoundError(NotFoundError):
    code = "offer_not_found"
    title = "No such offer"


class OfferClosedError(ConflictError):
    code = "offer_closed"
    title = "This offer is no longer open"


class ProviderNotEligibleError(ConflictError):
    code = "provider_not_eligible"
    title = "That provider cannot be offered this referral"


class NoteRequiredError(RuleViolationError):
    code = "decline_note_required"
    title = "Say why when the reason is 'other'"
