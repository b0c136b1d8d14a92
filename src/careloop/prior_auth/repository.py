"""Prior authorisation queries. Nothing commits here."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.prior_auth.models import AuthorizationItem, AuthorizationRequest
from careloop.prior_auth.rules import AuthorizationStatus


def latest_of_status(
    session: Session, referral_id: int, statuses: Collection[AuthorizationStatus]
) -> AuthorizationRequest | None:
    """The case's most recent request in one of ``statuses``."""
    stmt = (
        select(AuthorizationRequest)
        .where(
            AuthorizationRequest.referral_id == referral_id,
            AuthorizationRequest.status.in_(list(statuses)),
        )
        .order_by(AuthorizationRequest.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def requests_of(session: Session, referral_id: int) -> list[AuthorizationRequest]:
    """The case's requests in the order they were made."""
    stmt = (
        select(AuthorizationRequest)
        .where(AuthorizationRequest.referral_id == referral_id)
        .order_by(AuthorizationRequest.id)
    )
    return list(session.scalars(stmt))


def items_by_request(
    session: Session, request_ids: list[int]
) -> dict[int, list[AuthorizationItem]]:
    """The items of several requests in one query, by request, in line order."""
    if not request_ids:
        return {}
    stmt = (
        select(AuthorizationItem)
        .where(AuthorizationItem.request_id.in_(request_ids))
        .order_by(AuthorizationItem.request_id, AuthorizationItem.line)
    )
    out: dict[int, list[AuthorizationItem]] = {}
    for item in session.scalars(stmt):
        out.setdefault(item.request_id, []).append(item)
    return out
