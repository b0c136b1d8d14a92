"""Appeal queries. Nothing commits here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.appeal.models import Appeal, AppealLevel
from careloop.appeal.rules import AppealStatus


def open_appeal_of(session: Session, authorization_id: int) -> Appeal | None:
    stmt = select(Appeal).where(
        Appeal.authorization_id == authorization_id, Appeal.status == AppealStatus.open
    )
    return session.scalars(stmt.limit(1)).first()


def appeals_of(session: Session, referral_id: int) -> list[Appeal]:
    stmt = select(Appeal).where(Appeal.referral_id == referral_id).order_by(Appeal.id)
    return list(session.scalars(stmt))


def appeal_of_case(
    session: Session, referral_id: int, appeal_id: int, *, lock: bool = False
) -> Appeal | None:
    stmt = select(Appeal).where(Appeal.id == appeal_id, Appeal.referral_id == referral_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def levels_by_appeal(session: Session, appeal_ids: list[int]) -> dict[int, list[AppealLevel]]:
    """The levels of several appeals in one query, by appeal, in ladder order."""
    if not appeal_ids:
        return {}
    stmt = (
        select(AppealLevel)
        .where(AppealLevel.appeal_id.in_(appeal_ids))
        .order_by(AppealLevel.appeal_id, AppealLevel.position)
    )
    out: dict[int, list[AppealLevel]] = {}
    for level in session.scalars(stmt):
        out.setdefault(level.appeal_id, []).append(level)
    return out
