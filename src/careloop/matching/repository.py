"""Matching queries: the SQL pre-filter that finds plausible providers, their track
record read from timeline events, and offers scoped to who may see them."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypedDict, Unpack

from sqlalchemy import (
    CTE,
    JSON,
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    cast,
    column,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from careloop.core.actor import Actor, Role
from careloop.db import raw
from careloop.db.session import json_dumps
from careloop.matching.models import Offer, OfferStatus
from careloop.network.models import (
    Provider,
    ProviderNetwork,
    ProviderServiceArea,
    ProviderServiceLine,
)
from careloop.referral.models import ReferralEvent

#: Timeline events a provider's track record is computed from.
ACCEPTED = "offer.accepted"
NOT_ACCEPTED = ("offer.declined", "offer.expired")
ON_TIME = "service.started_on_time"
LATE = "service.started_late"
# A missed first delivery or visit counts against the on-time rate (issue 4).
MISSED = "service.missed"

#: At most this many providers of the member's area are looked at for one referral.
MAX_CANDIDATES = 500


class CandidateRow(NamedTuple):
    """A provider of the area with the facts the hard rules need (a plain tuple: tens of
    them are built per ranking)."""

    provider_id: int
    name: str
    checklist_complete: bool
    offerable_until: date | None
    in_network: bool
    serves_zip: bool
    serves_county: bool
    service_line_offered: bool
    categories: frozenset[str]
    daily_capacity: int
    used_today: int
    languages: frozenset[str]
    already_offered: bool


class PrefilterInputs(TypedDict):
    """What the pre-filter of a referral is given (``matching.service`` derives it)."""

    referral_id: int
    payer_id: int | None
    service_line: str
    zip_code: str
    state: str
    county: str | None
    service_date: date
    day_starts_at: datetime
    today: date


def candidates(
    session: Session,
    *,
    eligible_only: bool,
    limit: int = MAX_CANDIDATES,
    **inputs: Unpack[PrefilterInputs],
) -> list[CandidateRow]:
    """Active providers that serve the member's ZIP or county, with the facts each hard
    rule needs computed in the same statement (indexed look-ups per provider). Run on the
    session's connection: plain rows, no ORM bookkeeping on this hot path.

    ``eligible_only`` applies the hard rules that SQL answers best (offers the service
    line, offerable today, in the payer's network on the service date), so ranking sees
    only plausible candidates and no cap can drop an eligible one; capacity and earlier
    offers of the case stay with the rules, which explain them. Without it, the area's
    providers come whatever they fail, to say why each was left out.

    The statement is built once per shape (see ``_candidates_statement``) and its values
    bound at each call: building and hashing the construct per call cost more than the
    query itself on a warm database."""
    has_county, has_payer = inputs["county"] is not None, inputs["payer_id"] is not None
    stmt = _candidates_statement(eligible_only, has_county, has_payer)
    params = {**inputs, "limit": limit}
    # All rows in one fetch: iterating a result fetches them one at a time.
    return _rows(session.connection().execute(stmt, params).all())


def explained_candidates(
    session: Session,
    *,
    explained: int,
    since: datetime,
    limit: int = MAX_CANDIDATES,
    **inputs: Unpack[PrefilterInputs],
) -> tuple[list[CandidateRow], dict[int, TrackRecord]]:
    """The rows of ``candidates(eligible_only=True)`` followed by the first ``explained``
    other providers of the area (by id), with ``track_records(since=since)`` of those in
    the payer's network with a complete checklist, in one statement: what a ranking that
    says why the others are left out needs, in one round trip instead of three. The
    others' track records are read only when the ranked ones reached ``limit``: else no
    other can pass every rule, and a record is used only to rank.

    The same as the queries it replaces: the others are the first ``explained`` providers
    of the area, in id order, that the ranking query did not return (whichever rule they
    fail), and each track record counts the same events."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    has_county, has_payer = inputs["county"] is not None, inputs["payer_id"] is not None
    stmt = _explained_statement(has_county, has_payer, postgresql)
    params = {**inputs, "limit": limit, "explained": explained, "since": since}
    rows = []
    records: dict[int, TrackRecord] = {}
    # On PostgreSQL by the driver's own cursor: the statement is long, and runs at every
    # ranking (see careloop.db.raw). Its JSON values (each candidate's categories and
    # languages) come as their text, decoded once per distinct text by ``_rows``: the
    # driver decoded two per row, and made a set of each again.
    for row in raw.fetch_all(session.connection(), stmt, params, json_text=True):
        if row[1] is None:  # a track record: a provider always has a name
            records[row[0]] = _record(row[_RECORD:])
        else:
            rows.append(row)
    return _rows(rows), records


def _rows(result: Iterable[Sequence[Any]]) -> list[CandidateRow]:
    return [
        CandidateRow(
            row[0],
            row[1],
            bool(row[2]),
            row[3],
            bool(row[4]),
            bool(row[5]),
            bool(row[6]),
            bool(row[7]),
            _set_of(row[8]),
            int(row[9] or 0),
            int(row[10] or 0),
            _set_of(row[11]),
            bool(row[12]),
        )
        for row in result
    ]


def _set_of(value: str | list[str] | None) -> frozenset[str]:
    """The set a JSON array holds; empty for NULL. A ranking's statement hands it over as
    its text (see ``explained_candidates``), the others as decoded by the driver."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return _decoded_set(value)
    return frozenset(value)


@functools.lru_cache(maxsize=4096)
def _decoded_set(text: str) -> frozenset[str]:
    """A few hundred distinct category and language lists recur across every ranking:
    each is decoded once."""
    return frozenset(json.loads(text) or ())


# Short names for the tables of the pre-filter: its statement text stays under the length
# psycopg keeps converted (4,096 characters), instead of being parsed again at each call.
_P = aliased(Provider, name="p")
_Q = aliased(Provider, name="q")
_LINE = aliased(ProviderServiceLine, name="l")
_AREA = aliased(ProviderServiceArea, name="a")
_NETWORK = aliased(ProviderNetwork, name="n")
_OFFER = aliased(Offer, name="o")
_EVENT = aliased(ReferralEvent, name="e")


def _one_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column`` equal to one of a few constants, bound as such (an IN list of constants is
    rendered again into the statement text at every execution)."""
    return or_(*(column == value for value in values))


class _Values(NamedTuple):
    """What the pre-filter compares with: bound parameters for one referral, or the
    columns of a batch's inputs."""

    referral_id: ColumnElement[int]
    payer_id: ColumnElement[int]
    service_line: ColumnElement[str]
    zip_code: ColumnElement[str]
    state: ColumnElement[str]
    county: ColumnElement[str]
    service_date: ColumnElement[date]
    day_starts_at: ColumnElement[datetime]
    today: ColumnElement[date]


#: The type of each input of the pre-filter.
_INPUT_TYPES: dict[str, Any] = {
    "referral_id": Integer(),
    "payer_id": ProviderNetwork.payer_id.type,
    "service_line": Offer.service_line.type,
    "zip_code": ProviderServiceArea.zip_code.type,
    "state": ProviderServiceArea.state.type,
    "county": ProviderServiceArea.county.type,
    "service_date": ProviderNetwork.effective_from.type,
    "day_starts_at": Offer.offered_at.type,
    "today": Provider.offerable_until.type,
}


def _bound() -> _Values:
    return _Values(*(bindparam(name, type_=kind) for name, kind in _INPUT_TYPES.items()))


def _area(has_county: bool, v: _Values) -> Select[int]:
    """The ids of the providers that list the member's ZIP code or county (with repeats)."""
    area = _AREA
    return (
        select(area.provider_id)
        .where(
            or_(
                area.zip_code == v.zip_code,
                and_(area.state == v.state, area.county == v.county) if has_county else false(),
            )
        )
        .correlate_except(area)
    )


@functools.cache
def _candidates_statement(
    eligible_only: bool, has_county: bool, has_payer: bool
) -> Select[*tuple[Any, ...]]:
    """The pre-filter of ``candidates`` with its values as bound parameters, one
    statement object per shape, so SQLAlchemy's compiled cache is hit without walking a
    fresh construct each call."""
    return _prefilter(eligible_only, has_county, has_payer, _bound())


def _prefilter(
    eligible_only: bool, has_county: bool, has_payer: bool, v: _Values
) -> Select[*tuple[Any, ...]]:
    p, line, area, network, offer = _P, _LINE, _AREA, _NETWORK, _OFFER
    # Each subquery names the table it reads: a batch's inputs are correlated, as the
    # provider is, instead of being read again inside it.
    serves_zip = (
        exists().where(area.provider_id == p.id, area.zip_code == v.zip_code).correlate_except(area)
    )
    serves_county = (
        exists()
        .where(area.provider_id == p.id, area.state == v.state, area.county == v.county)
        .correlate_except(area)
        if has_county
        else false()
    )
    in_area = _area(has_county, v)
    in_network = (
        exists()
        .where(
            network.provider_id == p.id,
            network.payer_id == v.payer_id,
            network.effective_from <= v.service_date,
            or_(network.effective_to.is_(None), network.effective_to >= v.service_date),
        )
        .correlate_except(network)
        if has_payer
        else false()
    )
    used_today = (
        select(func.count())
        .where(
            offer.provider_id == p.id,
            offer.service_line == v.service_line,
            offer.offered_at >= v.day_starts_at,
            _one_of(offer.status, [OfferStatus.pending, OfferStatus.accepted]),
        )
        .correlate_except(offer)
        .scalar_subquery()
    )
    already = (
        exists()
        .where(
            offer.referral_id == v.referral_id,
            offer.provider_id == p.id,
            _one_of(
                offer.status, [OfferStatus.declined, OfferStatus.expired, OfferStatus.withdrawn]
            ),
        )
        .correlate_except(offer)
    )
    stmt = (
        select(
            p.id,
            p.legal_name,
            p.checklist_complete,
            p.offerable_until,
            in_network,
            serves_zip,
            serves_county,
            line.id.is_not(None),
            line.categories,
            line.daily_capacity,
            used_today,
            p.languages,
            already,
        )
        .join(
            line,
            and_(line.provider_id == p.id, line.service_line == v.service_line),
            isouter=not eligible_only,
        )
        .where(p.active.is_(True), p.id.in_(in_area))
        .order_by(p.id)
    )
    if eligible_only:
        stmt = stmt.where(
            p.checklist_complete.is_(True),
            or_(p.offerable_until.is_(None), p.offerable_until > v.today),
            in_network,
        )
    return stmt.limit(bindparam("limit", type_=Integer))


def candidates_of_many(
    session: Session, inputs: Sequence[PrefilterInputs], *, limit: int = MAX_CANDIDATES
) -> list[list[CandidateRow]]:
    """``candidates(eligible_only=True)`` of each of ``inputs`` (the keyword arguments of
    one call each), in order. On PostgreSQL one statement per ``_MANY_PER_STATEMENT``
    referrals (their inputs one JSON value, the pre-filter a LATERAL subquery of each):
    a batch of rankings sends a few statements instead of one per referral. SQLite (in
    process, no round trips) runs them one by one."""
    if session.get_bind().dialect.name != "postgresql":
        return [candidates(session, **values, eligible_only=True, limit=limit) for values in inputs]
    out: list[list[CandidateRow]] = []
    connection = session.connection()
    for start in range(0, len(inputs), _MANY_PER_STATEMENT):
        chunk = inputs[start : start + _MANY_PER_STATEMENT]
        payload = [{**values, "n": n} for n, values in enumerate(chunk)]
        rows: list[list[Sequence[Any]]] = [[] for _ in chunk]
        params = {"inputs": json_dumps(payload), "limit": limit}
        for row in connection.execute(_many_statement(), params).all():
            rows[row[0]].append(row[1:])
        out.extend(_rows(found) for found in rows)
    return out


#: Referrals per statement of ``candidates_of_many``.
_MANY_PER_STATEMENT = 200


@functools.cache
def _many_statement() -> Select[*tuple[Any, ...]]:
    """The pre-filter of ``candidates`` as a LATERAL subquery of each row of its inputs
    (a JSON array): ``n`` (the input's position), then the pre-filter's columns. An input
    without a county or payer compares NULL, which no row matches: the same rows as the
    shape that leaves the comparison out."""
    given = (
        func.json_to_recordset(cast(bindparam("inputs", type_=String()), JSON()))
        .table_valued(
            column("n", Integer()),
            *(column(name, kind) for name, kind in _INPUT_TYPES.items()),
        )
        .render_derived(name="i", with_types=True)
    )
    values = _Values(*(given.c[name] for name in _INPUT_TYPES))
    per_case = _prefilter(True, True, True, values).lateral("c")
    return (
        select(given.c.n, *per_case.c)
        .select_from(given.join(per_case, true()))
        .order_by(given.c.n, per_case.c[0])
    )


class TrackRecord(NamedTuple):
    """A provider's track-record events since a date, counted as the ranking uses them."""

    accepted: int
    not_accepted: int  # declined or let expire
    on_time: int
    late_or_missed: int


#: No track-record event in the window.
NO_RECORD = TrackRecord(0, 0, 0, 0)
#: The event types each column of a ``TrackRecord`` counts.
_TRACK_COUNTS = ((ACCEPTED,), NOT_ACCEPTED, (ON_TIME,), (LATE, MISSED))
_TRACK_TYPES = tuple(type_ for types in _TRACK_COUNTS for type_ in types)
#: Where the track-record counts start in a row of ``_explained_statement`` (a
#: candidate's row has its facts before them).
_RECORD = 13


@functools.cache
def _explained_statement(
    has_county: bool, has_payer: bool, postgresql: bool
) -> CompoundSelect[*tuple[Any, ...]]:
    """``_candidates_statement(True, ...)`` as a CTE; the area's other providers past it
    in id order (``_candidates_statement(False, ...)`` less the ranked ones, at most
    ``explained``); then the counts of ``_track_records_statement`` of those in network
    with a complete checklist (of the others, only when the ranked ones reached the cap),
    as rows of their own (the provider's id, its name empty,
    the counts last): joined to the candidates here, the generic plan compared every
    candidate with every record."""
    ranked = _candidates_statement(True, has_county, has_payer).cte("ranked")
    area = _candidates_statement(False, has_county, has_payer)
    other_ids = _other_ids(ranked, has_county, postgresql)
    others = (
        select(*area.selected_columns)
        .select_from(*area.get_final_froms())
        .where(_P.id.in_(select(other_ids.c.id)))
        .cte("others")
    )
    # Column 2 is the checklist, column 4 the payer's network.
    # An other provider can pass every rule only when the cap cut it from the ranked
    # ones (SQL applies every rule it could fail but capacity, categories and an earlier
    # offer): only then is its track record read.
    capped = select(func.count()).select_from(ranked).scalar_subquery() >= bindparam(
        "limit", type_=Integer
    )
    needed = union_all(
        select(ranked.c[0]).where(ranked.c[2].is_(True), ranked.c[4].is_(True)),
        select(others.c[0]).where(others.c[2].is_(True), others.c[4].is_(True), capped),
    )
    # Typed: PostgreSQL resolves the first two branches' columns before the third.
    no_counts = [cast(null(), BigInteger)] * len(_TRACK_COUNTS)
    return union_all(
        select(*ranked.c, *no_counts),
        select(*others.c, *no_counts),
        _records_each(needed)
        if postgresql
        else _counts(padding=_RECORD - 1).where(_EVENT.provider_id.in_(needed)),
    )


def _records_each(needed: CompoundSelect[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """``_counts(padding=_RECORD - 1)`` of the ``needed`` providers, each counted by a
    LATERAL aggregate of its own index range (rows come in provider order: no sort of
    every event by provider before grouping them, as GROUP BY did); a provider without
    an event gives no row, as there."""
    ids = needed.subquery("needed")
    event = _EVENT
    counts = (
        select(*(func.count().filter(_one_of(event.type, types)) for types in _TRACK_COUNTS))
        .where(
            event.provider_id == ids.c[0],
            event.provider_id.is_not(None),  # the index holds only the events that name one
            event.at >= bindparam("since", type_=ReferralEvent.at.type),
            _one_of(event.type, _TRACK_TYPES),
        )
        .having(func.count() > 0)
        .lateral("r")
    )
    return select(ids.c[0], *[null()] * (_RECORD - 1), *counts.c).select_from(
        ids.join(counts, true())
    )


def _other_ids(ranked: CTE, has_county: bool, postgresql: bool) -> Subquery:
    """The ids of the first ``explained`` active providers of the area (by id) that
    ``ranked`` does not hold."""
    # The area's ids in order, from the index of each look-up alone (ZIP code, county; a
    # provider that lists both comes once), so that the walk below reads no more of them
    # than it needs.
    by_zip = aliased(ProviderServiceArea, name="z")
    by_county = aliased(ProviderServiceArea, name="c")
    listed: Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]] = select(
        by_zip.provider_id.label("id")
    ).where(by_zip.zip_code == bindparam("zip_code", type_=ProviderServiceArea.zip_code.type))
    if has_county:
        listed = union_all(
            listed,
            select(by_county.provider_id).where(
                by_county.state == bindparam("state", type_=ProviderServiceArea.state.type),
                by_county.county == bindparam("county", type_=ProviderServiceArea.county.type),
            ),
        )
    area = listed.subquery("area")
    ordered = (
        select(area.c.id)
        .distinct()
        .where(area.c.id.not_in(select(ranked.c[0])))
        .order_by(area.c.id)
        .subquery("o")
    )
    if postgresql:
        # A LATERAL probe with its own LIMIT cannot become a join: the area's ids are
        # probed one by one and the walk stops at the limit. (As a join, PostgreSQL's
        # generic plan walked the whole providers table in id order to meet a small
        # area's few.)
        probe = (
            select(_Q.id)
            .where(_Q.id == ordered.c.id, _Q.active.is_(True))
            .limit(literal_column("1"))
            .lateral("q")
        )
        found = select(ordered.c.id).select_from(ordered.join(probe, true()))
    else:
        found = select(ordered.c.id).where(
            exists().where(_Q.id == ordered.c.id, _Q.active.is_(True))
        )
    return (
        found.order_by(ordered.c.id)
        .limit(bindparam("explained", type_=Integer))
        .subquery("other_ids")
    )


def track_records(
    session: Session, provider_ids: Sequence[int], *, since: datetime
) -> dict[int, TrackRecord]:
    """Counts of track-record events per provider since ``since`` (not stored counters:
    the timeline is the record)."""
    if not provider_ids:
        return {}
    postgresql = session.get_bind().dialect.name == "postgresql"
    stmt = _track_records_statement(postgresql)
    ids = list(provider_ids)
    # SQLite binds each id as its own variable: keep a batch's union under its limit.
    step = len(ids) if postgresql else _SQLITE_IDS_PER_STATEMENT
    out: dict[int, TrackRecord] = {}
    for start in range(0, len(ids), step):
        rows = session.connection().execute(
            stmt, {"ids": ids[start : start + step], "since": since}
        )
        for row in rows.all():
            out[row[0]] = _record(row[1:])
    return out


def _record(counts: Sequence[Any]) -> TrackRecord:
    return TrackRecord(int(counts[0]), int(counts[1]), int(counts[2]), int(counts[3]))


_SQLITE_IDS_PER_STATEMENT = 5_000


@functools.cache
def _track_records_statement(postgresql: bool) -> Select[*tuple[Any, ...]]:
    # On PostgreSQL one array parameter keeps the statement text (and its plan) the same
    # whatever the number of candidates; SQLite takes the expanded list.
    among = (
        _EVENT.provider_id == func.any(bindparam("ids", type_=ARRAY(Integer)))
        if postgresql
        else _EVENT.provider_id.in_(bindparam("ids", expanding=True))
    )
    return _counts().where(among)


def _counts(padding: int = 0) -> Select[*tuple[Any, ...]]:
    """Each provider's track-record events since ``since``, counted as a ``TrackRecord``
    (one row per provider with any; ``padding`` empty columns between the provider and its
    counts): the statement is completed with the providers to count for."""
    event = _EVENT
    return (
        select(
            event.provider_id,
            *[null()] * padding,
            *(func.count().filter(_one_of(event.type, types)) for types in _TRACK_COUNTS),
        )
        .where(
            event.provider_id.is_not(None),  # the index holds only the events that name one
            event.at >= bindparam("since", type_=ReferralEvent.at.type),
            _one_of(event.type, _TRACK_TYPES),
        )
        .group_by(event.provider_id)
    )


# ---- offers ---------------------------------------------------------------------------------


def offers_visible_to(actor: Actor) -> Select[Offer]:
    """Staff see every offer; provider staff the offers made to their organisation."""
    stmt = select(Offer)
    if actor.is_staff or actor.role is Role.service:
        return stmt
    if actor.role is Role.provider_staff and actor.organization_id is not None:
        own = select(Provider.id).where(Provider.organization_id == actor.organization_id)
        return stmt.where(Offer.provider_id.in_(own))
    return stmt.where(false())


def offer_visible(session: Session, actor: Actor, offer_id: int) -> Offer | None:
    return session.scalars(offers_visible_to(actor).where(Offer.id == offer_id)).first()


def offers_page(
    session: Session,
    actor: Actor,
    *,
    status: OfferStatus | None,
    referral_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Offer], int]:
    stmt = offers_visible_to(actor)
    if status is not None:
        stmt = stmt.where(Offer.status == status)
    if referral_id is not None:
        stmt = stmt.where(Offer.referral_id == referral_id)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Offer.offered_at.desc(), Offer.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def provider_names(session: Session, provider_ids: set[int]) -> dict[int, str]:
    """Legal names of the providers, by id, in one query."""
    if not provider_ids:
        return {}
    stmt = select(Provider.id, Provider.legal_name).where(Provider.id.in_(provider_ids))
    return {pid: name for pid, name in session.execute(stmt)}


