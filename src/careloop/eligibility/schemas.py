"""What the eligibility API answers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from careloop.eligibility.rules import EligibilityStatus
from careloop.referral.enums import ReferralStatus
from careloop.referral.schemas import FindingRead


class ItemAuthorizationRead(BaseModel):
    line: int
    code: str
    authorization_required: bool
    basis: str | None = Field(description="Why the plan wants prior authorisation for it")


class PlanRead(BaseModel):
    code: str
    name: str
    effective_on: date
    terminates_on: date | None


class EligibilityRead(BaseModel):
    case_number: str
    status: EligibilityStatus = Field(description="active, inactive or not_found")
    service_date: date = Field(description="The date checked: the requested start, else today")
    plan: PlanRead | None
    authorization_required: bool | None = Field(
        description="True when an item needs prior authorisation before the case is offered"
    )
    items: list[ItemAuthorizationRead]
    findings: list[FindingRead]
    case_status: ReferralStatus
    checked_at: datetime
    checked_by: str
