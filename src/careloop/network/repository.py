"""Network queries. Every read of providers starts from :func:`visible_to`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, false, func, insert, or_, select
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.db.base import table_of
from careloop.identity.models import User
from careloop.network.models import (
    Credential,
    FeeScheduleEntry,
    Provider,
    ProviderNetwork,
    ProviderServiceArea,
    ProviderServiceLine,
)
from careloop.payer.models import Payer


def visible_to(actor: Actor) -> Select[Provider]:
    """Coordination staff and administrators see the network; provider staff their own."""
    stmt = select(Provider)
    if actor.is_staff or actor.role in (Role.admin, Role.service):
        return stmt
    if actor.role is Role.provider_staff and actor.organization_id is not None:
        return stmt.where(Provider.organization_id == actor.organization_id)
    return stmt.where(false())


def get_visible(session: Session, actor: Actor, provider_id: int) -> Provider | None:
    return session.scalars(visible_to(actor).where(Provider.id == provider_id)).first()


def by_npi(session: Session, npi: str) -> Provider | None:
    return session.scalars(select(Provider).where(Provider.npi == npi)).first()


def by_organization(session: Session, organization_id: int) -> Provider | None:
    stmt = select(Provider).where(Provider.organization_id == organization_id)
    return session.scalars(stmt).first()


def page(
    session: Session,
    actor: Actor,
    *,
    limit: int,
    offset: int,
    offerable_only: bool,
    today: date,
) -> tuple[list[Provider], int]:
    stmt = visible_to(actor)
    if offerable_only:
        stmt = stmt.where(
            Provider.checklist_complete.is_(True),
            or_(Provider.offerable_until.is_(None), Provider.offerable_until > today),
        )
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Provider.legal_name, Provider.id).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def service_lines(
    session: Session, provider_ids: Sequence[int]
) -> dict[int, list[ProviderServiceLine]]:
    out: dict[int, list[ProviderServiceLine]] = {}
    stmt = select(ProviderServiceLine).where(
        ProviderServiceLine.provider_id.in_(list(provider_ids))
    )
    for row in session.scalars(stmt.order_by(ProviderServiceLine.service_line)):
        out.setdefault(row.provider_id, []).append(row)
    return out


def areas(session: Session, provider_id: int) -> list[ProviderServiceArea]:
    stmt = select(ProviderServiceArea).where(ProviderServiceArea.provider_id == provider_id)
    return list(session.scalars(stmt.order_by(ProviderServiceArea.id)))


def networks(session: Session, provider_id: int) -> list[tuple[ProviderNetwork, str, str, int]]:
    """Each payer network with the payer's code and name and the size of its fee schedule."""
    fees = (
        select(func.count())
        .where(FeeScheduleEntry.provider_network_id == ProviderNetwork.id)
        .scalar_subquery()
    )
    stmt = (
        select(ProviderNetwork, Payer.code, Payer.name, fees)
        .join(Payer, Payer.id == ProviderNetwork.payer_id)
        .where(ProviderNetwork.provider_id == provider_id)
        .order_by(Payer.name)
    )
    return [(row[0], row[1], row[2], int(row[3])) for row in session.execute(stmt)]


def credentials(session: Session, provider_id: int) -> list[Credential]:
    stmt = select(Credential).where(Credential.provider_id == provider_id)
    return list(session.scalars(stmt.order_by(Credential.kind, Credential.id)))


def portal_users(session: Session, organization_id: int) -> int:
    stmt = (
        select(func.count())
        .select_from(User)
        .where(
            User.organization_id == organization_id, User.role == Role.provider_staff, User.active
        )
    )
    return int(session.scalar(stmt) or 0)


def insert_rows(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table_of(model)), rows)
