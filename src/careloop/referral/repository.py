"""Referral queries. Every read starts from :func:`visible_to`; nothing commits here."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Insert,
    Select,
    String,
    and_,
    any_,
    bindparam,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.pagination import PageRequest
from careloop.db import copy, raw, sequences
from careloop.db.base import table_of
from careloop.db.types import UTCDateTime
from careloop.network.models import Provider
from careloop.payer.models import Payer
from careloop.referral import names
from careloop.referral.enums import OPEN_STATUSES, ReferralStatus, Urgency
from careloop.referral.models import (
    DuplicateKeyLock,
    IdempotencyKey,
    MemberLink,
    Referral,
    ReferralEvent,
    ReferralItem,
)
from careloop.referral.schemas import ReferralFilter

#: What separates the words of a name typed in a search: spaces and commas.
_NAME_SEPARATORS = re.compile(r"[\s,]+")

#: ``status IN (...)`` of the open statuses written into the statement: an IN of a bound
#: list is expanded at every execution, and its statement cannot be prepared.
IS_OPEN = Referral.__table__.c.status.in_(
    [literal_column(f"'{status.value}'") for status in sorted(OPEN_STATUSES)]
)


def sees_every_case(actor: Actor) -> bool:
    """Whether the actor may read every case (staff and service identities): only they
    are told which other case a possible duplicate is."""
    return actor.is_staff or actor.role is Role.service


def visible_to(actor: Actor) -> Select[Referral]:
    """The referrals an actor may see (DESIGN.md §5). Anything else is 'not found'.

    Staff see the coordination caseload; referring clinicians their organisation's
    referrals; provider staff the cases their organisation accepted; members the cases
    their account is linked to (:class:`MemberLink`, made by staff); other roles none.
    """
    stmt = select(Referral)
    if sees_every_case(actor):
        return stmt
    if actor.role is Role.referring_clinician and actor.organization_id is not None:
        return stmt.where(Referral.referrer_organization_id == actor.organization_id)
    if actor.role is Role.provider_staff and actor.organization_id is not None:
        # The whole case only once their organisation has accepted it; before that,
        # provider staff see the offer's minimum (matching/ offers), not the case.
        own = select(Provider.id).where(Provider.organization_id == actor.organization_id)
        return stmt.where(Referral.assigned_provider_id.in_(own))
    if actor.role is Role.member and actor.user_id is not None:
        # Only explicit links: never a match on name or birth date.
        linked = select(MemberLink.referral_id).where(MemberLink.user_id == actor.user_id)
        return stmt.where(Referral.id.in_(linked))
    return stmt.where(false())


def get_visible(session: Session, actor: Actor, case_number: str) -> Referral | None:
    return session.scalars(visible_to(actor).where(Referral.case_number == case_number)).first()


class MatchingCaseRow(NamedTuple):
    """What matching reads of a case, with its payer's name."""

    id: int
    case_number: str
    status: ReferralStatus
    payer_id: int | None
    address_zip: str | None
    address_state: str | None
    address_city: str | None
    time_zone: str
    service_class: str
    member_language: str | None
    requested_start: date | None
    discharge_at: datetime | None
    urgency: Urgency
    payer_name: str | None


class MatchingItemRow(NamedTuple):
    """What matching reads of an item of the case."""

    code: str
    code_system: str
    quantity: int
    frequency: str | None
    rental: bool | None
    description: str | None


# The columns of the rows above (each field names its column; the payer's name comes last).
_MATCHING_CASE_COLUMNS = [getattr(Referral, f) for f in MatchingCaseRow._fields[:-1]] + [Payer.name]
_MATCHING_ITEM_COLUMNS = [getattr(ReferralItem, f) for f in MatchingItemRow._fields]
_SPLIT = len(_MATCHING_CASE_COLUMNS)
_Audited = tuple[Callable[[Select[*tuple[Any, ...]]], Insert], Mapping[str, Any]]  # audit INSERT


