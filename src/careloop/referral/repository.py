"""Referral queries. Every read starts from :func:`visible_to`; nothing commits here."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.pagination import PageRequest
from careloop.db import sequences
from careloop.db.base import table_of
from careloop.identity.models import User
from careloop.network.models import Provider
from careloop.payer.models import Payer
from careloop.referral.enums import OPEN_STATUSES, ReferralStatus
from careloop.referral.models import IdempotencyKey, Referral, ReferralEvent, ReferralItem
from careloop.referral.schemas import ReferralFilter


def visible_to(actor: Actor) -> Select[Referral]:
    """The referrals an actor may see (DESIGN.md §5). Anything else is 'not found'.

    Staff see the coordination caseload; referring clinicians their organisation's
    referrals; other roles none yet (providers gain their offered cases with matching).
    """
    stmt = select(Referral)
    if actor.is_staff or actor.role is Role.service:
        return stmt
    if actor.role is Role.referring_clinician and actor.organization_id is not None:
        return stmt.where(Referral.referrer_organization_id == actor.organization_id)
    if actor.role is Role.provider_staff and actor.organization_id is not None:
        # The whole case only once their organisation has accepted it; before that,
        # provider staff see the offer's minimum (matching/ offers), not the case.
        own = select(Provider.id).where(Provider.organization_id == actor.organization_id)
        return stmt.where(Referral.assigned_provider_id.in_(own))
    if actor.role is Role.member and actor.user_id is not None:
        # A member's account is linked to the member by key (name and birth date, see
        # rules.member_key); an unlinked account (null key) sees nothing.
        key = select(User.member_key).where(User.id == actor.user_id).scalar_subquery()
        return stmt.where(Referral.member_key == key)
    return stmt.where(false())


def get_visible(session: Session, actor: Actor, case_number: str) -> Referral | None:
    return session.scalars(visible_to(actor).where(Referral.case_number == case_number)).first()


def exists(session: Session, case_number: str) -> int | None:
    """The id of a case regardless of visibility (used only to audit denied reads)."""
    return session.scalars(select(Referral.id).where(Referral.case_number == case_number)).first()


def get_for_update(session: Session, actor: Actor, case_number: str) -> Referral | None:
    stmt = visible_to(actor).where(Referral.case_number == case_number).with_for_update()
    return session.scalars(stmt).first()


def lock_by_id(session: Session, referral_id: int) -> Referral | None:
    """The case, locked for the rest of the transaction (no-op lock on SQLite, whose
    writers are serialised)."""
    stmt = select(Referral).where(Referral.id == referral_id).with_for_update()
    return session.scalars(stmt).first()


class DueCase(NamedTuple):
    """What the worker's due-clock handlers read of a case."""

    id: int
    case_number: str
    status: ReferralStatus
    acknowledged_at: datetime | None
    service_due_at: datetime
    referrer_organization_id: int | None


def lock_due_cases(session: Session, referral_ids: Collection[int]) -> dict[int, DueCase]:
    """The cases of a batch of due clocks, locked for the rest of the transaction in id
    order (two workers locking overlapping cases wait, never deadlock); one query."""
    stmt = (
        select(
            Referral.id,
            Referral.case_number,
            Referral.status,
            Referral.acknowledged_at,
            Referral.service_due_at,
            Referral.referrer_organization_id,
        )
        .where(Referral.id.in_(sorted(referral_ids)))
        .order_by(Referral.id)
        .with_for_update()
    )
    return {row.id: DueCase(*row) for row in session.execute(stmt)}


def items_of(session: Session, referral_id: int) -> list[ReferralItem]:
    stmt = select(ReferralItem).where(ReferralItem.referral_id == referral_id)
    return list(session.scalars(stmt.order_by(ReferralItem.line)))


def payer_name(session: Session, payer_id: int | None) -> tuple[str | None, str | None]:
    if payer_id is None:
        return None, None
    row = session.execute(select(Payer.code, Payer.name).where(Payer.id == payer_id)).first()
    return (row[0], row[1]) if row else (None, None)


def timeline(session: Session, referral_id: int) -> list[ReferralEvent]:
    stmt = select(ReferralEvent).where(ReferralEvent.referral_id == referral_id)
    return list(session.scalars(stmt.order_by(ReferralEvent.id)))


def _filtered(actor: Actor, flt: ReferralFilter) -> Select[Referral]:
    stmt = visible_to(actor)
    if flt.status:
        stmt = stmt.where(Referral.status.in_(list(flt.status)))
    if flt.urgency is not None:
        stmt = stmt.where(Referral.urgency == flt.urgency)
    if flt.payer_code:
        stmt = stmt.join(Payer, Payer.id == Referral.payer_id).where(
            func.upper(Payer.code) == flt.payer_code.upper()
        )
    if flt.escalated is not None:
        stmt = stmt.where(Referral.escalated.is_(flt.escalated))
    if flt.external_id:
        stmt = stmt.where(Referral.external_id == flt.external_id)
    if flt.member_birth_date:
        stmt = stmt.where(Referral.member_birth_date == flt.member_birth_date)
    if flt.received_from:
        stmt = stmt.where(Referral.received_at >= flt.received_from)
    if flt.received_to:
        stmt = stmt.where(Referral.received_at < flt.received_to)
    if flt.q:
        term = flt.q.strip()
        like = f"%{term.lower()}%"
        stmt = stmt.where(
            or_(
                Referral.case_number == term.upper(),
                func.lower(Referral.member_last_name).like(like),
                func.lower(Referral.member_first_name).like(like),
                Referral.external_id == term,
            )
        )
    return stmt


