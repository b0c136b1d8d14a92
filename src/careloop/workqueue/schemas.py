"""The work-queue contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from careloop.sla.models import ClockKind, ClockStatus


class AssigneeRead(BaseModel):
    user_id: int
    display_name: str | None
    assigned_at: datetime | None


class WorkItemRead(BaseModel):
    """One open piece of work: what a person must do, by when, and who holds it."""

    item_id: int
    subject: str = Field(description='What the work is about, e.g. "case:12:acknowledge"')
    kind: str = Field(description="e.g. acknowledge, clarify, offer_answer, follow_up")
    team: str
    level: int = Field(description="1 the team, 2 the team's supervisor, 3 operations manager")
    queue: str = Field(description='Where it sits on the ladder: "team", "supervisor"...')
    what: str = Field(description="What to do, in plain words")
    case_number: str | None = Field(description="Null for work that has no case yet")
    due_at: datetime
    overdue: bool
    overdue_by_minutes: int = Field(description="Whole minutes late; 0 while not yet due")
    due_text: str = Field(description='"3 h 10 min late", "due in 45 min"')
    breached_at: datetime | None = Field(description="When it went past due (the worker)")
    open: bool
    assigned_to: AssigneeRead | None = Field(description="Who claimed it; null if nobody")


class QueueCaseRead(BaseModel):
    """One row of the queue: a case (or a piece of work without one), its most urgent
    item first, and its other open items."""

    case_number: str | None
    member_name: str | None
    referral_status: str | None
    urgency: str | None
    payer_code: str | None
    discharge_dependent: bool = Field(description="A hospital discharge waits on this case")
    item: WorkItemRead = Field(description="The most urgent open item")
    more: int = Field(description="How many other open items the case has")
    items: list[WorkItemRead] | None = Field(
        description="Every open item of the case, most urgent first (the API with "
        "`items=true`); null when not asked for"
    )


class WorkQueuePage(BaseModel):
    """A page of the queue: one entry per case, in the chosen order (due: overdue first)."""

    cases: list[QueueCaseRead]
    total: int | None = Field(
        description="Entries with these filters, counted up to `count_cap` (at the cap: that "
        "many or more); null when not counted"
    )
    has_more: bool
    limit: int
    offset: int
    sort: str
    overdue_now: int = Field(description="Open items past due now, all teams")
    team_counts: dict[str, int] = Field(description="Open items per team (zero included)")
    supervisor_count: int = Field(description="Open items at the supervisor's level or above")
    manager_count: int = Field(description="Open items at the operations manager's level")
    count_cap: int = Field(description="Every count stops here: at the cap, that many or more")


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
    work-queue filters). Work without a case drops out when any is set."""

    referral_status: str | None = None
    urgency: str | None = None
    payer_code: str | None = None
