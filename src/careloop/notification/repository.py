"""Notification queries (no commit)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.notification.models import NotificationPreference


def preferences(session: Session, keys: Sequence[str]) -> dict[str, NotificationPreference]:
    if not keys:
        return {}
    stmt = select(NotificationPreference).where(NotificationPreference.recipient_key.in_(keys))
    return {p.recipient_key: p for p in session.scalars(stmt)}


def preference(session: Session, key: str) -> NotificationPreference | None:
    return preferences(session, [key]).get(key)
