"""Work-queue queries: one indexed statement per page, and the conditional updates that
claim and release an item. Nothing commits here.

A page reads open clocks in due order from ``ix_clocks_team_status_due_at`` (a team's
queue) or ``ix_clocks_assigned_user_id_status_due_at`` (my queue), stops after the page,
and joins each row to its referral and assignee by primary key: the cost follows the page
size, not the number of open clocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.identity.models import User
from careloop.payer.models import Payer
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.referral.models import Referral
from careloop.sla.models import Clock, ClockKind, ClockStatus
from careloop.workqueue.schemas import CaseFilter


@dataclass(frozen=True, slots=True)
class QueueRow:
    """An open clock with what the queue shows of its case and its assignee."""

    clock_id: int
    kind: ClockKind
    team: str
    status: ClockStatus
    due_at: datetime
    referral_id: int | None
    offer_id: int | None
    provider_id: int | None
    subject_id: int | None
    assigned_user_id: int | None
    assigned_at: datetime | None
    assignee_name: str | None
    case_number: str | None
    referral_status: ReferralStatus | None
    urgency: Urgency | None
    discharge_at: datetime | None
    member_first_name: str | None
    member_last_name: str | None

    @property
    def discharge_dependent(self) -> bool:
        return (
            self.kind is ClockKind.discharge
            or self.urgency is Urgency.discharge
            or self.discharge_at is not None
        )


_COLUMNS = (
    Clock.id,
    Clock.kind,
    Clock.team,
    Clock.status,
    Clock.due_at,
    Clock.referral_id,
    Clock.offer_id,
    Clock.provider_id,
    Clock.subject_id,
    Clock.assigned_user_id,
    Clock.assigned_at,
    User.display_name,
    Referral.case_number,
    Referral.status,
    Referral.urgency,
    Referral.discharge_at,
    Referral.member_first_name,
    Referral.member_last_name,
)

# Among equal due times, the item a hospital discharge waits on comes first (rules.py).
_DISCHARGE_LAST = case(
    (
        or_(
            Clock.kind == ClockKind.discharge,
            Referral.urgency == Urgency.discharge,
            Referral.discharge_at.is_not(None),
        ),
        0,
    ),
    else_=1,
)


def visible_to(actor: Actor) -> Select[*tuple[Any, ...]]:
    """The queue an actor may read: the coordination staff see every team's clocks;
    anyone else none (their role is refused before this, the scope is the second lock).
    Credential clocks have no referral, hence the outer join."""
    stmt = (
        select(*_COLUMNS)
        .select_from(Clock)
        .outerjoin(Referral, Referral.id == Clock.referral_id)
        .outerjoin(User, User.id == Clock.assigned_user_id)
    )
    return stmt.where(true() if actor.is_staff else false())


def _row(row: tuple[object, ...]) -> QueueRow:
    return QueueRow(*row)  # type: ignore[arg-type]  # columns in field order


def page(
    session: Session,
    actor: Actor,
    *,
    team: str | None,
    assigned_user_id: int | None,
    kind: ClockKind | None,
    limit: int,
    offset: int,
    case_filter: CaseFilter | None = None,
) -> tuple[list[QueueRow], bool]:
    """Open clocks in urgency order (paused ones wait on someone else and are left out);
    returns the page and whether more follow."""
    stmt = visible_to(actor).where(Clock.status == ClockStatus.open)
    if team is not None:
        stmt = stmt.where(Clock.team == team)
    if assigned_user_id is not None:
        stmt = stmt.where(Clock.assigned_user_id == assigned_user_id)
    if kind is not None:
        stmt = stmt.where(Clock.kind == kind)
    if case_filter is not None:
        stmt = _by_case(stmt, case_filter)
    stmt = stmt.order_by(Clock.due_at, _DISCHARGE_LAST, Clock.id).limit(limit + 1).offset(offset)
    rows = [_row(tuple(r)) for r in session.execute(stmt)]
    return rows[:limit], len(rows) > limit


def _by_case(stmt: Select[*tuple[Any, ...]], flt: CaseFilter) -> Select[*tuple[Any, ...]]:
    if flt.referral_status:
        stmt = stmt.where(Referral.status == flt.referral_status)
    if flt.urgency:
        stmt = stmt.where(Referral.urgency == flt.urgency)
    if flt.payer_code:
        payer_ids = select(Payer.id).where(func.upper(Payer.code) == flt.payer_code.upper())
        stmt = stmt.where(Referral.payer_id.in_(payer_ids.scalar_subquery()))
    return stmt


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


def item(session: Session, actor: Actor, clock_id: int) -> QueueRow | None:
    """One clock as the queue shows it, whatever its status; None if not visible."""
    found = session.execute(visible_to(actor).where(Clock.id == clock_id)).first()
    return _row(tuple(found)) if found is not None else None
