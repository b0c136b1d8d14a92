"""Errors of the network domain."""

from __future__ import annotations

from careloop.core.errors import ConflictError, NotFoundError


class ProviderNotFoundError(NotFoundError):
    code = "provider_not_found"
    title = "No such provider"


class ProviderExistsError(ConflictError):
    code = "provider_exists"
    title = "A provider with this NPI is already in the network"
