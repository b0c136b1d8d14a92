"""The grievance and regulatory-escalation contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from careloop.core.text import Block, Line, Name, ShortCode
from careloop.grievance.rules import (
    LineOfBusiness,
    Party,
    Regulator,
    Resolution,
    Status,
    Subject,
)

_STRICT = ConfigDict(extra="forbid", strict=True)


class GrievanceCreate(BaseModel):
    """A quality complaint. Staff say who raised it (``raised_by``, ``raised_by_name``);
    a referrer, provider or member raises it for themselves."""

    model_config = _STRICT
    subject: Subject
    details: Block = Field(description="What happened, in the complainant's words")
    provider_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Default: the case's provider"
    )
    expedited: bool = Field(default=False, description="The member's health is at risk")
    raised_by: Party | None = Field(default=None, description="Staff only: who complained")
    raised_by_name: Name | None = None


class AcknowledgeIn(BaseModel):
    model_config = _STRICT
    note: Block | None = None


class ResolveGrievanceIn(BaseModel):
    model_config = _STRICT
    resolution: Resolution
    note: Block = Field(description="What was found and done, as told to the complainant")


class GrievanceRead(BaseModel):
    id: int
    case_number: str
    provider_id: int | None
    subject: Subject
    subject_label: str
    raised_by: Party
    raised_by_label: str
    raised_by_name: str
    details: str
    expedited: bool
    line_of_business: LineOfBusiness
    status: Status
    status_label: str
    opened_at: datetime
    acknowledge_due_at: datetime
    acknowledged_at: datetime | None
    resolve_due_at: datetime
    resolved_at: datetime | None
    resolution: Resolution | None
    resolution_label: str | None
    resolution_note: str | None
    acknowledge_rule: str
    resolve_rule: str
    allowed_actions: list[str]


class GrievanceList(BaseModel):
    items: list[GrievanceRead]


class RegulatoryEscalationCreate(BaseModel):
    model_config = _STRICT
    regulator: Regulator
    summary: Block = Field(description="What is complained of and what was tried")
    state: ShortCode | None = Field(
        default=None, description="Two-letter state; default: the member's address"
    )
    reference: Line | None = Field(default=None, description="The regulator's complaint number")


class AttemptRead(BaseModel):
    at: datetime
    kind: str
    what: str


class RegulatoryEscalationRead(BaseModel):
    id: int
    case_number: str
    regulator: Regulator
    regulator_label: str
    state: str
    agency_name: str
    agency_phone: str
    agency_web: str
    agency_verified: bool
    summary: str
    reference: str | None
    filed_at: datetime
    filed_by: str
    attempts: list[AttemptRead]


class RegulatoryEscalationList(BaseModel):
    items: list[RegulatoryEscalationRead]


class ScorecardRead(BaseModel):
    provider_id: int
    opened: int
    substantiated: int
    open_now: int
