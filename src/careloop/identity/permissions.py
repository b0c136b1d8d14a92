"""Which role may do what, as data: the coarse permission a route declares.

Row visibility (which referrals a role sees) lives with each domain's repository; this
table says only whether a role may attempt an action at all. A role missing from an
entry is refused (deny by default).
"""

from __future__ import annotations

from careloop.core.actor import STAFF_ROLES, Actor, Role
from careloop.core.errors import ForbiddenError

_INTAKE = frozenset({Role.intake_agent, Role.case_manager, Role.supervisor})

PERMISSIONS: dict[str, frozenset[Role]] = {
    # Referring clinicians create and read their own organisation's referrals.
    "referral:create": _INTAKE | {Role.referring_clinician, Role.service},
    "referral:validate": _INTAKE | {Role.referring_clinician, Role.service},
    # Provider staff and members hold the permission but see only their own cases
    # (accepted ones; linked ones): foreign cases answer 404.
    "referral:read": STAFF_ROLES
    | {Role.referring_clinician, Role.provider_staff, Role.member, Role.service},
    "referral:acknowledge": _INTAKE,
    # The referrer sends what was missing; staff record it when it arrives by phone or fax.
    "referral:clarify": _INTAKE | {Role.referring_clinician},
    "referral:cancel": _INTAKE | {Role.referring_clinician},
    # Giving a case to a named case manager (overriding the assignment rules).
    "referral:assign": _INTAKE,
    # Linking a member's account to a case: coordination staff, who know the member.
    "referral:link_member": STAFF_ROLES,
    "user:manage": frozenset({Role.admin}),
    # Onboarding providers is network management, not PHI: supervisors and admins.
    "provider:manage": frozenset({Role.supervisor, Role.admin}),
    "provider:read": STAFF_ROLES | {Role.admin, Role.provider_staff},
    # Matching and offering are the case manager's work; providers answer their offers.
    "offer:manage": _INTAKE,
    "offer:read": STAFF_ROLES | {Role.provider_staff},
    "offer:answer": frozenset({Role.provider_staff}),
    # Eligibility and prior authorisation: coordination staff; the decision is recorded
    # by a clinical reviewer (or supervisor, or the payer's analyst).
    "eligibility:verify": STAFF_ROLES,
    "coverage:import": frozenset({Role.supervisor, Role.admin, Role.payer_analyst, Role.service}),
    # The clearinghouse (a service identity) sends 278 requests on the case manager's
    # behalf, as staff would by hand.
    "authorization:request": STAFF_ROLES | {Role.service},
    "authorization:decide": frozenset(
        {Role.clinical_reviewer, Role.supervisor, Role.payer_analyst}
    ),
    "authorization:appeal": STAFF_ROLES,
    # X12 with payers: staff or the clearinghouse service send a case's 270 / 278; the
    # payer's 271 and 278 answers are recorded by the clearinghouse service (or staff
    # who key in a payer's answer).
    "x12:exchange": STAFF_ROLES | {Role.service},
    "eligibility:payer_answer": STAFF_ROLES | {Role.service},
    "authorization:payer_answer": frozenset(
        {Role.clinical_reviewer, Role.supervisor, Role.payer_analyst, Role.service}
    ),
    # Scheduling and the outcome: the accepting provider, or staff on its behalf.
    "appointment:manage": STAFF_ROLES | {Role.provider_staff},
    "referral:close": STAFF_ROLES,
    # Claims and remittance (DOMAIN.md §7).
    "claim:prepare": STAFF_ROLES | {Role.service},
    # A case's claims and what the payer said of them (277); the clearinghouse service
    # records the payer's claim status and asks for it (276).
    "claim:read": STAFF_ROLES | {Role.service},
    "claim:payer_status": STAFF_ROLES | {Role.service},
    # Sending a prepared claim's 837P through the clearinghouse, and its 999.
    "claim:send": STAFF_ROLES | {Role.service},
    "remittance:import": STAFF_ROLES | {Role.service},
    "confirmation:read": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    # Contacts and notes (DOMAIN.md §9): staff log every contact; a referrer or provider
    # may log one (a portal message, say) and read them, only on cases they see, without
    # the internal fields. Notes: referrers read and write shared ones only.
    "contact:log": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    "contact:read": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    "contact:link": STAFF_ROLES,
    "note:write": STAFF_ROLES | {Role.referring_clinician},
    "note:read": STAFF_ROLES | {Role.referring_clinician},
    # Escalations: anyone working the case may raise one (a referrer from the portal, a
    # provider on a case it can see); the supervisor promises a time; staff close it.
    "escalation:create": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    "escalation:read": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    "escalation:commit": frozenset({Role.supervisor}),
    "escalation:resolve": frozenset({Role.supervisor, Role.case_manager}),
    # Webhooks: an organisation's admins manage its own; supervisors those of the
    # coordination centre (which hear of every case).
    "webhook:manage": frozenset({Role.admin, Role.supervisor}),
    # Anyone on a case may complain; staff acknowledge, resolve and go to the regulator.
    "grievance:open": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff, Role.member},
    "grievance:manage": STAFF_ROLES,
    "regulatory:file": STAFF_ROLES,
    # Documents follow the case: whoever works it attaches (staff, the referrer, the
    # accepted provider); whoever may read the case reads them (members their own).
    "document:upload": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff},
    "document:read": STAFF_ROLES | {Role.referring_clinician, Role.provider_staff, Role.member},
    # Faxed orders read into drafts: intake's work, like any order that comes in.
    "fax:manage": _INTAKE | {Role.service},
    "workqueue:read": STAFF_ROLES,
    # Bulk files of referrals: intake's work (and the operator's command line).
    "import:create": _INTAKE | {Role.service},
    "import:read": _INTAKE | {Role.service},
    # The KPI pack and the reconciliation reports: figures and case numbers, no member data.
    "report:read": STAFF_ROLES,
    "workqueue:claim": STAFF_ROLES,
}


def may(actor: Actor, permission: str) -> bool:
    """True when the actor's role holds the permission; unknown permissions are refused."""
    return actor.role in PERMISSIONS.get(permission, frozenset())


def require(actor: Actor, permission: str) -> None:
    """Refuse (403) an actor whose role does not hold the permission."""
    if not may(actor, permission):
        role = actor.role.value.replace("_", " ")
        raise ForbiddenError(f"Your role ({role}) may not do this.")
