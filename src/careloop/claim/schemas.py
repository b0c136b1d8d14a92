"""Request and response bodies of the claim routes."""

from __future__ import annotations

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
