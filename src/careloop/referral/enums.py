"""Value types of the referral domain, shared by models, schemas and rules."""

from __future__ import annotations

from enum import StrEnum


class ReferralStatus(StrEnum):
    received = "received"
    needs_clarification = "needs_clarification"
    acknowledged = "acknowledged"
    eligibility_verified = "eligibility_verified"
    authorization_pending = "authorization_pending"
    authorized = "authorized"
    denied = "denied"
    offered = "offered"
    accepted = "accepted"
    unplaced = "unplaced"
    scheduled = "scheduled"
    missed = "missed"
    fulfilled = "fulfilled"
    closed = "closed"
    cancelled = "cancelled"


OPEN_STATUSES = frozenset(ReferralStatus) - {ReferralStatus.closed, ReferralStatus.cancelled}


class ReferralAction(StrEnum):
    acknowledge = "acknowledge"
    supply_information = "supply_information"
    verify_eligibility = "verify_eligibility"
    request_authorization = "request_authorization"
    # A reviewer's decision: approved / partially approved, pended (stays), denied.
    record_authorization_decision = "record_authorization_decision"
    appeal = "appeal"
    offer = "offer"
    accept_offer = "accept_offer"
    # An offer declined, expired or withdrawn: the case waits for the next offer.
    offer_lapsed = "offer_lapsed"
    mark_unplaced = "mark_unplaced"
    schedule = "schedule"
    record_delivery = "record_delivery"
    record_missed = "record_missed"
    close = "close"
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
