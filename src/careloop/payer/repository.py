"""Payer queries. No commit here."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.payer.models import Coverage, Payer, Plan


def by_code(session: Session, code: str) -> Payer | None:
    return session.scalars(
        select(Payer).where(func.upper(Payer.code) == code.strip().upper(), Payer.active)
    ).first()


def by_name(session: Session, name: str) -> Payer | None:
    return session.scalars(
        select(Payer).where(func.lower(Payer.name) == name.strip().lower(), Payer.active)
    ).first()


def plan_by_code(session: Session, payer_id: int, code: str) -> Plan | None:
    stmt = select(Plan).where(Plan.payer_id == payer_id, Plan.code == code)
    return session.scalars(stmt).first()


def coverage_of(
    session: Session, payer_id: int, member_id: str, plan_id: int, effective_on: date
) -> Coverage | None:
    stmt = select(Coverage).where(
        Coverage.payer_id == payer_id,
        Coverage.member_id == member_id,
        Coverage.plan_id == plan_id,
        Coverage.effective_on == effective_on,
    )
    return session.scalars(stmt).first()


def coverages_of_member(
    session: Session, payer_id: int, member_id: str
) -> list[tuple[Coverage, Plan]]:
    stmt = (
        select(Coverage, Plan)
        .join(Plan, Plan.id == Coverage.plan_id)
        .where(Coverage.payer_id == payer_id, Coverage.member_id == member_id)
        .order_by(Coverage.effective_on.desc(), Coverage.id)
    )
    return [(c, p) for c, p in session.execute(stmt)]
