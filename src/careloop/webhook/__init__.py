"""Webhooks: an organisation's receivers hear of its cases' steps, signed, retried with
backoff, paused after repeated failures (DESIGN.md §4)."""

from careloop.webhook.rules import (
    EVENT_LABELS,
    DeliveryStatus,
    SubscriptionStatus,
    WebhookEvent,
    signature_header,
    verify,
)
from careloop.webhook.schemas import (
    DeliveryList,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
)
from careloop.webhook.sender import Sender

__all__ = [
    "EVENT_LABELS",
    "DeliveryList",
    "DeliveryRead",
    "DeliveryStatus",
    "Sender",
    "SubscriptionStatus",
    "WebhookCreate",
    "WebhookCreated",
    "WebhookEvent",
    "WebhookList",
    "WebhookRead",
    "signature_header",
    "verify",
]
