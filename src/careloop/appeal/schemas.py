"""The appeal contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from careloop.appeal.rules import AppealStatus, LevelKind, LevelStatus, Outcome
from careloop.core.dates import ServiceDate
from careloop.core.text import Block, Line, ShortCode
from careloop.prior_auth.rules import DenialReason
from careloop.prior_auth.schemas import ItemDecisionIn

_STRICT = ConfigDict(extra="forbid", strict=True)


class AppealCreate(BaseModel):
    """Appeal the case's denial at the first level the payer offers."""

    model_config = _STRICT
    authorization_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The denied request (default: the latest)"
    )
    rationale: Block = Field(description="The clinical rationale for the service")
    objective_measures: Block | None = Field(
        default=None,
        description="Oxygen saturation logs, wound measurements, mobility scores",
    )


class LevelFileIn(BaseModel):
    """File the appeal's next level (or send the information a paused level waits on)."""

    model_config = _STRICT
    level: LevelKind | None = Field(
        default=None, description="The level being filed; must be the one now open"
    )
    rationale: Block | None = None


class AppealOutcomeIn(BaseModel):
    """The payer's decision on the level filed. Overturned: the authorisation number,
    validity and units, as for an approval; upheld: the note with the reason."""

    model_config = _STRICT
    outcome: Outcome
    note: Block | None = None
    authorization_number: ShortCode | None = None
    valid_from: ServiceDate | None = None
    valid_to: ServiceDate | None = None
    items: list[ItemDecisionIn] = Field(default_factory=list, max_length=50)
    reviewer: Line | None = Field(default=None, description="Who decided for the payer")


class LevelRead(BaseModel):
    position: int
    kind: LevelKind
    label: str
    status: LevelStatus
    status_label: str
    filing_due_at: datetime | None
    filed_at: datetime | None
    filed_by: str | None
    decision_due_at: datetime | None
    decided_at: datetime | None
    note: str | None
    filing_rule: str
    decision_rule: str


class AppealRead(BaseModel):
    id: int
    case_number: str
    authorization_id: int
    denial_reason: DenialReason
    denial_label: str
    preventing_check: str | None = Field(
        description="The intake check that would have caught this denial at the source"
    )
    status: AppealStatus
    status_label: str
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    close_reason: str | None
    current_level: int | None
    levels: list[LevelRead]
    allowed_actions: list[str]


class AppealList(BaseModel):
    items: list[AppealRead]
