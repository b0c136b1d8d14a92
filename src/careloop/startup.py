"""What the app, the worker and every command check before they start: a settings
object a use case would trip over later is refused at once. Light on purpose: the
command line imports it without the web framework (careloop.app re-exports it)."""

from __future__ import annotations

import importlib

from careloop.claim.rules import coordinator_identity
from careloop.core.errors import DomainError
from careloop.matching.rules import MatchingWeights
from careloop.settings import Settings


def check_configuration(settings: Settings) -> None:
    """Refuse to start on configuration a use case would trip over later."""
    MatchingWeights.from_config(settings.matching_weights)  # names a bad weight
    try:
        coordinator_identity(settings.coordinator_billing())
    except DomainError as exc:  # names the setting and the rule it breaks
        raise ValueError(exc.detail) from None
    if settings.demo_skip_totp and settings.environment != "demo":
        raise ValueError(
            "CARELOOP_DEMO_SKIP_TOTP is a demo setting (staff sign in without a second "
            f"factor); refused with CARELOOP_ENVIRONMENT={settings.environment}"
        )
    if settings.webhook_allow_private_addresses and settings.environment not in ("demo", "test"):
        raise ValueError(
            "CARELOOP_WEBHOOK_ALLOW_PRIVATE_ADDRESSES is a demo setting (webhooks to this "
            "machine and private networks); refused with "
            f"CARELOOP_ENVIRONMENT={settings.environment}"
        )


#: The modules that subscribe to domain events (``core.events``: a handler registers when
#: its module is imported). The server imports them all through its routers; a command
#: must too, or what it causes goes unheard: ``careloop x12 receive`` recorded a payer's
#: denial without its appeal window and a claim's rejection without its work item.
EVENT_SUBSCRIBERS = (
    "careloop.appeal.service",
    "careloop.claim.delivery",
    "careloop.matching.service",
    "careloop.referral.caseload",
    "careloop.workqueue.service",
)


def load_event_handlers() -> None:
    """Register every domain's event handlers (idempotent)."""
    for name in EVENT_SUBSCRIBERS:
        importlib.import_module(name)
