"""Value types of the referral domain, shared by models, schemas and rules."""

from __future__ import annotations

from enum import StrEnum


class ReferralStatus(StrEnum):
    received = "received"
    needs_clarification = "needs_clarification"
    acknowledged = "acknowledged"
    offered = "offered"
    accepted = "accepted"
    unplaced = "unplaced"
    cancelled = "cancelled"


OPEN_STATUSES = frozenset(
    {
        ReferralStatus.received,
        ReferralStatus.needs_clarification,
        ReferralStatus.acknowledged,
        ReferralStatus.offered,
        ReferralStatus.accepted,
        ReferralStatus.unplaced,
    }
)


class ReferralAction(StrEnum):
    acknowledge = "acknowledge"
    supply_information = "supply_information"
    offer = "offer"
    accept_offer = "accept_offer"
    # An offer declined, expired or withdrawn: the case waits for the next offer.
    offer_lapsed = "offer_lapsed"
    mark_unplaced = "mark_unplaced"
    cancel = "cancel"


class Channel(StrEnum):
    portal = "portal"
    phone = "phone"
    fax = "fax"
    email = "email"
    fhir = "fhir"
    batch = "batch"


class Urgency(StrEnum):
    routine = "routine"
    urgent = "urgent"
    discharge = "discharge"


class Severity(StrEnum):
    error = "error"
    warning = "warning"


class CodeSystem(StrEnum):
    HCPCS = "HCPCS"
    CPT = "CPT"
