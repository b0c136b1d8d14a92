"""Request and response bodies of the claim routes."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from careloop.core.dates import ServiceDate
from careloop.core.text import Code, ShortCode

_STRICT = ConfigDict(extra="forbid")


class LineIn(BaseModel):
    model_config = _STRICT
    code: Code
    modifiers: list[ShortCode] = Field(default_factory=list, max_length=4)
    units: int = Field(ge=1, le=99_999)
    service_date: ServiceDate
    pointers: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=4)


class ClaimCreate(BaseModel):
    model_config = _STRICT
    lines: list[LineIn] = Field(min_length=1, max_length=50)


class ClaimRead(BaseModel):
    claim_number: str
    charge: Decimal
    status: str


class RemittanceRead(BaseModel):
    claims_posted: int
    denials: int
    unmatched: list[str]
    variance: Decimal


class ClaimSummary(BaseModel):
    """A claim of the case with what the payer last said of it, in plain words."""

    claim_number: str
    status: str
    status_words: str
    charge: Decimal
    paid: Decimal
    first_service_on: date
    filing_closes_at: datetime
    created_at: datetime
    payer_status: str | None = Field(
        None, description="STC01-1 claim status category of the payer's last 277 (e.g. A2, F1)"
    )
    payer_status_code: str | None = None
    payer_status_words: str | None = Field(None, description="The payer's status in words")
    payer_status_at: datetime | None = None
    status_asked_at: datetime | None = Field(None, description="When the payer was last asked")
    sent_at: datetime | None = Field(None, description="When the 837P went to the payer")


class ClaimList(BaseModel):
    items: list[ClaimSummary]
