"""Webhooks, as pure rules: which case events a subscriber may ask for and what each
says, how a delivery is signed and verified, how hard it is tried, when a subscription
is paused, and which addresses are never called.

Signing (what a receiver checks): the header ``CareLoop-Signature: t=<unix seconds>,
v1=<hex>`` where ``<hex>`` is HMAC-SHA256, keyed with the subscription's secret (the
``whsec_...`` string shown once at creation, used as UTF-8 bytes), over
``<t>.<raw body bytes>``. A receiver recomputes it over the body exactly as received,
compares in constant time, and refuses a ``t`` more than five minutes from its own clock
(a replayed request). ``CareLoop-Delivery`` is the message's id: the same on every
retry, so a receiver drops what it has already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit


class WebhookEvent(StrEnum):
    """What a subscriber may ask to hear about a case."""

    status_changed = "case.status_changed"
    findings = "case.findings"
    scheduled = "case.scheduled"
    delivered = "case.delivered"


EVENT_LABELS = {
    WebhookEvent.status_changed: "the case's status changes",
    WebhookEvent.findings: "the checks find something to fix",
    WebhookEvent.scheduled: "a delivery or first visit is scheduled",
    WebhookEvent.delivered: "the equipment is delivered or the first visit made",
}


class SubscriptionStatus(StrEnum):
    active = "active"
    paused = "paused"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    # Tried MAX_ATTEMPTS times without success: kept for the subscriber to see.
    failed = "failed"


#: A delivery is tried at most this many times (then kept as failed).
MAX_ATTEMPTS = 8
#: The pause after the first failed attempt; each further one doubles it.
FIRST_BACKOFF = timedelta(seconds=30)
#: The longest pause between two attempts of one delivery.
MAX_BACKOFF = timedelta(hours=2)
#: A subscription whose receiver fails this many attempts in a row is paused, with the
#: reason, until an admin resumes it (Stripe and GitHub do the same, over days).
PAUSE_AFTER_FAILURES = 10
#: How long a receiver has to answer one delivery.
TIMEOUT = timedelta(seconds=10)
#: A signature older or newer than this is refused by a receiver (replay).
SIGNATURE_TOLERANCE = timedelta(minutes=5)
#: A case event is read again for this long after it was written: a transaction that
#: wrote an earlier id may commit after a later one (PostgreSQL sequences), so the
#: reading position stays this far behind the newest events; a second reading of an
#: event queues nothing twice (one delivery per subscription, event and kind).
SETTLE = timedelta(minutes=2)
#: The secret's prefix says what the string is when it turns up in a config file.
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SIGNATURE_HEADER = "CareLoop-Signature"
DELIVERY_HEADER = "CareLoop-Delivery"
EVENT_HEADER = "CareLoop-Event"


def backoff(attempts: int) -> timedelta:
    """The pause before the next attempt after ``attempts`` failed ones: 30 s, 1 min,
    2 min, ... doubling, at most ``MAX_BACKOFF``."""
    factor: int = 2 ** min(max(attempts - 1, 0), 16)
    return min(FIRST_BACKOFF * factor, MAX_BACKOFF)


def gives_up(attempts: int, max_attempts: int = MAX_ATTEMPTS) -> bool:
    return attempts >= max_attempts


def pauses(consecutive_failures: int, threshold: int = PAUSE_AFTER_FAILURES) -> bool:
    return consecutive_failures >= threshold


def pause_reason(consecutive_failures: int, last_error: str) -> str:
    """Why a subscription stopped, in words its admins read."""
    return (
        f"Paused after {consecutive_failures} failed attempts in a row. "
        f"The last one: {last_error} Fix the receiver, then resume the webhook; "
        "the messages that waited are sent then."
    )


# ---- which case events become which webhook events ---------------------------------------

_DELIVERED = frozenset({"service.started_on_time", "service.started_late"})
_SCHEDULED = frozenset({"appointment.scheduled", "appointment.rescheduled"})
_FINDINGS = frozenset({"referral.clarification_requested", "eligibility.verified"})

#: The timeline event types that may give a webhook event (read no others).
SOURCE_TYPES = frozenset({"referral.received", *_DELIVERED, *_SCHEDULED, *_FINDINGS})


@dataclass(frozen=True, slots=True)
class CaseEvent:
    """One step on a case's timeline, as the webhook domain reads it."""

    id: int
    referral_id: int
    case_number: str
    type: str
    at_iso: str
    data: Mapping[str, Any]


