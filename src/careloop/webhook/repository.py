"""Webhook queries (no commit). Every read of a subscription starts from
:func:`visible_to`: an organisation's own, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.pagination import PageRequest
from careloop.db.base import table_of
from careloop.db.session import skip_locked
from careloop.webhook.models import WebhookDelivery, WebhookSubscription
from careloop.webhook.rules import DeliveryStatus, SubscriptionStatus


def visible_to(actor: Actor) -> Select[WebhookSubscription]:
    """The subscriptions of the actor's organisation (no organisation: the coordination
    centre's own). Another organisation's answers 'not found'."""
    stmt = select(WebhookSubscription)
    if actor.organization_id is None:
        return stmt.where(WebhookSubscription.organization_id.is_(None))
    return stmt.where(WebhookSubscription.organization_id == actor.organization_id)


def get(
    session: Session, actor: Actor, subscription_id: int, *, for_update: bool = False
) -> WebhookSubscription | None:
    stmt = visible_to(actor).where(WebhookSubscription.id == subscription_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def list_visible(session: Session, actor: Actor) -> list[WebhookSubscription]:
    return list(session.scalars(visible_to(actor).order_by(WebhookSubscription.id)))


def delete_subscription(session: Session, subscription_id: int) -> None:
    session.execute(
        delete(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    )
    session.execute(delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id))


def retry_pending_now(session: Session, subscription_id: int, now: datetime) -> None:
    """The messages that waited while a subscription was paused are due at once."""
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.status == DeliveryStatus.pending.value,
        )
        .values(next_attempt_at=now)
    )


def deliveries_page(
    session: Session, subscription_id: int, page: PageRequest, status: str | None
) -> tuple[list[WebhookDelivery], int]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(WebhookDelivery.id.desc()).limit(page.limit).offset(page.offset)
    )
    return list(rows), int(total)


# ---- the worker ---------------------------------------------------------------------------


def active_for_fan_out(session: Session) -> list[WebhookSubscription]:
    """Active subscriptions, locked (another worker skips them meanwhile)."""
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.status == SubscriptionStatus.active.value)
        .order_by(WebhookSubscription.id)
    )
    return list(session.scalars(skip_locked(session, stmt)))


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Queue messages; one already queued (same subscription and message id) stays."""
    if not rows:
        return
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table_of(WebhookDelivery)).on_conflict_do_nothing(
        index_elements=["subscription_id", "message_id"]
    )
    connection.execute(stmt, list(rows))


def claim_due(
    session: Session, now: datetime, limit: int
) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
    """Due messages of active subscriptions, oldest first, locked for this transaction."""
    stmt = (
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.pending.value,
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.status == SubscriptionStatus.active.value,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=WebhookDelivery, skip_locked=True)
    return [(d, s) for d, s in session.execute(stmt)]


def delivery_with_subscription(
    session: Session, delivery_id: int
) -> tuple[WebhookDelivery, WebhookSubscription] | None:
    stmt = (
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update()
    )
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None
