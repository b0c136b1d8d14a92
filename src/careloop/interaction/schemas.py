"""The contacts and notes contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from careloop.core.text import Block, Line, Name
from careloop.interaction.rules import (
    ContactKind,
    ContactOutcome,
    ContactReason,
    Direction,
    NoteVisibility,
    PartyKind,
)
from careloop.sla.models import Team

_STRICT = ConfigDict(extra="forbid", strict=True)


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


CaseNumberIn = Annotated[
    str, StringConstraints(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
]


class PartyIn(BaseModel):
    """Who the contact was with: the call script's "name and organisation", and how to
    reach them again."""

    model_config = _STRICT
    kind: PartyKind
    name: Name
    organization: Line | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Call-back number (US)"
    )
    email: Annotated[str, StringConstraints(max_length=320)] | None = None


class ContactCreate(BaseModel):
    """One call, e-mail, fax, portal message or text. ``ended_at`` defaults to now (the
    portal's panel sends the time it was opened as ``started_at``). A follow-up needs a
    due time in the future; it becomes a work item for ``team`` (default by reason)."""

    model_config = _STRICT
    case_number: CaseNumberIn | None = Field(
        default=None, description="The case, when known; link it later otherwise"
    )
    kind: ContactKind
    direction: Direction
    party: PartyIn
    reason: ContactReason
    summary: Block = ""
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    case_number_given: bool = Field(default=False, description="The call script's case number")
    agent_name_given: bool = Field(default=False, description="The agent gave their name")
    outcome: ContactOutcome
    follow_up_due_at: AwareDatetime | None = None
    team: Team | None = None
    answers_contact_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The contact whose follow-up this answers"
    )


class ContactLink(BaseModel):
    model_config = _STRICT
    case_number: CaseNumberIn


class PartyRead(BaseModel):
    kind: PartyKind
    name: str
    organization: str | None
    phone: str | None = Field(description="Null for referrers and providers")
    email: str | None = Field(description="Null for referrers and providers")


class ContactRead(BaseModel):
    """A contact. Fields for coordination staff only (the summary, the call-back
    details, the follow-up and the call-script checks) are null for referrers and
    providers."""

    id: int
    case_number: str | None
    kind: ContactKind
    direction: Direction
    party: PartyRead
    reason: ContactReason
    summary: str | None
    started_at: datetime
    ended_at: datetime
    handling_seconds: int
    case_number_given: bool | None
    agent_name_given: bool | None
    outcome: ContactOutcome
    team: str | None
    follow_up_due_at: datetime | None
    follow_up_done_at: datetime | None
    answers_contact_id: int | None
    logged_by: str
    logged_at: datetime
    text: str = Field(description="The contact in plain words, as the timeline says it")


class ContactList(BaseModel):
    items: list[ContactRead]


class NoteCreate(BaseModel):
    """A note on the case. Referrers' notes are always shared."""

    model_config = _STRICT
    text: Annotated[Block, AfterValidator(_not_blank)]
    visibility: NoteVisibility = NoteVisibility.internal


class NoteRead(BaseModel):
    id: int | None = Field(description="Null for the note typed on the intake form")
    visibility: NoteVisibility
    text: str
    author: str
    written_at: datetime
    from_intake: bool


class NoteList(BaseModel):
    items: list[NoteRead]