def webhook_events(event: CaseEvent) -> list[tuple[WebhookEvent, dict[str, Any]]]:
    """The webhook events one timeline step gives, each with its ``data``: the case
    number and the facts of the step, never the member's name, birth date or address
    (minimum necessary, HIPAA 164.502(b)). Internal notes give none."""
    data = event.data
    if data.get("internal"):
        return []
    out: list[tuple[WebhookEvent, dict[str, Any]]] = []
    base = {"case_number": event.case_number, "at": event.at_iso}
    if event.type == "referral.received":
        out.append((WebhookEvent.status_changed, {**base, "from": None, "to": data.get("status")}))
    elif "from" in data and "to" in data and data["from"] != data["to"]:
        out.append((WebhookEvent.status_changed, {**base, "from": data["from"], "to": data["to"]}))
    if event.type == "referral.clarification_requested":
        missing = [
            {"code": m.get("code"), "field": m.get("field")} for m in data.get("missing", [])
        ]
        out.append((WebhookEvent.findings, {**base, "findings": missing}))
    elif event.type == "eligibility.verified" and data.get("findings"):
        codes = [{"code": str(c), "field": None} for c in data["findings"]]
        out.append((WebhookEvent.findings, {**base, "findings": codes}))
    if event.type in _SCHEDULED:
        window = {"start": data.get("window_start"), "end": data.get("window_end")}
        rescheduled = bool(data.get("rescheduled"))
        out.append((WebhookEvent.scheduled, {**base, "window": window, "rescheduled": rescheduled}))
    if event.type in _DELIVERED:
        out.append(
            (
                WebhookEvent.delivered,
                {
                    **base,
                    "delivered_at": data.get("at"),
                    "on_time": event.type == "service.started_on_time",
                },
            )
        )
    return out


def message_id(event_id: int, kind: WebhookEvent) -> str:
    """The id of one message: the same on every retry (receivers deduplicate by it)."""
    return f"evt_{event_id}_{kind.value.removeprefix('case.')}"


# ---- signing --------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>`` with the subscription's secret, as hex."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    header: str,
    body: bytes,
    secret: str,
    *,
    now: int,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver does: the header's ``v1`` matches the body and secret, and its
    ``t`` is within ``tolerance`` of the receiver's clock (``now``, unix seconds)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance.total_seconds():
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))


# ---- where a delivery may go ----------------------------------------------------------------


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with a receiver's URL, in words, or None. HTTPS only (the demo,
    which may call a receiver on this machine, also allows plain HTTP); no user name or
    password in it (they would be logged and shown); a host name or address."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    schemes = {"https", "http"} if allow_private else {"https"}
    checks = (
        (parts.scheme not in schemes, "must start with https://"),
        (not parts.hostname, "has no host name"),
        (
            parts.username is not None or parts.password is not None,
            "must not carry a user name or password; the signature proves who sends",
        ),
        (port == 0, "has an invalid port"),
        (bool(parts.fragment), "must not have a #fragment"),
    )
    return next((problem for failed, problem in checks if failed), None)


def address_problem(address: str) -> str | None:
    """Why CareLoop refuses to call ``address`` (an IP address), or None when it is a
    public one. Private networks, loopback, link-local (cloud metadata at
    169.254.169.254), multicast and every other non-public range are refused: a
    subscriber must not make the server reach into its own network (SSRF)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one is judged by it: IPv4-mapped
        # (::ffff:10.0.0.1), and 6to4 (2002:7f00:1::, 2002:c0a8:101::), which a host with
        # a 6to4 route sends to the IPv4 address it embeds, loopback or private ones too.
        ip = ip.ipv4_mapped or ip.sixtofour or ip
    checks = (
        (ip.is_loopback, "is a loopback address (this machine)"),
        (ip.is_link_local, "is a link-local address"),
        (ip.is_multicast, "is a multicast address"),
        (ip.is_unspecified, "is an unspecified address"),
        (ip.is_private, "is a private network address"),
        (ip.is_reserved or not ip.is_global, "is not a public internet address"),
    )
    return next((problem for failed, problem in checks if failed), None)
