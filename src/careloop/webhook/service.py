"""Webhook use cases: an organisation's admins register receivers; the worker reads the
case events, queues one message per subscriber, and delivers them signed.

Where the events come from: the webhook domain reads the cases' timelines through the
referral domain's public feed (``referral.feed``), by an id cursor per subscription, and
writes only its own tables. The moves are untouched (they stay the only writers of a
case's status and timeline) and pay nothing for webhooks; every kind of step that is on
the timeline can become an event without a new publisher; and a subscription resumed
after a pause catches up from its cursor. Its own ``webhook_deliveries`` table is the
outbox of this channel: a message is queued in the same transaction that moves the
cursor past its event, and sent after that commits.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import FieldError, NotFoundError, RuleViolationError
from careloop.core.pagination import PageRequest
from careloop.db.session import session_config
from careloop.identity import service as identity
from careloop.identity.models import OrganizationKind
from careloop.identity.permissions import require
from careloop.referral import feed
from careloop.webhook import repository, rules
from careloop.webhook.models import WebhookDelivery, WebhookSubscription
from careloop.webhook.rules import DeliveryStatus, SubscriptionStatus, WebhookEvent
from careloop.webhook.schemas import (
    DeliveryList,
    DeliveryRead,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
)
from careloop.webhook.sender import Attempt, Sender, UrlRefusedError

#: Session configuration key (Settings.database_config): the demo may call receivers on
#: this machine and over plain HTTP.
ALLOW_PRIVATE_KEY = "webhook_allow_private_addresses"


class WebhookNotFoundError(NotFoundError):
    code = "webhook_not_found"
    title = "No such webhook"


def _not_found(subscription_id: int) -> WebhookNotFoundError:
    return WebhookNotFoundError(f"There is no webhook {subscription_id} that you can manage.")


def sender_for(session: Session) -> Sender:
    return Sender(allow_private=bool(session_config(session, ALLOW_PRIVATE_KEY)))


# ---- managing subscriptions ----------------------------------------------------------------


def create_subscription(
    session: Session, actor: Actor, body: WebhookCreate, *, clock: Clock
) -> WebhookCreated:
    """Register a receiver for the caller's organisation. The URL must be https and
    resolve only to public addresses (outside the demo); the secret is answered once.
    Events written from now on are sent, not the past ones."""
    require(actor, "webhook:manage")
    try:
        sender_for(session).vet(body.url)
    except UrlRefusedError as exc:
        raise RuleViolationError(
            f"url: {exc}", errors=[FieldError("url", str(exc))], field="url"
        ) from exc
    now = clock.now()
    row = WebhookSubscription(
        organization_id=actor.organization_id,
        url=body.url,
        events=[e.value for e in dict.fromkeys(body.events)],
        description=body.description,
        secret=rules.SECRET_PREFIX + secrets.token_urlsafe(32),
        status=SubscriptionStatus.active.value,
        consecutive_failures=0,
        last_event_id=feed.last_event_id(session),
        created_at=now,
        created_by_user_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "webhook.create", clock=clock, detail={"webhook_id": row.id})
    return WebhookCreated(**_read(row).model_dump(), secret=row.secret)


def list_subscriptions(session: Session, actor: Actor) -> WebhookList:
    require(actor, "webhook:manage")
    rows = repository.list_visible(session, actor)
    return WebhookList(items=[_read(r) for r in rows], total=len(rows))


def get_subscription(session: Session, actor: Actor, subscription_id: int) -> WebhookRead:
    require(actor, "webhook:manage")
    return _read(_own(session, actor, subscription_id))


def delete_subscription(
    session: Session, actor: Actor, subscription_id: int, *, clock: Clock
) -> None:
    """Stop and forget a receiver, with the messages queued for it."""
    require(actor, "webhook:manage")
    row = _own(session, actor, subscription_id, for_update=True)
    repository.delete_subscription(session, row.id)
    audit.record(session, actor, "webhook.delete", clock=clock, detail={"webhook_id": row.id})


def resume_subscription(
    session: Session, actor: Actor, subscription_id: int, *, clock: Clock
) -> WebhookRead:
    """Start a paused receiver again: the messages that waited are due at once, and
    the events written meanwhile are read from where it stopped."""
    require(actor, "webhook:manage")
    row = _own(session, actor, subscription_id, for_update=True)
    now = clock.now()
    row.status = SubscriptionStatus.active.value
    row.pause_reason, row.paused_at = None, None
    row.consecutive_failures = 0
    repository.retry_pending_now(session, row.id, now)
    session.flush()
    audit.record(session, actor, "webhook.resume", clock=clock, detail={"webhook_id": row.id})
    return _read(row)


def list_deliveries(
    session: Session,
    actor: Actor,
    subscription_id: int,
    page: PageRequest,
    *,
    status: DeliveryStatus | None = None,
    clock: Clock,
) -> DeliveryList:
    """The messages of a receiver, newest first (they name cases: the read is audited)."""
    require(actor, "webhook:manage")
    row = _own(session, actor, subscription_id)
    items, total = repository.deliveries_page(
        session, row.id, page, status.value if status else None
    )
    audit.record(
        session,
        actor,
        "webhook.deliveries",
        clock=clock,
        detail={"webhook_id": row.id, "shown": len(items)},
    )
    return DeliveryList(
        items=[_delivery_read(d) for d in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _own(
    session: Session, actor: Actor, subscription_id: int, *, for_update: bool = False
) -> WebhookSubscription:
    row = repository.get(session, actor, subscription_id, for_update=for_update)
    if row is None:
        raise _not_found(subscription_id)
    return row


def _read(row: WebhookSubscription) -> WebhookRead:
    return WebhookRead(
        id=row.id,
        url=row.url,
        events=[WebhookEvent(e) for e in row.events],
        description=row.description,
        status=SubscriptionStatus(row.status),
        pause_reason=row.pause_reason,
        paused_at=row.paused_at,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at,
        last_success_at=row.last_success_at,
        last_failure_at=row.last_failure_at,
    )


def _delivery_read(row: WebhookDelivery) -> DeliveryRead:
    pending = row.status == DeliveryStatus.pending.value
    return DeliveryRead(
        id=row.id,
        message_id=row.message_id,
        event=WebhookEvent(row.event),
        case_number=row.case_number,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        body=row.body,
    )


# ---- the worker: reading events, queueing and delivering messages ---------------------------

#: Whose eyes a subscription's organisation reads the cases with (referral visibility).
_ROLE_OF_KIND = {
    OrganizationKind.referrer: Role.referring_clinician,
    OrganizationKind.provider: Role.provider_staff,
    OrganizationKind.coordinator: Role.supervisor,
    OrganizationKind.payer: Role.payer_analyst,
}


def audience(session: Session, organization_id: int | None) -> Actor:
    """The organisation as a reader of cases: a referrer sees its own referrals, a
    provider the cases it accepted, the coordination centre every case."""
    role = Role.supervisor
    if organization_id is not None:
        kind = identity.organization_kind(session, organization_id)
        role = _ROLE_OF_KIND.get(kind, Role.member) if kind else Role.member
    return Actor(user_id=None, role=role, organization_id=organization_id, display_name="webhooks")


def fan_out(session: Session, *, clock: Clock, batch: int = 1000) -> int:
    """Read the case events each active subscription has not read yet and queue one
    message per wanted event; returns how many were read into messages. The cursor stays
    ``rules.SETTLE`` behind the newest events (see there); re-reading queues nothing twice."""
    now = clock.now()
    newest = feed.last_event_id(session)
    settled = feed.last_event_id(session, at_or_before=now - rules.SETTLE)
    queued = 0
    for sub in repository.active_for_fan_out(session):
        if sub.last_event_id >= newest:
            continue
        wanted = {WebhookEvent(e) for e in sub.events}
        events = feed.events_after(
            session,
            audience(session, sub.organization_id),
            after_id=sub.last_event_id,
            up_to_id=newest,
            types=None if WebhookEvent.status_changed in wanted else rules.SOURCE_TYPES,
            limit=batch,
        )
        rows = [
            _message(sub, event, kind, data, now)
            for event in events
            for kind, data in rules.webhook_events(_case_event(event))
            if kind in wanted
        ]
        repository.insert_deliveries(session, rows)
        queued += len(rows)
        reached = events[-1].id if len(events) == batch else newest
        sub.last_event_id = max(sub.last_event_id, min(reached, settled))
    session.flush()
    return queued


def _case_event(event: feed.FeedEvent) -> rules.CaseEvent:
    return rules.CaseEvent(
        id=event.id,
        referral_id=event.referral_id,
        case_number=event.case_number,
        type=event.type,
        at_iso=event.at.isoformat(),
        data=event.data,
    )


def _message(
    sub: WebhookSubscription,
    event: feed.FeedEvent,
    kind: WebhookEvent,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    message_id = rules.message_id(event.id, kind)
    return {
        "subscription_id": sub.id,
        "message_id": message_id,
        "event": kind.value,
        "referral_id": event.referral_id,
        "case_number": event.case_number,
        "body": {
            "id": message_id,
            "type": kind.value,
            "created_at": event.at.isoformat(),
            "data": data,
        },
        "status": DeliveryStatus.pending.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed message, ready to POST: its exact bytes, its headers, and the secret
    that signs it when it leaves (:meth:`signed_headers`)."""

    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]
    secret: str = field(repr=False)

    def signed_headers(self, at: datetime) -> dict[str, str]:
        """The headers with the signature of the moment the POST is made: a batch is
        sent one message after another, each may take up to ``rules.TIMEOUT``, so a
        time signed at claiming would reach the batch's last receivers older than
        their replay window (``rules.SIGNATURE_TOLERANCE``) and be refused."""
        signature = rules.signature_header(self.secret, int(at.timestamp()), self.body)
        return {**self.headers, rules.SIGNATURE_HEADER: signature}


