"""Grievance queries. Nothing commits here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from careloop.grievance.models import Grievance, RegulatoryEscalation
from careloop.grievance.rules import Resolution, ScorecardCounts, Status, Subject


def of_case(session: Session, referral_id: int) -> list[Grievance]:
    stmt = select(Grievance).where(Grievance.referral_id == referral_id).order_by(Grievance.id)
    return list(session.scalars(stmt))


def filings_of(session: Session, referral_id: int) -> list[RegulatoryEscalation]:
    stmt = (
        select(RegulatoryEscalation)
        .where(RegulatoryEscalation.referral_id == referral_id)
        .order_by(RegulatoryEscalation.id)
    )
    return list(session.scalars(stmt))


def provider_counts(
    session: Session, provider_id: int, since: datetime, until: datetime
) -> ScorecardCounts:
    """Grievances about the provider's care opened in [since, until), in one query."""
    stmt = select(
        func.count(),
        func.coalesce(
            func.sum(case((Grievance.resolution == Resolution.substantiated, 1), else_=0)), 0
        ),
        func.coalesce(func.sum(case((Grievance.status != Status.resolved, 1), else_=0)), 0),
    ).where(
        Grievance.provider_id == provider_id,
        Grievance.subject == Subject.provider_quality,
        Grievance.opened_at >= since,
        Grievance.opened_at < until,
    )
    opened, substantiated, open_now = session.execute(stmt).one()
    return ScorecardCounts(int(opened), int(substantiated), int(open_now))
