"""Queries of the feed's message log (imported only from inside the adt domain)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.adt.models import AdtMessage


def find(session: Session, sender: str, control_id: str) -> AdtMessage | None:
    stmt = select(AdtMessage).where(
        AdtMessage.sender == sender, AdtMessage.control_id == control_id
    )
    return session.scalars(stmt).first()


def add(session: Session, values: dict[str, Any]) -> AdtMessage:
    row = AdtMessage(**values)
    session.add(row)
    session.flush()
    return row
