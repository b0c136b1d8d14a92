"""The prior authorisation contract."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from careloop.core.dates import ServiceDate
from careloop.core.text import Block, Line, ShortCode
from careloop.prior_auth.rules import AuthorizationStatus, DenialReason, Outcome, Priority
from careloop.referral.enums import ReferralStatus

_STRICT = ConfigDict(extra="forbid", strict=True)


class ItemUnitsIn(BaseModel):
    model_config = _STRICT
    line: int = Field(ge=1, le=50, description="The item's line on the referral")
    units: int = Field(ge=1, le=10_000)


class AuthorizationRequestIn(BaseModel):
    """Ask for prior authorisation of the items the plan names (all of them by default,
    each for its ordered quantity)."""

    model_config = _STRICT
    priority: Priority | None = Field(
        default=None, description="Default: expedited for urgent or discharge cases"
    )
    items: list[ItemUnitsIn] | None = Field(default=None, max_length=50)
    clinical_notes: Block | None = None


class ItemDecisionIn(BaseModel):
    model_config = _STRICT
    line: int = Field(ge=1, le=50)
    units_approved: int = Field(ge=0, le=10_000)


class DecisionIn(BaseModel):
    """A reviewer's decision. Approved / partially approved: number, validity and units
    (lines not named are approved in full); pended: what is missing; denied: the coded
    reason and the peer-to-peer contact (the appeal deadline is computed)."""

    model_config = _STRICT
    outcome: Outcome
    authorization_number: ShortCode | None = None
    valid_from: ServiceDate | None = None
    valid_to: ServiceDate | None = None
    items: list[ItemDecisionIn] = Field(default_factory=list, max_length=50)
    missing_information: Block | None = None
    denial_reason: DenialReason | None = None
    note: Block | None = None
    peer_to_peer_contact: Line | None = None


class InformationIn(BaseModel):
    model_config = _STRICT
    note: Block = Field(description="What was sent to the reviewer")


class AuthorizationItemRead(BaseModel):
    line: int
    code: str
    units_requested: int
    units_approved: int | None
    units_used: int
    units_left: int | None


class DenialRead(BaseModel):
    reason: DenialReason
    carc: str = Field(description="Claim adjustment reason code of the denial")
    note: str | None
    appeal_due_at: datetime | None
    peer_to_peer_contact: str | None


class AuthorizationRead(BaseModel):
    id: int
    case_number: str
    status: AuthorizationStatus
    priority: Priority
    requested_at: datetime
    requested_by: str
    decision_due_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    authorization_number: str | None
    valid_from: date | None
    valid_to: date | None
    items: list[AuthorizationItemRead]
    missing_information: str | None
    denial: DenialRead | None
    appealed_at: datetime | None
    flags: list[str] = Field(
        description="expiring, expired, units_low, units_exhausted (payer's warning figures)"
    )
    case_status: ReferralStatus
    allowed_actions: list[str]


class AuthorizationList(BaseModel):
    items: list[AuthorizationRead]
