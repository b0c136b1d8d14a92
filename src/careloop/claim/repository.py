"""Queries of the claim domain (imported from inside it only)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.claim.models import Claim, ClaimLine, Remittance


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


def claim_of_appointment(session: Session, appointment_id: int) -> Claim | None:
    return session.scalars(select(Claim).where(Claim.appointment_id == appointment_id)).first()


def units_billed(session: Session, referral_id: int, authorization_number: str) -> dict[str, int]:
    """Units each code was billed for on the case's claims under this authorisation."""
    rows = session.execute(
        select(ClaimLine.code, func.sum(ClaimLine.units))
        .join(Claim, Claim.id == ClaimLine.claim_id)
        .where(
            Claim.referral_id == referral_id,
            Claim.authorization_number == authorization_number,
        )
        .group_by(ClaimLine.code)
    ).all()
    return {code: int(units or 0) for code, units in rows}


def claims_of_referral(session: Session, referral_id: int) -> list[Claim]:
    return list(
        session.scalars(
            select(Claim).where(Claim.referral_id == referral_id).order_by(Claim.id.desc())
        )
    )