@functools.lru_cache(maxsize=1024)
def _matching_statement(
    role: Role, org_id: int | None, user_id: int | None, audit: Callable[..., Insert] | None
) -> Select[*tuple[Any, ...]]:
    """``matching_cases``'s statement, built once per visibility (as dear as running it)."""
    who = Actor(user_id=user_id, role=role, organization_id=org_id, display_name="")
    number = Referral.case_number
    wanted: ColumnElement[bool] = number.in_(bindparam("case_numbers", expanding=True))
    if audit is not None:  # one case, sent by the driver's cursor: no list to expand
        wanted = number == bindparam("case_numbers", type_=String())
    stmt = (
        visible_to(who)
        .with_only_columns(*_MATCHING_CASE_COLUMNS, *_MATCHING_ITEM_COLUMNS)
        .select_from(Referral)
        .outerjoin(Payer, Payer.id == Referral.payer_id)
        .outerjoin(ReferralItem, ReferralItem.referral_id == Referral.id)
        .where(wanted)
        .order_by(Referral.id, ReferralItem.line)
    )
    seen = visible_to(who).with_only_columns(Referral.case_number, Referral.id).where(wanted)
    return stmt if audit is None else stmt.add_cte(audit(seen).cte("audit"))


def matching_cases(
    session: Session, actor: Actor, numbers: Collection[str], audited: _Audited | None = None
) -> dict[str, tuple[MatchingCaseRow, list[MatchingItemRow]]]:
    """The cases the actor may see among ``numbers`` with payer name and items (in line
    order; one row each, or one empty) by case number, in one statement; with ``audited``
    (PostgreSQL, one case: a CTE, by the driver's cursor), its audit record too."""
    audit, values = audited or (None, {})
    stmt = _matching_statement(actor.role, actor.organization_id, actor.user_id, audit)
    params = {"case_numbers": next(iter(numbers)) if audit else list(numbers), **values}
    out: dict[str, tuple[MatchingCaseRow, list[MatchingItemRow]]] = {}
    for row in raw.fetch_all(session.connection(), stmt, params):
        found = out.get(row[1])
        if found is None:
            found = out[row[1]] = (MatchingCaseRow._make(row[:_SPLIT]), [])
        if row[_SPLIT] is not None:  # an item's code is never empty
            found[1].append(MatchingItemRow._make(row[_SPLIT:]))
    return out


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
    time_zone: str


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
            Referral.time_zone,
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
    stmt = stmt.where(*_by_case_number(flt))
    if flt.updated_from:
        stmt = stmt.where(Referral.updated_at >= flt.updated_from)
    if flt.updated_to:
        stmt = stmt.where(Referral.updated_at < flt.updated_to)
    if flt.q:
        term = flt.q.strip()
        stmt = stmt.where(
            or_(
                Referral.case_number == term.upper(),
                _name_matches(term),
                Referral.external_id == term,
            )
        )
    return stmt


def _by_case_number(flt: ReferralFilter) -> list[ColumnElement[bool]]:
    """The case (``case_number``) and any of the cases (``case_numbers``), both ANDed."""
    criteria = []
    if flt.case_number:
        criteria.append(Referral.case_number == flt.case_number.upper())
    if flt.case_numbers:
        wanted = sorted({n.upper() for n in flt.case_numbers})
        criteria.append(Referral.case_number.in_(wanted))
    return criteria


def _name_matches(term: str) -> ColumnElement[bool]:
    """Every word typed is in the member's first or last name, whatever the case and the
    accents: "Орлова", "лариса орлова", "Orlova, Larisa", "jose muller" as a coordinator
    types them; a Chinese name also run together ("陈美玲"): ``names.search_name``."""
    words = [folded for w in _NAME_SEPARATORS.split(term) if (folded := names.search_fold(w))]
    if not words:
        return false()
    # autoescape: "%" and "_" in a search match themselves, not any text.
    return and_(*(Referral.member_name_search.contains(w, autoescape=True) for w in words))


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


