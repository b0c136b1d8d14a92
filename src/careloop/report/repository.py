"""KPI queries: plain columns over a bounded window (the last few weeks), grouped in
rules.py. Nothing commits here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from careloop.db.base import table_of
from careloop.network.models import Provider
from careloop.payer.models import Payer
from careloop.referral.models import Referral, ReferralEvent, ReferralItem
from careloop.report import kpis, rules
from careloop.report.models import CaseFactRow, ReportRun, ReportSnapshot
from careloop.sla.models import Clock, ClockKind, ClockStatus


def received_and_acknowledged(
    session: Session, since: datetime
) -> list[tuple[datetime, datetime | None]]:
    stmt = select(Referral.received_at, Referral.acknowledged_at).where(
        Referral.received_at >= since
    )
    return [(r[0], r[1]) for r in session.execute(stmt)]


def received_count(session: Session, start: datetime, end: datetime) -> int:
    stmt = select(func.count(Referral.id)).where(
        Referral.received_at >= start, Referral.received_at < end
    )
    return int(session.scalar(stmt) or 0)


def overdue_count(session: Session, now: datetime) -> int:
    stmt = select(func.count(Clock.id)).where(Clock.status == ClockStatus.open, Clock.due_at <= now)
    return int(session.scalar(stmt) or 0)


def ended_service_starts(
    session: Session, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(due_at, met_at) of service-start deadlines due in the window that ended."""
    stmt = select(Clock.due_at, Clock.met_at).where(
        Clock.kind == ClockKind.service_start,
        Clock.status.in_([ClockStatus.met, ClockStatus.breached]),
        Clock.due_at >= since,
        Clock.due_at < until,
    )
    return [(r[0], r[1]) for r in session.execute(stmt)]


def snapshot(session: Session, name: str) -> ReportSnapshot | None:
    return session.scalars(select(ReportSnapshot).where(ReportSnapshot.name == name)).first()


def save_snapshot(
    session: Session, name: str, *, computed_at: datetime, data: dict[str, Any]
) -> None:
    row = snapshot(session, name)
    if row is None:
        session.add(ReportSnapshot(name=name, computed_at=computed_at, data=data))
    else:
        row.computed_at, row.data = computed_at, data
    session.flush()


# ---- case facts --------------------------------------------------------------------------------

_FACTS = table_of(CaseFactRow)
_EVENTS = table_of(ReferralEvent)
WATERMARK = "case_facts:last_event_id"


def watermark(session: Session) -> int:
    row = snapshot(session, WATERMARK)
    return int(row.data.get("id", 0)) if row is not None else 0


def set_watermark(session: Session, value: int, *, now: datetime) -> None:
    save_snapshot(session, WATERMARK, computed_at=now, data={"id": value})


