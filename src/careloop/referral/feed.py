"""The case events, in the order they were written, for integrations that follow them
(webhooks): read-only, by an id cursor, scoped like every other read of a case."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.referral import repository


class FeedEvent(NamedTuple):
    id: int
    referral_id: int
    case_number: str
    type: str
    at: datetime
    data: dict[str, Any]


def last_event_id(session: Session, *, at_or_before: datetime | None = None) -> int:
    """The newest event's id (of those written at or before ``at_or_before``); 0 if none."""
    return repository.last_event_id(session, at_or_before=at_or_before)


def events_after(
    session: Session,
    actor: Actor,
    *,
    after_id: int,
    up_to_id: int,
    types: Collection[str] | None = None,
    limit: int = 500,
) -> list[FeedEvent]:
    """Up to ``limit`` events with ids in ``(after_id, up_to_id]`` and a type among
    ``types`` (None: any), of the cases ``actor`` may see (the scope of every read of a
    case), oldest first. Internal notes are for the caller's rules to drop
    (``data['internal']``)."""
    rows = repository.events_after(
        session, actor, after_id=after_id, up_to_id=up_to_id, types=types, limit=limit
    )
    return [FeedEvent(*row) for row in rows]