def items_by_referral(
    session: Session, referral_ids: Sequence[int]
) -> dict[int, list[ReferralItem]]:
    """The items of many cases in one query, each case's in line order."""
    if not referral_ids:
        return {}
    stmt = (
        select(ReferralItem)
        .where(ReferralItem.referral_id.in_(list(referral_ids)))
        .order_by(ReferralItem.referral_id, ReferralItem.line)
    )
    out: dict[int, list[ReferralItem]] = {}
    for item in session.scalars(stmt):
        out.setdefault(item.referral_id, []).append(item)
    return out


def payer_codes_and_names(session: Session, payer_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    if not payer_ids:
        return {}
    stmt = select(Payer.id, Payer.code, Payer.name).where(Payer.id.in_(list(set(payer_ids))))
    return {row[0]: (row[1], row[2]) for row in session.execute(stmt)}


class ProviderRef(NamedTuple):
    """The provider a case was placed with, as an integrator names it."""

    id: int
    name: str
    npi: str


def providers_by_id(session: Session, provider_ids: Collection[int]) -> dict[int, ProviderRef]:
    if not provider_ids:
        return {}
    stmt = select(Provider.id, Provider.legal_name, Provider.npi).where(
        Provider.id.in_(sorted(set(provider_ids)))
    )
    return {row[0]: ProviderRef(*row) for row in session.execute(stmt)}


def payer_names(session: Session, payer_ids: Sequence[int]) -> dict[int, str]:
    if not payer_ids:
        return {}
    stmt = select(Payer.id, Payer.name).where(Payer.id.in_(list(set(payer_ids))))
    return {row[0]: row[1] for row in session.execute(stmt)}


_RECENT_MATCHES = (
    select(Referral.case_number, Referral.received_at)
    .join(ReferralItem, ReferralItem.referral_id == Referral.id)
    .where(
        Referral.duplicate_key == bindparam("duplicate_key"),
        Referral.received_at >= bindparam("since"),
        Referral.ordering_npi == bindparam("npi"),
        IS_OPEN,
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
    duplicate_key: str,
    ordering_npi: str,
    item_codes: Sequence[str],
    since: datetime,
    exclude_id: int | None = None,
) -> list[tuple[str, datetime]]:
    """Open referrals of the same person, ordering NPI and at least one item code
    received since ``since``: candidates for a possible-duplicate finding. (One
    statement built once: it runs on every submission.)"""
    params = {
        "duplicate_key": duplicate_key,
        "since": since,
        "npi": ordering_npi,
        "codes": list(item_codes),
        "exclude_id": exclude_id if exclude_id is not None else 0,
    }
    return [(row[0], row[1]) for row in session.execute(_RECENT_MATCHES, params)]


def payer_facts(session: Session, payer_ids: Collection[int]) -> dict[int, tuple[str, str]]:
    """Code and name of each payer."""
    if not payer_ids:
        return {}
    stmt = select(Payer.id, Payer.code, Payer.name).where(Payer.id.in_(sorted(set(payer_ids))))
    return {row[0]: (row[1], row[2]) for row in session.execute(stmt)}


def lock_duplicate_key(session: Session, key: str, at: datetime) -> None:
    """Take the lock of a duplicate key for the rest of the transaction, in one statement:
    an upsert of its row, which holds the row lock on PostgreSQL (a twin waits here until
    this transaction ends, then sees what it stored) and the write lock on SQLite."""
    connection = session.connection()
    connection.execute(_lock_statement(connection.dialect.name), {"key": key, "touched_at": at})


@functools.cache
def _lock_statement(dialect: str) -> Any:
    """The duplicate-key upsert of each dialect, built once (every intake runs it)."""
    upsert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = upsert(_LOCKS)
    return stmt.on_conflict_do_update(
        index_elements=[_LOCKS.c.key], set_={"touched_at": stmt.excluded.touched_at}
    )


def lock_duplicate_keys(session: Session, keys: Sequence[str], at: datetime) -> None:
    """:func:`lock_duplicate_key` for many keys (a bulk intake), in key order so that two
    batches sharing keys wait for each other rather than deadlock; one executemany."""
    if not keys:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw.fetch_all(connection, _LOCK_MANY_PG, {"keys": sorted(keys), "at": at})
        return
    rows = [{"key": key, "touched_at": at} for key in sorted(keys)]
    connection.execute(_lock_statement(connection.dialect.name), rows)


_LOCK_MANY_PG = text(
    "INSERT INTO duplicate_key_locks (key, touched_at) "
    "SELECT k, :at FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k "
    "ON CONFLICT (key) DO UPDATE SET touched_at = excluded.touched_at"
).bindparams(bindparam("at", type_=UTCDateTime()))


def _one_of(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """``column IN :name``: one array parameter on PostgreSQL, a plain IN on SQLite."""
    if dialect == "postgresql":
        matches: ColumnElement[bool] = column == any_(bindparam(name, type_=ARRAY(String)))
        return matches
    listed: ColumnElement[bool] = column.in_(bindparam(name, expanding=True))
    return listed


def open_matches_of_keys(
    session: Session, *, keys: Sequence[str], npis: Sequence[str], since: datetime
) -> list[tuple[str, str, str, str, datetime]]:
    """Open referrals of any of these people (duplicate keys) and ordering NPIs received
    since ``since``, one row per item: (key, NPI, item code, case number, received at).
    The batch form of :func:`recent_open_matches`."""
    if not keys or not npis:
        return []
    connection = session.connection()
    rows = raw.fetch_all(
        connection,
        _open_matches(connection.dialect.name),
        {"keys": keys, "npis": npis, "since": since},
    )
    return [(r[0], r[1] or "", r[2], r[3], r[4]) for r in rows]


@functools.cache
def _open_matches(dialect: str) -> Select[Any]:
    """Built once per database (Core, not the ORM: every intake group runs it)."""
    r, i = _REFERRALS.c, _ITEMS.c
    return (
        select(r.duplicate_key, r.ordering_npi, i.code, r.case_number, r.received_at)
        .join_from(_REFERRALS, _ITEMS, i.referral_id == r.id)
        .where(
            _one_of(dialect, r.duplicate_key, "keys"),
            _one_of(dialect, r.ordering_npi, "npis"),
            r.received_at >= bindparam("since"),
            IS_OPEN,
        )
    )


def case_numbers_by_external_id(
    session: Session, actor: Actor, external_ids: Sequence[str]
) -> dict[str, str]:
    """The case number of each external id among the cases the actor may see, as plain
    tuples (no ORM rows: a file's re-run asks this for every row, storing nothing)."""
    if not external_ids:
        return {}
    connection = session.connection()
    stmt = (
        visible_to(actor)
        .with_only_columns(Referral.external_id, Referral.case_number)
        .where(_one_of(connection.dialect.name, Referral.external_id, "ids"))
        .order_by(Referral.id)
    )
    out: dict[str, str] = {}
    for external_id, number in connection.execute(stmt, {"ids": sorted(set(external_ids))}):
        out.setdefault(str(external_id), number)  # never None: the WHERE matched it
    return out


# ---- member links ----------------------------------------------------------------------------


def member_link(session: Session, user_id: int, referral_id: int) -> MemberLink | None:
    stmt = select(MemberLink).where(
        MemberLink.user_id == user_id, MemberLink.referral_id == referral_id
    )
    return session.scalars(stmt).first()


# ---- writes (Core inserts on the intake hot path) ------------------------------------------


# Core statements on the tables (not the ORM bulk path): one INSERT per table per case.
_REFERRALS = table_of(Referral)
_ITEMS = table_of(ReferralItem)
_EVENTS = table_of(ReferralEvent)
# Built once: every intake runs both.
_LOCKS = table_of(DuplicateKeyLock)

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


def insert_referrals(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many cases (their case numbers among the values); returns their ids in the
    order of ``rows``. Rows that carry their ids (reserved with their case numbers on
    PostgreSQL) go in as written, nothing read back; else one INSERT answers the ids."""
    if rows and "id" in rows[0]:
        copy.insert_rows(session, _REFERRALS, rows)
        return [int(r["id"]) for r in rows]
    by_number = copy.insert_returning(session, _REFERRALS, rows, "case_number")
    return [by_number[r["case_number"]] for r in rows]


def insert_items(session: Session, rows: list[dict[str, Any]]) -> None:
    copy.insert_rows(session, _ITEMS, rows)


def replace_items(session: Session, referral_id: int, rows: list[dict[str, Any]]) -> None:
    for item in items_of(session, referral_id):
        session.delete(item)
    session.flush()
    insert_items(session, rows)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    copy.insert_rows(session, _EVENTS, rows)


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


def open_cases_for_hospital(
    session: Session, *, identifiers: Sequence[tuple[str, str]], birth_date: date | None
) -> list[Referral]:
    """Open cases carrying one of the hospital's record numbers (with its assigning
    authority), or of someone born on ``birth_date``: what the hospital's feed may be
    about. Locked for the move, in id order."""
    conditions: list[ColumnElement[bool]] = [
        and_(Referral.hospital_mrn == value, Referral.hospital_mrn_authority == authority)
        for value, authority in identifiers
    ]
    if birth_date is not None:
        conditions.append(Referral.member_birth_date == birth_date)
    if not conditions:
        return []
    stmt = select(Referral).where(or_(*conditions), IS_OPEN).order_by(Referral.id).with_for_update()
    return list(session.scalars(stmt))


def last_event_data(session: Session, referral_id: int, type_: str) -> dict[str, Any] | None:
    """The data of the case's latest timeline event of ``type_`` (None: there is none)."""
    stmt = (
        select(ReferralEvent.data)
        .where(ReferralEvent.referral_id == referral_id, ReferralEvent.type == type_)
        .order_by(ReferralEvent.id.desc())
        .limit(1)
    )
    data = session.scalars(stmt).first()
    return dict(data) if data is not None else None


# ---- the feed of case events (read by integrations, e.g. webhooks) ---------------------------


def last_event_id(session: Session, *, at_or_before: datetime | None = None) -> int:
    """The highest timeline event id (written at or before ``at_or_before``, if given).
    Read down the primary key from the newest: the recent events are few, and neither
    database needs an index on ``at`` for it."""
    stmt = select(ReferralEvent.id).order_by(ReferralEvent.id.desc()).limit(1)
    if at_or_before is not None:
        stmt = stmt.where(ReferralEvent.at <= at_or_before)
    return int(session.scalar(stmt) or 0)


def events_after(
    session: Session,
    actor: Actor,
    *,
    after_id: int,
    up_to_id: int,
    types: Collection[str] | None,
    limit: int,
) -> list[tuple[int, int, str, str, datetime, dict[str, Any]]]:
    """Timeline events in ``(after_id, up_to_id]`` of ``types`` (None: any), on cases the
    actor may see, oldest first: (id, referral id, case number, type, at, data)."""
    stmt = (
        select(
            ReferralEvent.id,
            ReferralEvent.referral_id,
            Referral.case_number,
            ReferralEvent.type,
            ReferralEvent.at,
            ReferralEvent.data,
        )
        .join(Referral, Referral.id == ReferralEvent.referral_id)
        .where(ReferralEvent.id > after_id, ReferralEvent.id <= up_to_id)
        .order_by(ReferralEvent.id)
        .limit(limit)
    )
    if types is not None:
        stmt = stmt.where(ReferralEvent.type.in_(sorted(types)))
    if not sees_every_case(actor):
        stmt = stmt.where(Referral.id.in_(visible_to(actor).with_only_columns(Referral.id)))
    return [(r[0], r[1], r[2], r[3], r[4], dict(r[5] or {})) for r in session.execute(stmt)]
