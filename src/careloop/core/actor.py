"""Who is acting: every service call carries an Actor (a user or a service identity)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    intake_agent = "intake_agent"
    case_manager = "case_manager"
    supervisor = "supervisor"
    clinical_reviewer = "clinical_reviewer"
    provider_staff = "provider_staff"
    referring_clinician = "referring_clinician"
    member = "member"
    payer_analyst = "payer_analyst"
    admin = "admin"
    service = "service"


#: Roles that work for the coordination organisation and see its whole caseload.
STAFF_ROLES = frozenset(
    {Role.intake_agent, Role.case_manager, Role.supervisor, Role.clinical_reviewer}
)


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated party behind a request, CLI command or job."""

    user_id: int | None
    role: Role
    organization_id: int | None
    display_name: str
    ip: str | None = None
    request_id: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def label(self) -> str:
        """What the timeline shows as 'who': never PHI, always the acting identity."""
        return self.display_name


SYSTEM_ACTOR = Actor(user_id=None, role=Role.service, organization_id=None, display_name="system")
