from __future__ import annotations

from careloop.core.errors import ConflictError, NotFoundError, RuleViolationError


class UserNotFoundError(NotFoundError):
    code = "user_not_found"
    title = "No such user"


class UserExistsError(ConflictError):
    code = "user_exists"
    title = "A user with this e-mail already exists"


class OrganizationRequiredError(RuleViolationError):
    code = "organization_required"
    title = "This role belongs to an organisation"
