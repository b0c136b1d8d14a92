"""Escalation DTOs: what the API accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from careloop.core.dates import ServiceTime
from careloop.core.text import Line, ShortCode, clean_block, clean_line
from careloop.escalation.rules import PartyKind, Promise, Reason, Severity, Source, Status


def _filled(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


#: An e-mail address as typed (its form is checked by the service's rule).
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(clean_line)]
#: What the caller said, or how it was resolved: free text up to 2,000 characters.
Details = Annotated[str, StringConstraints(max_length=2000), AfterValidator(clean_block)]
Resolution = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    AfterValidator(clean_block),
    AfterValidator(_filled),
]


class RequesterIn(BaseModel):
    """Who asked: the caller staff logged, the referrer, the provider's staff member."""

    model_config = ConfigDict(extra="forbid")

    kind: PartyKind = PartyKind.referrer
    name: Line
    email: Email | None = None
    phone: ShortCode | None = None


class EscalationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason
    severity: Severity = Severity.urgent
    details: Details | None = None
    # Staff give the caller; a referrer or provider may leave it out (their account is used).
    requested_by: RequesterIn | None = None
    # Staff may choose the supervisor (by user id); otherwise the rule picks one.
    supervisor_user_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class CommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eta: ServiceTime


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Resolution


class EscalationRead(BaseModel):
    id: int
    case_number: str
    source: Source
    reason: Reason
    reason_label: str
    severity: Severity
    details: str | None
    requested_by: RequesterIn
    opened_at: datetime
    opened_by: str
    supervisor_user_id: int | None
    supervisor_name: str | None
    supervisor_contact: str | None
    level: int
    status: Status
    commit_due_at: datetime
    eta: datetime | None
    committed_at: datetime | None
    commit_missed: bool
    promise: Promise | None
    resolved_at: datetime | None
    resolution: str | None


class EscalationList(BaseModel):
    items: list[EscalationRead]