def touched_since(session: Session, after_id: int, limit: int) -> tuple[list[int], int]:
    """The cases with events after ``after_id`` (the first ``limit`` events), and the
    last event id read."""
    stmt = (
        select(_EVENTS.c.id, _EVENTS.c.referral_id)
        .where(_EVENTS.c.id > after_id)
        .order_by(_EVENTS.c.id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return [], after_id
    return sorted({r[1] for r in rows}), int(rows[-1][0])


def touched_between(session: Session, after_id: int, up_to_id: int) -> list[int]:
    """The cases with events in (after_id, up_to_id]."""
    stmt = (
        select(_EVENTS.c.referral_id)
        .where(_EVENTS.c.id > after_id, _EVENTS.c.id <= up_to_id)
        .distinct()
    )
    return list(session.scalars(stmt))


def all_referral_ids(session: Session, after_id: int, limit: int) -> list[int]:
    stmt = select(Referral.id).where(Referral.id > after_id).order_by(Referral.id).limit(limit)
    return list(session.scalars(stmt))


def max_event_id(session: Session) -> int:
    return int(session.scalar(select(func.max(_EVENTS.c.id))) or 0)


def events_of(session: Session, referral_ids: Sequence[int]) -> dict[int, list[rules.EventFact]]:
    """Every event of these cases (the columns the fold reads; no PHI in them)."""
    out: dict[int, list[rules.EventFact]] = {rid: [] for rid in referral_ids}
    stmt = (
        select(
            _EVENTS.c.referral_id,
            _EVENTS.c.id,
            _EVENTS.c.at,
            _EVENTS.c.type,
            _EVENTS.c.channel,
            _EVENTS.c.provider_id,
            _EVENTS.c.data,
        )
        .where(_EVENTS.c.referral_id.in_(referral_ids))
        .order_by(_EVENTS.c.referral_id, _EVENTS.c.id)
    )
    for r in session.execute(stmt):
        out[r[0]].append(rules.EventFact(r[1], r[2], r[3], r[4], r[5], dict(r[6] or {})))
    return out


def payers_of(session: Session, referral_ids: Sequence[int]) -> dict[int, int | None]:
    stmt = select(Referral.id, Referral.payer_id).where(Referral.id.in_(referral_ids))
    return {r[0]: r[1] for r in session.execute(stmt)}


def replace_facts(
    session: Session, referral_ids: Sequence[int], rows: Sequence[dict[str, Any]]
) -> None:
    """The facts of these cases, replaced in one delete and one insert."""
    if not referral_ids:
        return
    conn = session.connection()
    conn.execute(delete(_FACTS).where(_FACTS.c.referral_id.in_(referral_ids)))
    if rows:
        conn.execute(insert(_FACTS), list(rows))


def clear_facts(session: Session) -> None:
    session.connection().execute(delete(_FACTS))


def facts_rows(session: Session, referral_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Facts rows, of these cases or of every case, by case."""
    stmt = select(_FACTS).order_by(_FACTS.c.referral_id)
    if referral_ids is not None:
        stmt = stmt.where(_FACTS.c.referral_id.in_(referral_ids))
    return [dict(r._mapping) for r in session.execute(stmt)]


def _flag(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _counter_columns(now: datetime) -> list[Any]:
    f = _FACTS.c
    cut = now - rules.ACK_WITHIN
    return [
        func.count().label("referrals"),
        _flag(or_(f.acknowledged_at.is_not(None), f.received_at < cut)).label("ack_decided"),
        _flag(f.ack_within_24h).label("ack_hits"),
        func.count(f.ack_seconds).label("ack_n"),
        func.coalesce(func.sum(f.ack_seconds), 0.0).label("ack_seconds"),
        func.count(f.start_seconds).label("start_n"),
        func.coalesce(func.sum(f.start_seconds), 0.0).label("start_seconds"),
        _flag(
            or_(
                f.started_on_time.is_not(None),
                and_(f.is_open, f.service_due_at < now),
            )
        ).label("on_time_decided"),
        _flag(f.started_on_time.is_(True)).label("on_time_hits"),
        func.sum(f.offers_made).label("offers_made"),
        func.sum(f.offers_accepted).label("offers_accepted"),
        func.count(f.first_offer_accepted).label("first_offers"),
        _flag(f.first_offer_accepted.is_(True)).label("first_offers_accepted"),
        _flag(f.needed_clarification).label("clarified"),
        func.sum(f.auth_approved).label("auth_approved"),
        func.sum(f.auth_denied).label("auth_denied"),
        func.sum(f.auth_appealed).label("auth_appealed"),
        func.sum(f.auth_overturned).label("auth_overturned"),
        func.sum(f.auth_upheld).label("auth_upheld"),
        func.sum(f.auth_standard_n).label("auth_standard_n"),
        func.sum(f.auth_standard_seconds).label("auth_standard_seconds"),
        func.sum(f.auth_expedited_n).label("auth_expedited_n"),
        func.sum(f.auth_expedited_seconds).label("auth_expedited_seconds"),
        func.sum(f.claims).label("claims"),
        func.sum(f.filing_missed).label("filing_missed"),
        func.sum(f.grievances).label("grievances"),
        func.sum(f.grievances_substantiated).label("grievances_substantiated"),
    ]


def _spread_columns() -> list[Any]:
    """PostgreSQL's ``percentile_cont`` of each spread, in the same GROUP BY (NULLs are
    left out, as ``kpis.spread_of`` leaves them out)."""
    return [
        func.percentile_cont(q).within_group(_FACTS.c[column]).label(name)
        for name, (column, q) in kpis.SPREAD_OF.items()
    ]


def _has_percentiles(session: Session) -> bool:
    """PostgreSQL computes percentiles in SQL; SQLite has no ``percentile_cont``, so
    there the durations are read and ``kpis.percentile`` (the same definition) is used."""
    return session.get_bind().dialect.name == "postgresql"


_DIMENSION_COLUMNS = {
    "payer": _FACTS.c.payer_id,
    "provider": _FACTS.c.provider_id,
    "service_line": _FACTS.c.service_line,
}


def kpi_counters(
    session: Session, grain: str, first: date, last: date, dimension: str, now: datetime
) -> list[tuple[date, Any, rules.Figures]]:
    """The pack's sums and spreads for the cases received in the periods [first, last]
    (first days of weeks or months), by period and by ``dimension`` (None key for
    "all"): one GROUP BY over the facts, read through the period's index."""
    period = _period_column(grain)
    key = _DIMENSION_COLUMNS.get(dimension)
    keys = [period] if key is None else [period, key]
    in_sql = _has_percentiles(session)
    stmt = (
        select(*keys, *_counter_columns(now), *(_spread_columns() if in_sql else []))
        .where(period >= first, period <= last)
        .group_by(*keys)
        .order_by(*keys)
    )
    rows = session.execute(stmt).all()
    spreads = {} if in_sql else _spreads_read(session, grain, first, last, dimension)[0]
    out = []
    for row in rows:
        values = dict(row._mapping)
        at, group = _as_date(row[0]), row[1] if key is not None else None
        spread = rules.spread_from(values) if in_sql else spreads.get((at, group), rules.Spread())
        out.append((at, group, rules.Figures(rules.counters_from(values), spread)))
    return out


def period_spreads(
    session: Session, grain: str, first: date, last: date
) -> dict[date, rules.Spread]:
    """Each period's spread over every case together (a spread does not add up from
    its groups' spreads)."""
    if not _has_percentiles(session):
        return _spreads_read(session, grain, first, last, "all")[1]
    period = _period_column(grain)
    stmt = (
        select(period, *_spread_columns()).where(period >= first, period <= last).group_by(period)
    )
    return {_as_date(r[0]): rules.spread_from(dict(r._mapping)) for r in session.execute(stmt)}


def _spreads_read(
    session: Session, grain: str, first: date, last: date, dimension: str
) -> tuple[dict[tuple[date, Any], rules.Spread], dict[date, rules.Spread]]:
    """The spreads by period and group, and by period alone, from the durations read
    (the SQLite path)."""
    f = _FACTS.c
    period = _period_column(grain)
    key = _DIMENSION_COLUMNS.get(dimension)
    stmt = select(period, key if key is not None else period, f.ack_seconds, f.start_seconds).where(
        period >= first,
        period <= last,
        or_(f.ack_seconds.is_not(None), f.start_seconds.is_not(None)),
    )
    groups: dict[tuple[date, Any], tuple[list[float], list[float]]] = {}
    totals: dict[date, tuple[list[float], list[float]]] = {}
    for first_day, group, ack, start in session.execute(stmt):
        at = _as_date(first_day)
        for bucket in (
            groups.setdefault((at, group if key is not None else None), ([], [])),
            totals.setdefault(at, ([], [])),
        ):
            if ack is not None:
                bucket[0].append(ack)
            if start is not None:
                bucket[1].append(start)
    return (
        {k: rules.spread_of(*v) for k, v in groups.items()},
        {k: rules.spread_of(*v) for k, v in totals.items()},
    )


def _period_column(grain: str) -> Any:
    return _FACTS.c.received_week if grain == "week" else _FACTS.c.received_month


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


class OpenCase(NamedTuple):
    case_number: str
    payer: str | None
    provider: str | None
    received_at: datetime
    status: str | None
    owner: str | None
    next_due_at: datetime | None


def open_cases(session: Session) -> list[OpenCase]:
    """Every open case with what the weekly report shows (no member data), by payer,
    provider and age."""
    f = _FACTS.c
    stmt = (
        select(
            Referral.case_number,
            Payer.name,
            Provider.legal_name,
            f.received_at,
            f.status,
            f.owner,
            f.next_due_at,
        )
        .select_from(_FACTS)
        .join(Referral, Referral.id == f.referral_id)
        .outerjoin(Payer, Payer.id == f.payer_id)
        .outerjoin(Provider, Provider.id == f.provider_id)
        .where(f.is_open)
        .order_by(Payer.name, Provider.legal_name, f.received_at)
    )
    return [OpenCase(*r) for r in session.execute(stmt)]


class ImportRow(NamedTuple):
    channel: str | None
    status: str | None
    needed_clarification: bool
    clarification_codes: list[str]
    possible_duplicate: bool


def received_between(session: Session, start: datetime, end: datetime) -> list[ImportRow]:
    f = _FACTS.c
    stmt = select(
        f.channel, f.status, f.needed_clarification, f.clarification_codes, f.possible_duplicate
    ).where(f.received_at >= start, f.received_at < end)
    return [
        ImportRow(r[0], r[1], bool(r[2]), list(r[3] or []), bool(r[4]))
        for r in session.execute(stmt)
    ]


class DenialRow(NamedTuple):
    referral_id: int
    payer_id: int | None
    payer: str | None
    provider: str | None
    reason: str | None
    item: str | None
    appealed: int
    overturned: int
    upheld: int


def denied_between(session: Session, start: datetime, end: datetime) -> list[DenialRow]:
    """Cases whose authorisation was denied in [start, end), with the first item's code."""
    f = _FACTS.c
    first_item = (
        select(ReferralItem.code)
        .where(ReferralItem.referral_id == f.referral_id)
        .order_by(ReferralItem.line)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(
            f.referral_id,
            f.payer_id,
            Payer.name,
            Provider.legal_name,
            f.denial_reason,
            first_item,
            f.auth_appealed,
            f.auth_overturned,
            f.auth_upheld,
        )
        .select_from(_FACTS)
        .outerjoin(Payer, Payer.id == f.payer_id)
        .outerjoin(Provider, Provider.id == f.provider_id)
        .where(f.denied_at >= start, f.denied_at < end)
        .order_by(f.referral_id)
    )
    return [DenialRow(*r) for r in session.execute(stmt)]


def items_of(
    session: Session, referral_ids: Sequence[int]
) -> dict[int, list[tuple[str, int, bool | None]]]:
    """Each case's items as the fee schedule prices them: code, quantity, rental."""
    out: dict[int, list[tuple[str, int, bool | None]]] = {rid: [] for rid in referral_ids}
    if not referral_ids:
        return out
    stmt = (
        select(
            ReferralItem.referral_id, ReferralItem.code, ReferralItem.quantity, ReferralItem.rental
        )
        .where(ReferralItem.referral_id.in_(referral_ids))
        .order_by(ReferralItem.referral_id, ReferralItem.line)
    )
    for rid, code, quantity, rental in session.execute(stmt):
        out[rid].append((code, quantity, rental))
    return out


class CaseContext(NamedTuple):
    case_number: str
    payer: str | None
    provider: str | None


def case_context(session: Session, referral_ids: Sequence[int]) -> dict[int, CaseContext]:
    """Case number, payer and provider of these cases (no member data)."""
    if not referral_ids:
        return {}
    f = _FACTS.c
    stmt = (
        select(Referral.id, Referral.case_number, Payer.name, Provider.legal_name)
        .outerjoin(Payer, Payer.id == Referral.payer_id)
        .outerjoin(_FACTS, f.referral_id == Referral.id)
        .outerjoin(Provider, Provider.id == f.provider_id)
        .where(Referral.id.in_(referral_ids))
    )
    return {r[0]: CaseContext(r[1], r[2], r[3]) for r in session.execute(stmt)}


def names(session: Session, dimension: str, keys: Sequence[Any]) -> dict[Any, str]:
    """Display names of payers or providers by id."""
    ids = [k for k in keys if k is not None]
    if not ids:
        return {}
    if dimension == "payer":
        return dict(session.execute(select(Payer.id, Payer.name).where(Payer.id.in_(ids))).all())
    if dimension == "provider":
        return dict(
            session.execute(
                select(Provider.id, Provider.legal_name).where(Provider.id.in_(ids))
            ).all()
        )
    return {}


# ---- scheduled runs ----------------------------------------------------------------------------


def run_of(session: Session, name: str, start: date, end: date) -> ReportRun | None:
    stmt = select(ReportRun).where(
        ReportRun.name == name, ReportRun.period_start == start, ReportRun.period_end == end
    )
    return session.scalars(stmt).first()


def save_run(
    session: Session, name: str, start: date, end: date, *, now: datetime, data: dict[str, Any]
) -> ReportRun:
    run = run_of(session, name, start, end)
    if run is None:
        run = ReportRun(name=name, period_start=start, period_end=end, computed_at=now, data=data)
        session.add(run)
    else:
        run.computed_at, run.data = now, data
    session.flush()
    return run


def runs(session: Session, limit: int) -> list[ReportRun]:
    stmt = (
        select(ReportRun).order_by(ReportRun.computed_at.desc(), ReportRun.id.desc()).limit(limit)
    )
    return list(session.scalars(stmt))


def run_by_id(session: Session, run_id: int) -> ReportRun | None:
    return session.get(ReportRun, run_id)
