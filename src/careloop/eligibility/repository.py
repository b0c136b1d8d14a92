"""Eligibility queries. Nothing commits here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.eligibility.models import EligibilityCheck


def latest_check(session: Session, referral_id: int) -> EligibilityCheck | None:
    """The case's most recent verification, if any."""
    stmt = (
        select(EligibilityCheck)
        .where(EligibilityCheck.referral_id == referral_id)
        .order_by(EligibilityCheck.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()
