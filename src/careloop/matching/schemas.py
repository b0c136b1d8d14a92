"""The matching and offer contract."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from careloop.core.text import Reason, ShortNote
from careloop.matching.models import DeclineReason, OfferStatus

_STRICT = ConfigDict(extra="forbid", strict=True)


class RankedCandidateRead(BaseModel):
    provider_id: int
    name: str
    score: float
    reasons: list[str]


class ExcludedCandidateRead(BaseModel):
    provider_id: int
    name: str
    rule: str
    reason: str


class CandidatesRead(BaseModel):
    case_number: str
    service_line: str
    categories: list[str]
    zip_code: str
    service_date: date
    ranked: list[RankedCandidateRead]
    excluded: list[ExcludedCandidateRead] = Field(
        description="Providers of the member's area left out (the first 20 by id), each with "
        "the first rule that excluded it"
    )


class UnplacedRead(BaseModel):
    """No provider could be offered the case: it is now unplaced and escalated."""

    case_number: str
    status: str = "unplaced"
    escalated: bool = True
    reason: str
    excluded: list[ExcludedCandidateRead]


class OfferCreate(BaseModel):
    """Offer to the best candidate, or to the provider named."""

    model_config = _STRICT
    provider_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class DeclineIn(BaseModel):
    model_config = _STRICT
    reason: DeclineReason
    note: ShortNote | None = Field(default=None, description="Required when the reason is 'other'")


class WithdrawIn(BaseModel):
    model_config = _STRICT
    reason: Reason


class OfferedCaseRead(BaseModel):
    """What a provider needs to decide, and nothing more (minimum necessary, 45 CFR
    164.502(b)): no member name, birth date, phone, street address or history."""

    case_number: str
    service_class: str
    service_line: str
    items: list[dict[str, Any]]
    city: str | None
    state: str
    zip_code: str
    payer_name: str | None
    requested_start: date | None
    discharge_at: datetime | None
    urgency: str
    member_language: str | None


class OfferRead(BaseModel):
    id: int
    status: OfferStatus
    provider_id: int
    provider_name: str
    offered_at: datetime
    respond_by: datetime
    responded_at: datetime | None
    decline_reason: str | None
    decline_note: str | None
    rank: int | None
    score: float | None
    reasons: list[str]
    case: OfferedCaseRead
    links: dict[str, str]


class OfferPage(BaseModel):
    items: list[OfferRead]
    total: int
    limit: int
    offset: int
