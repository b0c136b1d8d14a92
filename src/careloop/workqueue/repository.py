"""Work-item queries and writes. Nothing commits here.

The queue shows one row per case: its most urgent open item that passes the filters.
A page walks the open items in the chosen order (due order reads the partial index
``ix_work_items_open_due_at``, or ``..._team_due_at`` for one team) and keeps an item only
when no other open item of its case comes before it (an anti-join probing
``ix_work_items_open_referral_id_due_at``), so its cost follows the page size, not the
number of open items. Items without a case are rows of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, aggregate_order_by
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter

from careloop.core.actor import Actor
from careloop.db import copy, raw
from careloop.db.base import table_of
from careloop.identity.models import User
from careloop.payer.models import Payer
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.referral.models import Referral
from careloop.sla.models import Clock, ClockStatus
from careloop.workqueue import rules
from careloop.workqueue.kept import count, uncount
from careloop.workqueue.models import WorkItem, WorkItemCount
from careloop.workqueue.schemas import CaseFilter


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An open work item with what the queue shows of its case and owner."""

    item_id: int
    referral_id: int | None
    subject: str
    kind: str
    team: str
    level: int
    title: str
    due_at: datetime
    opened_at: datetime
    breached_at: datetime | None
    closed_at: datetime | None
    owner_user_id: int | None
    claimed_at: datetime | None
    owner_name: str | None
    case_number: str | None
    referral_status: ReferralStatus | None
    urgency: Urgency | None
    discharge_at: datetime | None
    member_first_name: str | None
    member_last_name: str | None
    payer_code: str | None
    time_zone: str | None
    more: int = 0

    @property
    def clock_id(self) -> int:  # the urgency order's tie-break (rules.Queued)
        return self.item_id

    @property
    def discharge_dependent(self) -> bool:
        return self.urgency is Urgency.discharge or self.discharge_at is not None


_COLUMNS = (
    WorkItem.id,
    WorkItem.referral_id,
    WorkItem.subject,
    WorkItem.kind,
    WorkItem.team,
    WorkItem.level,
    WorkItem.title,
    WorkItem.due_at,
    WorkItem.opened_at,
    WorkItem.breached_at,
    WorkItem.closed_at,
    WorkItem.owner_user_id,
    WorkItem.claimed_at,
    User.display_name,
    Referral.case_number,
    Referral.status,
    Referral.urgency,
    Referral.discharge_at,
    Referral.member_first_name,
    Referral.member_last_name,
    Payer.code,
    Referral.time_zone,
)

_OPEN = WorkItem.closed_at.is_(None)


def _queue_row(values: tuple[Any, ...], more: int = 0) -> QueueRow:
    return QueueRow(*values, more)  # type: ignore[call-arg]  # the columns, then more


def _fixed(value: int | str) -> Any:
    """A constant of the code (a page size, a rank, a team name) written into the
    statement's text rather than sent as a parameter.

    The queue's statements keep the same text from one request to the next (only the
    team, owner, time and filters are parameters), so PostgreSQL prepares them once per
    connection and keeps a generic plan; a parameter in LIMIT or in the ORDER BY makes it
    plan the statement again on every request (about twice the time of running it).
    Written at compile time (cached with the statement), it costs nothing per request."""
    if isinstance(value, int):
        return literal_column(str(int(value)), Integer)
    return literal_column("'" + value.replace("'", "''") + "'", String)


_URGENCY_RANK = case(
    (Referral.urgency == _fixed(Urgency.discharge.value), _fixed(0)),
    (Referral.urgency == _fixed(Urgency.urgent.value), _fixed(1)),
    (Referral.urgency == _fixed(Urgency.routine.value), _fixed(2)),
    else_=_fixed(3),
)


