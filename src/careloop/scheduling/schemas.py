"""The scheduling and fulfilment contract."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from careloop.core.dates import ServiceTime
from careloop.core.text import Block, Line, ShortCode
from careloop.referral.enums import ReferralStatus
from careloop.scheduling.rules import AppointmentKind, AppointmentStatus, MissedReason, Outcome

_STRICT = ConfigDict(extra="forbid", strict=True)


class ScheduleIn(BaseModel):
    """Book (or move) the delivery or visit. A window ending after the service deadline
    needs ``late_reason``, and escalates the case."""

    model_config = _STRICT
    window_start: ServiceTime = Field(description="With its UTC offset")
    window_end: ServiceTime
    late_reason: Block | None = None
    appointment_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The due resupply to book, if several"
    )


class UnitsIn(BaseModel):
    model_config = _STRICT
    line: int = Field(ge=1, le=50)
    units: int = Field(ge=0, le=10_000)


class OutcomeIn(BaseModel):
    """Delivered (time, received by, serial numbers for equipment), visit done (time), or
    missed (coded reason), which re-opens scheduling."""

    model_config = _STRICT
    outcome: Outcome
    at: ServiceTime | None = None
    received_by: Line | None = None
    serial_numbers: list[ShortCode] = Field(default_factory=list, max_length=50)
    reason: MissedReason | None = None
    note: Block | None = None
    units: list[UnitsIn] | None = Field(
        default=None, max_length=50, description="Units per line; default: the ordered quantity"
    )


class AppointmentRead(BaseModel):
    id: int
    case_number: str
    sequence: int
    kind: AppointmentKind
    status: AppointmentStatus
    provider_id: int | None
    provider_name: str | None
    due_on: date | None
    window_start: datetime | None
    window_end: datetime | None
    late_reason: str | None
    outcome_at: datetime | None
    received_by: str | None
    serial_numbers: list[str]
    missed_reason: MissedReason | None
    note: str | None
    on_time: bool | None
    case_status: ReferralStatus
    links: dict[str, str]


class AppointmentList(BaseModel):
    items: list[AppointmentRead]


class VisitRead(BaseModel):
    """What a member is told of the start of their care: who is coming, when, and the
    provider's phone; nothing internal."""

    kind: AppointmentKind
    status: AppointmentStatus
    window_start: datetime | None
    window_end: datetime | None
    provider_name: str | None
    provider_phone: str | None
