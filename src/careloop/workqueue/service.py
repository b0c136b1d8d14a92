"""Work-queue use cases: list what needs a person now, claim an item, release it.

Each runs inside the caller's transaction and never commits. Listing is audited with the
case numbers shown, because the items carry member names (PHI).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from careloop.identity.permissions import require
from careloop.sla import service as sla
from careloop.sla.models import ClockKind, ClockStatus, Team
from careloop.workqueue import repository, rules
from careloop.workqueue.repository import QueueRow
from careloop.workqueue.schemas import (
    AssigneeRead,
    CaseClockRead,
    CaseFilter,
    WorkActionRead,
    WorkItemRead,
    WorkQueuePage,
)


class WorkItemNotFoundError(NotFoundError):
    code = "work_item_not_found"
    title = "No such work item"


class WorkItemClaimedError(ConflictError):
    code = "work_item_claimed"
    title = "Someone else already claimed this item"


class WorkItemNotOpenError(ConflictError):
    code = "work_item_not_open"
    title = "This item no longer needs anyone (met, breached, cancelled or paused)"


class WorkItemNotClaimedError(ConflictError):
    code = "work_item_not_claimed"
    title = "Nobody holds this item"


class WorkItemNotYoursError(ForbiddenError):
    code = "work_item_not_yours"
    title = "Only the assignee or a supervisor may release this item"


# ---- reading -------------------------------------------------------------------------------


def list_queue(
    session: Session,
    actor: Actor,
    *,
    team: Team | None,
    mine: bool,
    kind: ClockKind | None,
    limit: int = rules.DEFAULT_LIMIT,
    offset: int = 0,
    clock: Clock,
    case_filter: CaseFilter | None = None,
) -> WorkQueuePage:
    """What needs a person now, most urgent first (rules.urgency_key): a team's open
    clocks, or the actor's own claimed ones, or both filters together. Paused clocks wait
    on someone outside and are not listed. The read is audited with its case numbers."""
    require(actor, "workqueue:read")
    if not 1 <= limit <= rules.MAX_LIMIT:
        raise RuleViolationError(f"limit must be 1 to {rules.MAX_LIMIT}", field="limit")
    if not 0 <= offset <= rules.MAX_OFFSET:
        raise RuleViolationError(f"offset must be 0 to {rules.MAX_OFFSET}", field="offset")
    if mine and actor.user_id is None:
        raise ForbiddenError("only a signed-in user has a queue of their own")
    rows, has_more = repository.page(
        session,
        actor,
        team=team.value if team is not None else None,
        assigned_user_id=actor.user_id if mine else None,
        kind=kind,
        limit=limit,
        offset=offset,
        case_filter=case_filter,
    )
    now = clock.now()
    rows = rules.in_urgency_order(rows, now)
    audit.record(
        session,
        actor,
        "workqueue.read",
        clock=clock,
        detail={
            "team": team.value if team is not None else None,
            "mine": mine,
            "case_numbers": [r.case_number for r in rows if r.case_number is not None],
        },
    )
    return WorkQueuePage(
        items=[_read(row, now) for row in rows], has_more=has_more, limit=limit, offset=offset
    )


def _read(row: QueueRow, now: datetime) -> WorkItemRead:
    description = rules.describe(row.kind, row.referral_status)
    path = rules.fill_path(
        description.path_template,
        case_number=row.case_number,
        offer_id=row.offer_id,
        provider_id=row.provider_id,
        subject_id=row.subject_id,
    )
    names = [n for n in (row.member_first_name, row.member_last_name) if n]
    assignee = None
    if row.assigned_user_id is not None:
        assignee = AssigneeRead(
            user_id=row.assigned_user_id,
            display_name=row.assignee_name,
            assigned_at=row.assigned_at,
        )
    return WorkItemRead(
        clock_id=row.clock_id,
        kind=row.kind,
        team=Team(row.team),
        case_number=row.case_number,
        member_name=" ".join(names) or None,
        referral_status=row.referral_status.value if row.referral_status else None,
        urgency=row.urgency.value if row.urgency else None,
        discharge_dependent=row.discharge_dependent,
        due_at=row.due_at,
        overdue=rules.is_overdue(now, row.due_at),
        overdue_by_minutes=rules.overdue_minutes(now, row.due_at),
        due_text=rules.due_text(now, row.due_at),
        what=description.what,
        action=WorkActionRead(name=description.action, method=description.method, path=path),
        provider_id=row.provider_id,
        offer_id=row.offer_id,
        assigned_to=assignee,
    )


def _visible_item(session: Session, actor: Actor, clock_id: int) -> QueueRow:
    row = repository.item(session, actor, clock_id)
    if row is None:
        raise WorkItemNotFoundError(f"There is no work item {clock_id} that you can see.")
    return row


def _audit(session: Session, actor: Actor, action: str, row: QueueRow, *, clock: Clock) -> None:
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=row.case_number,
        referral_id=row.referral_id,
        detail={"clock_id": row.clock_id, "kind": row.kind.value},
    )


def case_clocks(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> list[CaseClockRead]:
    """Every deadline of a case (open, paused, met, breached, cancelled) with its due time
    and where the figure comes from, for the case page. Staff only (the queue's scope);
    the caller has read the case itself through the referral service, which audits it."""
    require(actor, "workqueue:read")
    now = clock.now()
    out = []
    for row in repository.case_clocks(session, actor, case_number):
        is_open = row.status is ClockStatus.open
        out.append(
            CaseClockRead(
                clock_id=row.id,
                kind=row.kind,
                status=row.status,
                due_at=row.due_at,
                overdue=is_open and rules.is_overdue(now, row.due_at),
                due_text=rules.due_text(now, row.due_at) if is_open else row.status.value,
                ended_at=row.met_at or row.breached_at or row.cancelled_at,
                rule_source=row.rule_source,
                assigned_user_id=row.assigned_user_id,
            )
        )
    return out


# ---- claiming and releasing ------------------------------------------------------------------


def claim_item(session: Session, actor: Actor, clock_id: int, *, clock: Clock) -> WorkItemRead:
    """Take an open item: it becomes yours and shows in your queue. One claimer wins (a
    conditional UPDATE); claiming your own item again changes nothing."""
    require(actor, "workqueue:claim")
    if actor.user_id is None:
        raise ForbiddenError("only a signed-in user can claim work")
    row = _visible_item(session, actor, clock_id)
    now = clock.now()
    if row.assigned_user_id == actor.user_id and row.status is ClockStatus.open:
        return _read(row, now)
    if not sla.assign(session, clock_id, user_id=actor.user_id, at=now):
        raise _why_not_claimed(_visible_item(session, actor, clock_id), actor)
    claimed = _visible_item(session, actor, clock_id)
    _audit(session, actor, "workqueue.claim", claimed, clock=clock)
    return _read(claimed, now)


def _why_not_claimed(row: QueueRow, actor: Actor) -> ConflictError:
    if row.status is not ClockStatus.open:
        return WorkItemNotOpenError(
            f"Work item {row.clock_id} is {row.status.value}; it needs no one now.",
            extra={"status": row.status.value},
        )
    if row.assigned_user_id is not None and row.assigned_user_id != actor.user_id:
        who = row.assignee_name or f"user {row.assigned_user_id}"
        return WorkItemClaimedError(
            f"Work item {row.clock_id} is already claimed by {who}.",
            extra={"assigned_user_id": row.assigned_user_id, "assigned_to": who},
        )
    return ConflictError(f"Work item {row.clock_id} changed meanwhile; try again.")


def release_item(session: Session, actor: Actor, clock_id: int, *, clock: Clock) -> WorkItemRead:
    """Give an item back to its team's queue. Only its assignee may, or a supervisor
    (when someone is away with items in hand)."""
    require(actor, "workqueue:claim")
    row = _visible_item(session, actor, clock_id)
    if row.assigned_user_id is None:
        raise WorkItemNotClaimedError(f"Work item {clock_id} is not claimed by anyone.")
    if not rules.may_release(
        actor_user_id=actor.user_id,
        is_supervisor=actor.role is Role.supervisor,
        assignee=row.assigned_user_id,
    ):
        who = row.assignee_name or f"user {row.assigned_user_id}"
        raise WorkItemNotYoursError(
            f"Work item {clock_id} is claimed by {who}; only they or a supervisor may release it."
        )
    if not sla.unassign(session, clock_id, assignee=row.assigned_user_id):
        raise ConflictError(f"Work item {clock_id} changed meanwhile; try again.")
    released = _visible_item(session, actor, clock_id)
    _audit(session, actor, "workqueue.release", released, clock=clock)
    return _read(released, clock.now())
