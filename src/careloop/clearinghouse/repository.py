"""Queries of the exchanged X12 files. Nothing commits here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import Direction, ExchangeStatus


def find(
    session: Session, direction: Direction, partner: str, control_number: str
) -> X12Exchange | None:
    """The file with this partner and interchange control number, if already seen."""
    stmt = select(X12Exchange).where(
        X12Exchange.direction == direction,
        X12Exchange.partner == partner,
        X12Exchange.control_number == control_number,
    )
    return session.scalars(stmt).first()


def request_by_trace(
    session: Session, trace: str, transaction: str, partner: str
) -> X12Exchange | None:
    """The outbound request a payer's answer echoes the trace of, locked: one sent to
    ``partner``, the answer's sender (another payer's answer never touches it)."""
    stmt = (
        select(X12Exchange)
        .where(
            X12Exchange.trace == trace,
            X12Exchange.direction == Direction.outbound,
            X12Exchange.transaction == transaction,
            X12Exchange.partner == partner,
        )
        .with_for_update()
    )
    return session.scalars(stmt).first()


def request_by_id(
    session: Session, exchange_id: int, transaction: str, partner: str
) -> X12Exchange | None:
    """An outbound request by its row (a 278 response refused above 2000E names it by
    the BHT03 it echoes, CareLoop's '278-<row>'), sent to ``partner``, locked."""
    stmt = (
        select(X12Exchange)
        .where(
            X12Exchange.id == exchange_id,
            X12Exchange.direction == Direction.outbound,
            X12Exchange.transaction == transaction,
            X12Exchange.partner == partner,
        )
        .with_for_update()
    )
    return session.scalars(stmt).first()


def pending(session: Session, limit: int = 100) -> list[X12Exchange]:
    """Outbound files stored but not yet handed to the clearinghouse, oldest first."""
    stmt = (
        select(X12Exchange)
        .where(
            X12Exchange.direction == Direction.outbound,
            X12Exchange.status == ExchangeStatus.pending,
        )
        .order_by(X12Exchange.id)
        .limit(limit)
        .with_for_update()
    )
    return list(session.scalars(stmt))


def of_referral(session: Session, referral_id: int) -> list[X12Exchange]:
    stmt = (
        select(X12Exchange).where(X12Exchange.referral_id == referral_id).order_by(X12Exchange.id)
    )
    return list(session.scalars(stmt))
