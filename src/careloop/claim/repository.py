"""Queries of the claim domain (imported from inside it only)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.claim.models import Claim, Remittance


def claim_by_number_for_update(session: Session, claim_number: str) -> Claim | None:
    return session.scalars(
        select(Claim).where(Claim.claim_number == claim_number).with_for_update()
    ).first()


def claims_of_case(session: Session, referral_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Claim).where(Claim.referral_id == referral_id)
        )
        or 0
    )


def remittance_posted(session: Session, key: str) -> bool:
    return (
        session.scalars(select(Remittance.id).where(Remittance.interchange_key == key)).first()
        is not None
    )