def claim_due(session: Session, *, clock: Clock, limit: int = 50) -> list[Outgoing]:
    """Claim up to ``limit`` due messages: each is leased (not due again) for as long as
    the whole batch may take, one timeout after another, so that the POSTs happen outside
    any transaction and another worker does not send them meanwhile. A worker that dies
    mid-batch leaves them due again after the lease: sent twice at worst, with the same
    message id."""
    now = clock.now()
    lease = now + rules.TIMEOUT * (limit + 2)
    out = []
    for delivery, sub in repository.claim_due(session, now, limit):
        body = json.dumps(delivery.body, sort_keys=True, separators=(",", ":")).encode()
        headers = {
            rules.DELIVERY_HEADER: delivery.message_id,
            rules.EVENT_HEADER: delivery.event,
        }
        delivery.next_attempt_at = lease
        out.append(Outgoing(delivery.id, sub.url, body, headers, sub.secret))
    session.flush()
    return out


def record_attempts(
    session: Session, results: list[tuple[Outgoing, Attempt]], *, clock: Clock
) -> int:
    """Write what each attempt gave: delivered; or retried later with backoff, given up
    after ``rules.MAX_ATTEMPTS``; a subscription failing ``rules.PAUSE_AFTER_FAILURES``
    attempts in a row is paused with the reason. Returns how many were delivered."""
    now = clock.now()
    delivered: list[tuple[WebhookDelivery, WebhookSubscription]] = []
    for outgoing, attempt in results:
        found = repository.delivery_with_subscription(session, outgoing.delivery_id)
        if found is None:  # the subscription was deleted meanwhile
            continue
        delivery, sub = found
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = attempt.status_code
        if attempt.ok:
            delivery.status, delivery.delivered_at = DeliveryStatus.delivered.value, now
            delivery.last_error = None
            sub.consecutive_failures, sub.last_success_at = 0, now
            delivered.append((delivery, sub))
            continue
        error = (attempt.error or "The attempt failed.")[:500]
        delivery.last_error = error
        if rules.gives_up(delivery.attempts):
            delivery.status = DeliveryStatus.failed.value
        else:
            delivery.next_attempt_at = now + rules.backoff(delivery.attempts)
        sub.consecutive_failures += 1
        sub.last_failure_at = now
        if sub.status == SubscriptionStatus.active.value and rules.pauses(sub.consecutive_failures):
            sub.status, sub.paused_at = SubscriptionStatus.paused.value, now
            sub.pause_reason = rules.pause_reason(sub.consecutive_failures, error)
    _audit_disclosures(session, delivered, clock=clock)
    session.flush()
    return len(delivered)


def _audit_disclosures(
    session: Session,
    delivered: list[tuple[WebhookDelivery, WebhookSubscription]],
    *,
    clock: Clock,
) -> None:
    """Each message that reached a receiver told an organisation about a case."""
    by_org: dict[int | None, list[tuple[str | None, int | None, dict[str, Any] | None]]] = {}
    for delivery, sub in delivered:
        by_org.setdefault(sub.organization_id, []).append(
            (delivery.case_number, delivery.referral_id, {"webhook_id": sub.id})
        )
    for org, cases in by_org.items():
        actor = Actor(user_id=None, role=Role.service, organization_id=org, display_name="webhooks")
        audit.record_many(session, actor, "webhook.delivered", cases, clock=clock)
