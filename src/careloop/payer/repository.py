"""Payer queries. No commit here."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.payer.models import Payer


def by_code(session: Session, code: str) -> Payer | None:
    return session.scalars(
        select(Payer).where(func.upper(Payer.code) == code.strip().upper(), Payer.active)
    ).first()


def by_name(session: Session, name: str) -> Payer | None:
    return session.scalars(
        select(Payer).where(func.lower(Payer.name) == name.strip().lower(), Payer.active)
    ).first()
