"""Deliver queued outbox messages after their transaction committed.

Each due message is routed (which channel, which address, which language: the
recipient's preference where one is known, else a sensible default) and handed with the
facts its template needs to the sink. It is marked sent in the same transaction, so a
crash between sending and committing re-sends it (the Message-ID lets a mail server or
reader see the duplicate) and none is ever lost. A channel that fails is retried with
growing pauses; only a permanent refusal (an address the server rejects) parks it as
failed, for an operator to see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.db.outbox import OutboxMessage, OutboxStatus
from careloop.db.session import skip_locked
from careloop.identity import service as identity
from careloop.notification import repository, rules
from careloop.notification.channels import PermanentDeliveryError
from careloop.notification.models import NotificationPreference
from careloop.notification.render import in_words
from careloop.notification.sinks import Sink
from careloop.referral.models import Referral

#: Payload fields holding an instant, shown to people in words in the member's zone.
_INSTANTS = ("due_at", "window_start", "window_end", "next_update_by")


def deliver_due(session: Session, sink: Sink, *, clock: Clock, limit: int = 100) -> int:
    """Send up to ``limit`` due messages; returns how many went out."""
    now = clock.now()
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.pending.value, OutboxMessage.next_attempt_at <= now
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    sent = 0
    for message in session.scalars(skip_locked(session, stmt)):
        message.attempts += 1
        try:
            sink.send(_prepared(session, message))
        except PermanentDeliveryError as exc:
            message.last_error = f"{type(exc).__name__}: {exc}"[:500]
            message.next_attempt_at = now + rules.backoff(message.attempts)
            if message.attempts >= rules.MAX_ATTEMPTS:
                message.status = OutboxStatus.failed.value
            continue
        except Exception as exc:  # a channel that is down: keep it, try again later
            message.last_error = type(exc).__name__
            message.next_attempt_at = now + rules.backoff(message.attempts)
            continue
        message.status = OutboxStatus.sent.value
        message.sent_at = now
        message.last_error = None
        sent += 1
    return sent


def set_preference(
    session: Session,
    recipient_key: str,
    *,
    channel: str,
    language: str | None = None,
    address: str | None = None,
    now: datetime,
) -> None:
    """Record how a recipient wants to hear from us (``channel``: email, sms, fax, none)."""
    row = repository.preference(session, recipient_key)
    if row is None:
        row = NotificationPreference(recipient_key=recipient_key)
        session.add(row)
    row.channel, row.language, row.address, row.updated_at = channel, language, address, now


# ---- routing -------------------------------------------------------------------------------


def _prepared(session: Session, message: OutboxMessage) -> dict[str, Any]:
    referral = session.get(Referral, message.referral_id) if message.referral_id else None
    channel, to, language = _route(session, message, referral)
    return {
        "id": message.id,
        "dedupe_key": message.dedupe_key,
        "template": message.template,
        "audience": message.audience,
        "recipient": message.recipient,
        "channel": channel,
        "to": to,
        "language": language,
        "case_number": message.case_number,
        "payload": message.payload,
        "context": _context(message, referral),
        "queued_at": message.created_at.isoformat(),
    }


def _route(
    session: Session, message: OutboxMessage, referral: Referral | None
) -> tuple[str, str | None, str | None]:
    """(channel, address, language). ``file`` is the internal record (staff, providers
    without a gateway); ``none``: the recipient asked for no messages."""
    payload = message.payload or {}
    if message.channel == "email" and payload.get("to"):
        to = str(payload["to"])
        pref = repository.preference(session, f"email:{to.lower()}")
        return "email", to, pref.language if pref else None
    if referral is None:
        return "file", None, None
    if message.audience == "member":
        pref = repository.preference(session, f"member:{referral.duplicate_key}")
        default = ("sms", referral.member_phone)
        return _with_preference(pref, default, referral.member_language, referral)
    if message.audience == "referrer" and referral.referrer_organization_id is not None:
        pref = repository.preference(session, f"org:{referral.referrer_organization_id}")
        default = _referrer_default(session, referral)
        return _with_preference(pref, default, None, referral)
    return "file", None, None


def _with_preference(
    pref: NotificationPreference | None,
    default: tuple[str, str | None],
    language: str | None,
    referral: Referral,
) -> tuple[str, str | None, str | None]:
    if pref is None:
        channel, to = default
    else:
        channel = pref.channel
        to = pref.address or _address_for(channel, referral, default)
        language = pref.language or language
    if channel != "none" and not to:
        return "file", None, language
    return channel, to, language


def _address_for(channel: str, referral: Referral, default: tuple[str, str | None]) -> str | None:
    if channel == default[0]:
        return default[1]
    if channel == "sms":
        return referral.member_phone
    if channel == "fax":
        return referral.ordering_fax
    return None


def _referrer_default(session: Session, referral: Referral) -> tuple[str, str | None]:
    """The referrer who submitted the case through the portal or API, by e-mail; else the
    ordering office's fax."""
    if referral.created_by_user_id is not None:
        creator = identity.staff_contact(session, referral.created_by_user_id)
        if creator is not None and creator.organization_id == referral.referrer_organization_id:
            return "email", creator.email
    return "fax", referral.ordering_fax


def _context(message: OutboxMessage, referral: Referral | None) -> dict[str, Any]:
    """What a template may say: the case number, who to call, times in words in the
    member's zone, and the message's own facts. Never the member's name."""
    payload = dict(message.payload or {})
    zone = (referral.member_time_zone or referral.time_zone) if referral else "UTC"
    context: dict[str, Any] = {
        "case_number": message.case_number,
        "case_manager_name": referral.case_manager_name if referral else None,
        "case_manager_extension": referral.case_manager_extension if referral else None,
        "service_due": in_words(referral.service_due_at, zone) if referral else "",
        "requester_name": None,
        "supervisor_name": None,
        "supervisor_contact": None,
        "reason": None,
        "severity": "",
        "commit_due": None,
        "eta": None,
        "resolution": None,
        **{k: v for k, v in payload.items() if k not in _INSTANTS},
    }
    for key in _INSTANTS:
        context[key] = in_words(payload.get(key), zone)
    context["due"] = context.pop("due_at")
    return context
