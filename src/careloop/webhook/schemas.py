"""Webhook DTOs: what the API accepts and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from careloop.core.text import Line, clean_line
from careloop.webhook.rules import DeliveryStatus, SubscriptionStatus, WebhookEvent

Url = Annotated[str, StringConstraints(min_length=1, max_length=2000), AfterValidator(clean_line)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="Where to POST each event: an https:// URL on the internet")
    events: list[WebhookEvent] = Field(min_length=1, max_length=len(WebhookEvent))
    description: Line | None = None


class WebhookRead(BaseModel):
    id: int
    url: str
    events: list[WebhookEvent]
    description: str | None
    status: SubscriptionStatus
    #: Why it is paused, in words (null while active).
    pause_reason: str | None
    paused_at: datetime | None
    consecutive_failures: int
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None


class WebhookCreated(WebhookRead):
    #: The signing secret: shown once, here; keep it with the receiver.
    secret: str


class WebhookList(BaseModel):
    items: list[WebhookRead]
    total: int


class DeliveryRead(BaseModel):
    id: int
    message_id: str
    event: WebhookEvent
    case_number: str
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    body: dict[str, Any]


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    total: int
    limit: int
    offset: int