def offers_of_referral(session: Session, referral_id: int) -> list[Offer]:
    stmt = select(Offer).where(Offer.referral_id == referral_id)
    return list(session.scalars(stmt.order_by(Offer.id)))


def respond(
    session: Session,
    offer_id: int,
    *,
    to: OfferStatus,
    at: datetime,
    user_id: int | None,
    reason: str | None = None,
    note: str | None = None,
    open_until: datetime | None = None,
) -> bool:
    """Move a pending offer to ``to`` if, and only if, it is still pending (and, when
    ``open_until`` is given, not past its deadline). The conditional UPDATE is the race
    arbiter: of any number of concurrent answers exactly one changes the row."""
    conditions = [Offer.id == offer_id, Offer.status == OfferStatus.pending]
    if open_until is not None:
        conditions.append(Offer.respond_by > open_until)
    result = session.connection().execute(
        update(Offer)
        .where(*conditions)
        .values(
            status=to,
            responded_at=at,
            responded_by_user_id=user_id,
            decline_reason=reason,
            decline_note=note,
        )
    )
    return result.rowcount == 1


def pending_offers_of_provider(session: Session, provider_id: int) -> list[int]:
    stmt = select(Offer.id).where(
        Offer.provider_id == provider_id, Offer.status == OfferStatus.pending
    )
    return list(session.scalars(stmt.order_by(Offer.id)))


TRACK_RECORD_WINDOW = timedelta(days=90)