def page(
    session: Session, actor: Actor, flt: ReferralFilter, page_request: PageRequest
) -> tuple[list[Referral], int]:
    stmt = _filtered(actor, flt)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Referral.received_at.desc(), Referral.id.desc())
        .limit(page_request.limit)
        .offset(page_request.offset)
    )
    return list(rows), int(total)


def item_codes(session: Session, referral_ids: Sequence[int]) -> dict[int, list[str]]:
    if not referral_ids:
        return {}
    stmt = (
        select(ReferralItem.referral_id, ReferralItem.code)
        .where(ReferralItem.referral_id.in_(list(referral_ids)))
        .order_by(ReferralItem.referral_id, ReferralItem.line)
    )
    out: dict[int, list[str]] = {}
    for referral_id, code in session.execute(stmt):
        out.setdefault(referral_id, []).append(code)
    return out


def payer_names(session: Session, payer_ids: Sequence[int]) -> dict[int, str]:
    if not payer_ids:
        return {}
    stmt = select(Payer.id, Payer.name).where(Payer.id.in_(list(set(payer_ids))))
    return {row[0]: row[1] for row in session.execute(stmt)}


_RECENT_MATCHES = (
    select(Referral.case_number, Referral.received_at)
    .join(ReferralItem, ReferralItem.referral_id == Referral.id)
    .where(
        Referral.member_key == bindparam("member_key"),
        Referral.received_at >= bindparam("since"),
        Referral.ordering_npi == bindparam("npi"),
        Referral.status.in_(list(OPEN_STATUSES)),
        ReferralItem.code.in_(bindparam("codes", expanding=True)),
        Referral.id != bindparam("exclude_id"),
    )
    .distinct()
    .order_by(Referral.received_at.desc())
    .limit(5)
)


def recent_open_matches(
    session: Session,
    *,
    member_key: str,
    ordering_npi: str,
    item_codes: Sequence[str],
    since: datetime,
    exclude_id: int | None = None,
) -> list[tuple[str, datetime]]:
    """Open referrals of the same member, ordering NPI and at least one item code
    received since ``since``: candidates for a possible-duplicate finding. (One
    statement built once: it runs on every submission.)"""
    params = {
        "member_key": member_key,
        "since": since,
        "npi": ordering_npi,
        "codes": list(item_codes),
        "exclude_id": exclude_id if exclude_id is not None else 0,
    }
    return [(row[0], row[1]) for row in session.execute(_RECENT_MATCHES, params)]


# ---- writes (Core inserts on the intake hot path) ------------------------------------------


# Core statements on the tables (not the ORM bulk path): one INSERT per table per case.
_REFERRALS = table_of(Referral)
_ITEMS = table_of(ReferralItem)
_EVENTS = table_of(ReferralEvent)


_RETURNING = (_REFERRALS.c.id, _REFERRALS.c.case_number)
_INSERT_REFERRAL = insert(_REFERRALS).returning(*_RETURNING)
_INSERT_REFERRAL_NUMBERED = (
    insert(_REFERRALS).values(case_number=sequences.POSTGRES_CASE_NUMBER).returning(*_RETURNING)
)


def insert_referral(session: Session, values: dict[str, Any]) -> tuple[int, str]:
    """Insert a case with the parameters of :func:`sequences.case_number_params` among
    its values. Returns its id and case number."""
    stmt = _INSERT_REFERRAL_NUMBERED if "case_number_prefix" in values else _INSERT_REFERRAL
    row = session.connection().execute(stmt, values).one()
    return int(row[0]), str(row[1])


def insert_items(session: Session, rows: list[dict[str, Any]]) -> None:
    session.connection().execute(insert(_ITEMS), rows)


def replace_items(session: Session, referral_id: int, rows: list[dict[str, Any]]) -> None:
    for item in items_of(session, referral_id):
        session.delete(item)
    session.flush()
    insert_items(session, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    session.connection().execute(insert(_EVENTS), rows)


# The version moves on as an ORM change would, so a screen holding the old one conflicts.
_ESCALATE = (
    update(_REFERRALS)
    .where(_REFERRALS.c.id == bindparam("referral_id"))
    .values(
        escalated=True,
        escalation_reason=bindparam("reason"),
        updated_at=bindparam("at", type_=_REFERRALS.c.updated_at.type),
        version=_REFERRALS.c.version + 1,
    )
)


def escalate(session: Session, rows: list[dict[str, Any]]) -> None:
    """Flag cases as escalated, one statement for all; each row names ``referral_id``,
    ``reason`` and ``at``."""
    if rows:
        session.connection().execute(_ESCALATE, rows)


def idempotency_key(session: Session, actor_user_id: int, key: str) -> IdempotencyKey | None:
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.actor_user_id == actor_user_id, IdempotencyKey.key == key
    )
    return session.scalars(stmt).first()