def _order(sort: str) -> list[Any]:
    # The item carries its case's discharge flag, so the due order is the order of the
    # open items' indexes and a page of it is read off one in order (no join, no sort).
    due: list[Any] = [WorkItem.due_at, WorkItem.discharge_last, WorkItem.id]
    # Any other sort orders the overdue rows among themselves, then those about to
    # breach (due by ``wq_soon``), then the rest: work on time never goes above (or, on
    # a long queue, a page before) a breached case, nor later work above one due now.
    late_first = case(
        (WorkItem.due_at <= bindparam("wq_now"), _fixed(0)),
        (WorkItem.due_at <= bindparam("wq_soon"), _fixed(1)),
        else_=_fixed(2),
    )
    if sort == "urgency":
        return [late_first, _URGENCY_RANK, *due]
    if sort == "payer":
        return [late_first, Payer.code.is_(None), Payer.code, *due]
    if sort == "status":
        return [late_first, Referral.status.is_(None), Referral.status, *due]
    if sort == "owner":
        return [late_first, User.display_name.is_(None), User.display_name, *due]
    return due


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items count: a team, a minimum ladder level, an owner.

    The statements hold placeholders for the owner and any team the rules do not name
    (``params``), so that one statement serves every owner: it is built once per shape
    (which filters are set) and PostgreSQL prepares it once per connection. A team the
    rules name (``rules.TEAMS``) and the level are written into the statement's text
    instead (:func:`_fixed`; a handful of statements each): with the team a parameter,
    PostgreSQL judged a generic plan dearer than one made for the team at hand and
    planned the page afresh on every request, which cost more than running it."""

    team: str | None = None
    min_level: int | None = None
    owner_user_id: int | None = None

    def apply(
        self, item: type[WorkItem] | Any, *, probe: bool = False
    ) -> list[ColumnElement[bool]]:
        """The conditions on ``item``. ``probe``: ``item`` is another item of a case at
        hand (the anti-join of :func:`_heads`), reached by the case's index; its owner
        is then compared as an expression that no index holds, so that PostgreSQL never
        reaches those items by the owner's index instead (all of the owner's open items
        once per row of the page: when the statistics put an owner at one item, that
        plan took 580 ms at 10 million referrals for an owner holding 1,600)."""
        out: list[ColumnElement[bool]] = [item.closed_at.is_(None)]
        if self.team is not None:
            known = self.team in rules.TEAMS
            out.append(item.team == (_fixed(self.team) if known else bindparam("wq_team")))
        if self.min_level is not None:
            out.append(item.level >= _fixed(self.min_level))
        if self.owner_user_id is not None:
            owner = func.coalesce(item.owner_user_id, _fixed(0)) if probe else item.owner_user_id
            out.append(owner == bindparam("wq_owner"))
        return out

    def params(self) -> dict[str, Any]:
        values = {
            "wq_team": self.team if self.team not in rules.TEAMS else None,
            "wq_owner": self.owner_user_id,
        }
        return {k: v for k, v in values.items() if v is not None}

    def shape(self) -> ItemFilter:
        """The filters without the values sent as parameters (the statement cache's key)."""
        team = None
        if self.team is not None:
            team = self.team if self.team in rules.TEAMS else ""
        return ItemFilter(
            team=team,
            min_level=self.min_level,
            owner_user_id=0 if self.owner_user_id is not None else None,
        )


def _case_filtered(flt: CaseFilter | None) -> bool:
    return flt is not None and bool(flt.referral_status or flt.urgency or flt.payer_code)


def _case_shape(flt: CaseFilter | None) -> CaseFilter | None:
    if flt is None or not _case_filtered(flt):
        return None
    return CaseFilter(
        referral_status="?" if flt.referral_status else None,
        urgency="?" if flt.urgency else None,
        payer_code="?" if flt.payer_code else None,
    )


def _case_params(flt: CaseFilter | None) -> dict[str, Any]:
    if flt is None:
        return {}
    values = {
        "wq_status": flt.referral_status or None,
        "wq_urgency": flt.urgency or None,
        "wq_payer": flt.payer_code.upper() if flt.payer_code else None,
    }
    return {k: v for k, v in values.items() if v is not None}


def _scope(staff: bool) -> ColumnElement[bool]:
    """Coordination staff see every team's work; anyone else none (their role is refused
    before this; the scope is the second lock)."""
    return true() if staff else false()


def _heads(
    staff: bool, items: ItemFilter, case_filter: CaseFilter | None
) -> Select[*tuple[Any, ...]]:
    """The most urgent item of each case among the filtered ones (and every caseless
    item), with what the row shows."""
    other = aliased(WorkItem)
    earlier = exists().where(
        other.referral_id == WorkItem.referral_id,
        *items.apply(other, probe=True),
        or_(
            other.due_at < WorkItem.due_at,
            and_(other.due_at == WorkItem.due_at, other.id < WorkItem.id),
        ),
    )
    stmt = (
        select(*_COLUMNS)
        .select_from(WorkItem)
        .outerjoin(Referral, Referral.id == WorkItem.referral_id)
        .outerjoin(Payer, Payer.id == Referral.payer_id)
        .outerjoin(User, User.id == WorkItem.owner_user_id)
        .where(_scope(staff), *items.apply(WorkItem), ~earlier)
    )
    if case_filter is not None:
        stmt = _by_case(stmt, case_filter)
    return stmt


def _by_case(stmt: Select[*tuple[Any, ...]], flt: CaseFilter) -> Select[*tuple[Any, ...]]:
    if flt.referral_status:
        stmt = stmt.where(Referral.status == bindparam("wq_status"))
    if flt.urgency:
        stmt = stmt.where(Referral.urgency == bindparam("wq_urgency"))
    if flt.payer_code:
        payer_ids = select(Payer.id).where(func.upper(Payer.code) == bindparam("wq_payer"))
        stmt = stmt.where(Referral.payer_id.in_(payer_ids.scalar_subquery()))
    return stmt


@lru_cache(maxsize=256)
def _page_statement(
    staff: bool,
    items: ItemFilter,
    case_filter: CaseFilter | None,
    sort: str,
    limit: int,
    offset: int,
    figures: tuple[str, ...] | None = None,
    cap: int = 0,
) -> Select[*tuple[Any, ...]]:
    more = aliased(WorkItem)
    more_count = (
        select(func.count(more.id))
        .where(more.referral_id == WorkItem.referral_id, more.closed_at.is_(None))
        .correlate(WorkItem)
        .scalar_subquery()
    )
    stmt = _heads(staff, items, case_filter).add_columns(more_count)
    if figures is not None:
        # The navigation's figures and the queue's row count ride on the page: each is
        # a subquery that does not depend on the row (PostgreSQL runs it once, as an
        # InitPlan; SQLite once, as a constant subquery), so the page and its counts
        # cost one round trip instead of two.
        stmt = stmt.add_columns(*_figures(figures, cap, Listing(items, case_filter)))
    return stmt.order_by(*_order(sort)).limit(_fixed(limit + 1)).offset(_fixed(offset))


@dataclass(frozen=True, slots=True)
class Audited:
    """The audit record a page writes in its own statement (PostgreSQL): the INSERT
    (``audit.insert_detailed``), its shared values, and the detail, to which the
    statement adds the case numbers of the page's rows in order (``case_numbers``)."""

    insert: Callable[[ColumnElement[Any]], Insert]
    values: dict[str, Any]
    detail: dict[str, Any]


@lru_cache(maxsize=256)
def _audited_statement(
    page: Select[*tuple[Any, ...]], limit: int, insert: Callable[[ColumnElement[Any]], Insert]
) -> Select[*tuple[Any, ...]]:
    """``page`` (its rows in order, one past ``limit`` when more follow) with its audit
    record as a CTE of the same statement: the rows are numbered as they come, and the
    record lists the case numbers of the first ``limit`` of them in that order."""
    ordered = page.subquery("wq_page")
    rows = select(*ordered.c, func.row_number().over().label("wq_n")).cte("wq_rows")
    shown = (
        select(func.jsonb_agg(aggregate_order_by(rows.c.case_number, rows.c.wq_n)))
        .where(rows.c.wq_n <= _fixed(limit), rows.c.case_number.is_not(None))
        .scalar_subquery()
    )
    listed = func.jsonb_build_object(
        _fixed("case_numbers"), func.coalesce(shown, literal_column("'[]'::jsonb"))
    )
    detail = bindparam("wq_detail", type_=JSONB).op("||", return_type=JSONB)(listed)
    # The navigation's figures are the same on every row: sent with the first only.
    columns: list[Any] = [c for c in rows.c if c.name != "wq_n"]
    first = len(_COLUMNS) + 1  # the row's own columns and its "and N more"
    columns[first:] = [case((rows.c.wq_n == _fixed(1), c)) for c in columns[first:]]
    return select(*columns).add_cte(insert(detail).cte("wq_audit")).order_by(rows.c.wq_n)


def page_and_counts(
    session: Session,
    actor: Actor,
    *,
    items: ItemFilter,
    case_filter: CaseFilter | None,
    sort: str,
    limit: int,
    offset: int,
    now: datetime,
    teams: Sequence[str],
    cap: int,
    audited: Audited | None = None,
) -> tuple[list[QueueRow], bool, Counts]:
    """One row per case (its most urgent item) in the chosen order, with how many more
    open items the case has, whether more rows follow, and the navigation's
    :func:`counts` with the page's ``total``: one statement. An empty page carries no
    figures, so they are read on their own then (and for whoever is not staff).

    ``audited`` (PostgreSQL only): the statement also writes the read's audit record,
    listing the page's case numbers, and is sent by the driver's own cursor as a unit
    of work of its own (``raw.fetch_all(alone=True)``): read, record and commit in one
    round trip when nothing else is open in the session's transaction."""
    staff = actor.is_staff
    stmt = _page_statement(
        staff,
        items.shape(),
        _case_shape(case_filter),
        sort,
        limit,
        offset,
        tuple(teams) if staff else None,
        cap,
    )
    params = {**items.params(), **_case_params(case_filter)}
    if staff or sort != "due":
        params["wq_now"] = now
    if sort != "due":
        params["wq_soon"] = now + rules.ABOUT_TO_BREACH
    connection = session.connection()
    if audited is None:
        found: Sequence[Sequence[Any]] = connection.execute(stmt, params).all()
    else:
        params.update(audited.values, wq_detail=audited.detail)
        statement = _audited_statement(stmt, limit, audited.insert)
        found = list(raw.fetch_all(connection, statement, params, alone=True))
    width = len(_COLUMNS)
    rows = []
    figures: Counts | None = None
    for values in found:
        rows.append(_queue_row(tuple(values[:width]), max(0, int(values[width] or 0) - 1)))
        if staff and figures is None:
            figures = _counts_of(teams, cap, [int(v or 0) for v in values[width + 1 :]])
    if figures is None:
        figures = counts(session, actor, now, teams, cap, rows_of=Listing(items, case_filter))
    return rows[:limit], len(rows) > limit, figures


def _rows_capped(
    staff: bool, items: ItemFilter, case_filter: CaseFilter | None, cap: int
) -> ColumnElement[int]:
    """How many rows the queue has with these filters, up to about ``cap`` (the caller
    caps it): the distinct cases among the filtered items (each case is one row, its
    most urgent item) plus the items without a case. The cases are read in case order,
    so PostgreSQL walks a partial index (``ix_work_items_open_team_referral_id`` for a
    team, ``..._referral_id_due_at`` for all) and stops after ``cap`` distinct cases,
    without looking at the cases' other items."""
    cases = select(WorkItem.referral_id).where(
        _scope(staff), *items.apply(WorkItem), WorkItem.referral_id.is_not(None)
    )
    if case_filter is not None:
        cases = _by_case(cases.join(Referral, Referral.id == WorkItem.referral_id), case_filter)
    keys = cases.distinct().order_by(WorkItem.referral_id).limit(_fixed(cap)).subquery()
    total: ColumnElement[int] = select(func.count()).select_from(keys).scalar_subquery()
    if case_filter is None:
        # Work without a case is a row of its own; a case filter leaves it out.
        caseless = (
            select(WorkItem.id)
            .where(_scope(staff), *items.apply(WorkItem), WorkItem.referral_id.is_(None))
            .limit(_fixed(cap))
            .subquery()
        )
        total = total + select(func.count()).select_from(caseless).scalar_subquery()
    return total


_IDS: BindParameter[list[int]] = bindparam("wq_ids", expanding=True)
_ITEM_COLUMNS = (*_COLUMNS[:14],)  # the item and its owner; the case's columns follow
_NO_CASE = (None,) * (len(_COLUMNS) - len(_ITEM_COLUMNS))


def _case_items(cases: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(*_ITEM_COLUMNS)
        .select_from(WorkItem)
        .outerjoin(User, User.id == WorkItem.owner_user_id)
        .where(cases, _OPEN)
        .order_by(WorkItem.due_at, WorkItem.id)
    )


_CASE_ITEMS = _case_items(WorkItem.referral_id.in_(_IDS))
#: The same on PostgreSQL with the ids as one array, prepared once (``raw.fetch_all``).
_CASE_ITEMS_ARRAY = _case_items(
    WorkItem.referral_id == any_(bindparam("wq_id_array", type_=ARRAY(Integer)))
)


def open_items_of_cases(session: Session, referral_ids: Iterable[int]) -> list[QueueRow]:
    """Every open item of these cases, in due order (the API's items per case). The
    rows leave the case's own columns empty: the caller has them from the page.
    On PostgreSQL a read of its own (``raw.fetch_all(alone=True)``): after a page that
    committed itself, no BEGIN and COMMIT around it."""
    ids = sorted(set(referral_ids))
    if not ids:
        return []
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        found = connection.execute(_CASE_ITEMS, {"wq_ids": ids}).all()
        return [_queue_row((*r, *_NO_CASE)) for r in found]
    rows = raw.fetch_all(connection, _CASE_ITEMS_ARRAY, {"wq_id_array": ids}, alone=True)
    return [_queue_row((*r, *_NO_CASE)) for r in rows]


def item(session: Session, actor: Actor, item_id: int) -> QueueRow | None:
    """One item as the queue shows it, open or closed; None if not visible."""
    stmt = (
        select(*_COLUMNS)
        .select_from(WorkItem)
        .outerjoin(Referral, Referral.id == WorkItem.referral_id)
        .outerjoin(Payer, Payer.id == Referral.payer_id)
        .outerjoin(User, User.id == WorkItem.owner_user_id)
        .where(_scope(actor.is_staff), WorkItem.id == item_id)
    )
    found = session.execute(stmt).first()
    return _queue_row(tuple(found)) if found is not None else None


@dataclass(frozen=True, slots=True)
class Counts:
    """The navigation's figures, each counted up to ``cap`` (at ``cap``: that many or
    more), so that reading them costs the same however much work is open; with the
    queue's own row count when asked for (``total``)."""

    by_team: dict[str, int]
    supervisor: int
    manager: int
    overdue: int
    cap: int
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """The queue a caller is reading, for counting its rows alongside the figures."""

    items: ItemFilter
    case_filter: CaseFilter | None


def _capped(cap: int, *where: ColumnElement[bool]) -> Any:
    rows = select(WorkItem.id).where(_OPEN, *where).limit(_fixed(cap)).subquery()
    return select(func.count()).select_from(rows).scalar_subquery()


def _kept(*where: ColumnElement[bool]) -> Any:
    """Open items as ``work_item_counts`` keeps them (a sum over a few rows)."""
    counted = func.coalesce(func.sum(WorkItemCount.open_items), _fixed(0))
    return select(counted).where(*where).scalar_subquery()


def _figures(teams: tuple[str, ...], cap: int, rows_of: Listing | None) -> list[Any]:
    """Open items per team, at level 2 and up, at level 3 (kept per team and level as
    items open, close and climb: ``work_item_counts``), past due at ``wq_now`` (an index
    walk of at most ``cap``: time alone makes an item overdue), and with ``rows_of`` the
    queue's row count (a walk of at most ``cap`` cases)."""
    figures = [_kept(WorkItemCount.team == _fixed(team)) for team in teams]
    figures += [
        _kept(WorkItemCount.level >= _fixed(2)),
        _kept(WorkItemCount.level >= _fixed(3)),
        _capped(cap, WorkItem.due_at <= bindparam("wq_now")),
    ]
    if rows_of is not None:
        figures.append(_rows_capped(True, rows_of.items, rows_of.case_filter, cap))
    return figures


@lru_cache(maxsize=64)
def _counts_statement(
    teams: tuple[str, ...], cap: int, rows_of: Listing | None
) -> Select[*tuple[Any, ...]]:
    return select(*_figures(teams, cap, rows_of))


def _counts_of(teams: Sequence[str], cap: int, values: list[int]) -> Counts:
    """The figures of :func:`_figures` in order (the row count last), each capped."""
    total = min(cap, values.pop())
    values = [min(cap, v) for v in values]
    return Counts(
        dict(zip(teams, values, strict=False)), values[-3], values[-2], values[-1], cap, total
    )


def counts(
    session: Session,
    actor: Actor,
    now: datetime,
    teams: Sequence[str],
    cap: int,
    *,
    rows_of: Listing | None = None,
) -> Counts:
    """Open items per team, at the supervisor's level and up, at the manager's, and past
    due now (the header), and with ``rows_of`` how many rows that queue has: one
    statement, each figure an index walk of at most ``cap`` entries
    (``ix_work_items_open_team_due_at``, ``..._level_due_at``, ``..._due_at``)."""
    if not actor.is_staff:
        return Counts({t: 0 for t in teams}, 0, 0, 0, cap, 0 if rows_of is not None else None)
    shape = None
    params: dict[str, Any] = {"wq_now": now}
    if rows_of is not None:
        shape = Listing(rows_of.items.shape(), _case_shape(rows_of.case_filter))
        params.update(rows_of.items.params(), **_case_params(rows_of.case_filter))
    stmt = _counts_statement(tuple(teams), cap, shape)
    values = [int(v or 0) for v in session.connection().execute(stmt, params).one()]
    if rows_of is None:
        values.append(0)
        return replace(_counts_of(teams, cap, values), total=None)
    return _counts_of(teams, cap, values)


def case_items(session: Session, referral_id: int) -> list[WorkItem]:
    """Every item of a case, open or done, oldest first (the case page)."""
    stmt = (
        select(WorkItem)
        .where(WorkItem.referral_id == referral_id)
        .order_by(WorkItem.opened_at, WorkItem.id)
    )
    return list(session.scalars(stmt))


# ---- keeping items in step -----------------------------------------------------------------


def open_items_of(session: Session, referral_id: int) -> list[WorkItem]:
    """The case's open items, locked for this transaction (PostgreSQL; SQLite has one
    writer) and read afresh: their team and level are what the counts move from."""
    stmt = (
        select(WorkItem)
        .where(WorkItem.referral_id == referral_id, _OPEN)
        .order_by(WorkItem.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def open_by_subject(session: Session, subject: str) -> WorkItem | None:
    """The open item for ``subject``, locked and read afresh (see :func:`open_items_of`)."""
    stmt = (
        select(WorkItem)
        .where(WorkItem.subject == subject, _OPEN)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).first()


def insert_items(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT for all the rows (intake's hot path; COPY for a bulk intake's many),
    and the counts moved with them."""
    copy.insert_rows(session, table_of(WorkItem), rows)
    count(
        session,
        Counter(
            (str(r["team"]), int(r.get("level") or 1)) for r in rows if r.get("closed_at") is None
        ),
    )


def close(session: Session, item_ids: Sequence[int], *, at: datetime) -> None:
    if item_ids:
        closed = session.execute(
            update(WorkItem)
            .where(WorkItem.id.in_(list(item_ids)), _OPEN)
            .values(closed_at=at, climbs_at=None)
            .returning(WorkItem.team, WorkItem.level)
        ).all()
        uncount(session, closed)


def close_subject(session: Session, subject: str, *, at: datetime) -> int:
    closed = session.execute(
        update(WorkItem)
        .where(WorkItem.subject == subject, _OPEN)
        .values(closed_at=at, climbs_at=None)
        .returning(WorkItem.team, WorkItem.level)
    ).all()
    uncount(session, closed)
    return len(closed)


def open_clock_dues(session: Session, referral_id: int) -> dict[str, datetime]:
    """The nearest due time of each kind of the case's open clocks."""
    stmt = (
        select(Clock.kind, func.min(Clock.due_at))
        .where(Clock.referral_id == referral_id, Clock.status == ClockStatus.open)
        .group_by(Clock.kind)
    )
    return {str(kind): due for kind, due in session.execute(stmt)}


# ---- the ladder ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Climbing:
    """An open item whose next climb is due, with what the ladder rules read."""

    item: WorkItem
    time_zone: str | None
    payer_code: str | None


def due_to_climb(session: Session, now: datetime, limit: int) -> list[Climbing]:
    """Open items whose ``climbs_at`` has come, locked (other workers skip them)."""
    stmt = (
        select(WorkItem, Referral.time_zone, Payer.code)
        .outerjoin(Referral, Referral.id == WorkItem.referral_id)
        .outerjoin(Payer, Payer.id == Referral.payer_id)
        .where(_OPEN, WorkItem.climbs_at <= now)
        .order_by(WorkItem.climbs_at, WorkItem.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WorkItem)
        .execution_options(populate_existing=True)
    )
    return [Climbing(row[0], row[1], row[2]) for row in session.execute(stmt)]


# ---- claiming ------------------------------------------------------------------------------


def claim(
    session: Session, *, item_id: int, referral_id: int | None, user_id: int, at: datetime
) -> int:
    """Take the item (or, given its case, every unclaimed open item of the case); how
    many were taken. A concurrent claimer waits on the row lock and then finds it taken."""
    target = (
        WorkItem.referral_id == referral_id if referral_id is not None else WorkItem.id == item_id
    )
    result = session.connection().execute(
        update(WorkItem)
        .where(target, _OPEN, WorkItem.owner_user_id.is_(None))
        .values(owner_user_id=user_id, claimed_at=at)
    )
    return int(result.rowcount)


def release(session: Session, *, item_id: int, referral_id: int | None, assignee: int) -> int:
    """Give back what ``assignee`` holds of the item (or of its case)."""
    target = (
        WorkItem.referral_id == referral_id if referral_id is not None else WorkItem.id == item_id
    )
    result = session.connection().execute(
        update(WorkItem)
        .where(target, _OPEN, WorkItem.owner_user_id == assignee)
        .values(owner_user_id=None, claimed_at=None)
    )
    return int(result.rowcount)


def case_clocks(session: Session, actor: Actor, case_number: str) -> list[Clock]:
    """Every clock of a case, whatever its status, in due order (the case page)."""
    if not actor.is_staff:
        return []
    stmt = (
        select(Clock)
        .join(Referral, Referral.id == Clock.referral_id)
        .where(Referral.case_number == case_number)
        .order_by(Clock.due_at, Clock.id)
    )
    return list(session.scalars(stmt))
