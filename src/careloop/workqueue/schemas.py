"""The work-queue contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from careloop.sla.models import ClockKind, ClockStatus, Team


class WorkActionRead(BaseModel):
    """The call that resolves the item (or, for a GET, where to look first)."""

    name: str = Field(description="e.g. acknowledge, offer, chase_offer, withdraw_offer")
    method: str
    path: str | None = Field(description="With the ids filled in; null if one is unknown")


class AssigneeRead(BaseModel):
    user_id: int
    display_name: str | None
    assigned_at: datetime | None


class WorkItemRead(BaseModel):
    """One open clock that needs a person, and what they should do about it."""

    clock_id: int
    kind: ClockKind
    team: Team
    case_number: str | None = Field(description="Null for provider credential clocks")
    member_name: str | None
    referral_status: str | None
    urgency: str | None
    discharge_dependent: bool = Field(description="A hospital discharge waits on this item")
    due_at: datetime
    overdue: bool
    overdue_by_minutes: int = Field(description="Whole minutes late; 0 while not yet due")
    due_text: str = Field(description='"3 h 10 min late", "due in 45 min"')
    what: str = Field(description="What is due, in plain words")
    action: WorkActionRead
    provider_id: int | None
    offer_id: int | None
    assigned_to: AssigneeRead | None = Field(description="Who claimed it; null if nobody")


class WorkQueuePage(BaseModel):
    """A page of the queue, most urgent first. No total: counting every open clock of a
    team on each request would cost more than the page; ``has_more`` says whether to ask
    for the next ``offset``."""

    items: list[WorkItemRead]
    has_more: bool
    limit: int
    offset: int


class CaseClockRead(BaseModel):
    """One deadline of a case as the case page shows it."""

    clock_id: int
    kind: ClockKind
    status: ClockStatus
    due_at: datetime
    overdue: bool
    due_text: str
    ended_at: datetime | None = Field(description="When it was met, breached or cancelled")
    rule_source: str = Field(description="The rule and figure the due time comes from")
    assigned_user_id: int | None


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Narrow the queue by what the case is: its status, urgency and payer (the portal's
    work-queue filters). Clocks without a case drop out when any is set."""

    referral_status: str | None = None
    urgency: str | None = None
    payer_code: str | None = None
