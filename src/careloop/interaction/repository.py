"""Queries of contacts and notes (no commit). Reads by referrers and providers are
scoped by the ids of the cases they may see (the referral domain's ``visible_ids``)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from careloop.interaction.models import CaseNote, Contact
from careloop.interaction.rules import ContactOutcome, ContactReason, Direction, NoteVisibility


def add(session: Session, row: Contact | CaseNote) -> None:
    session.add(row)
    session.flush()


def get_contact(
    session: Session,
    contact_id: int,
    *,
    visible_ids: Select[tuple[int]] | None,
    for_update: bool = False,
) -> Contact | None:
    """The contact by id. ``visible_ids`` None: coordination staff, who see every contact,
    linked or not; otherwise only contacts on those cases."""
    stmt = select(Contact).where(Contact.id == contact_id)
    if visible_ids is not None:
        stmt = stmt.where(Contact.referral_id.in_(visible_ids.scalar_subquery()))
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def contacts_of(session: Session, referral_id: int) -> list[Contact]:
    stmt = (
        select(Contact)
        .where(Contact.referral_id == referral_id)
        .order_by(Contact.started_at, Contact.id)
    )
    return list(session.scalars(stmt))


def notes_of(session: Session, referral_id: int, *, shared_only: bool) -> list[CaseNote]:
    stmt = select(CaseNote).where(CaseNote.referral_id == referral_id)
    if shared_only:
        stmt = stmt.where(CaseNote.visibility == NoteVisibility.shared)
    return list(session.scalars(stmt.order_by(CaseNote.id)))


class ContactRow(NamedTuple):
    id: int
    referral_id: int | None
    direction: Direction
    reason: ContactReason
    outcome: ContactOutcome
    team: str
    started_at: datetime
    ended_at: datetime


def contact_rows(session: Session, since: datetime, until: datetime) -> list[ContactRow]:
    """The figures of every contact that started in [since, until): no PHI."""
    stmt = (
        select(
            Contact.id,
            Contact.referral_id,
            Contact.direction,
            Contact.reason,
            Contact.outcome,
            Contact.team,
            Contact.started_at,
            Contact.ended_at,
        )
        .where(Contact.started_at >= since, Contact.started_at < until)
        .order_by(Contact.started_at, Contact.id)
    )
    return [ContactRow(*row) for row in session.execute(stmt)]
