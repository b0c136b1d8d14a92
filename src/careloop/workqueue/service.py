"""Work-queue use cases: keep work items in step with the cases and the other domains'
work, climb the escalation ladder, list the queue one case per row, claim and release.

Each runs inside the caller's transaction and never commits. Listing is audited with the
case numbers shown, because the rows carry member names (PHI).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack

import orjson
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR, Actor, Role
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, ForbiddenError, NotFoundError, RuleViolationError
from careloop.identity.permissions import require
from careloop.referral import moves
from careloop.referral.models import Referral
from careloop.sla import BusinessHours, business_calendar
from careloop.sla.models import ClockStatus
from careloop.workqueue import kept, repository, rules
from careloop.workqueue.models import WorkItem
from careloop.workqueue.repository import ItemFilter, QueueRow
from careloop.workqueue.schemas import (
    AssigneeRead,
    CaseClockRead,
    CaseFilter,
    QueueCaseRead,
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
    title = "This work is done; it needs no one now"


class WorkItemNotClaimedError(ConflictError):
    code = "work_item_not_claimed"
    title = "Nobody holds this item"


class WorkItemNotYoursError(ForbiddenError):
    code = "work_item_not_yours"
    title = "Only the assignee or a supervisor may release this item"


# ---- keeping the items in step (event handlers) ----------------------------------------------


def _facts(referral: Referral, now: datetime, clock_due: dict[str, datetime]) -> rules.CaseFacts:
    return rules.CaseFacts(
        referral_id=referral.id,
        status=referral.status,
        acknowledged=referral.acknowledged_at is not None,
        ack_due_at=referral.ack_due_at,
        service_due_at=referral.service_due_at,
        changed_at=now,
        clock_due=clock_due,
    )


def _row(
    work: rules.NeededWork, referral_id: int | None, now: datetime, *, discharge_last: bool
) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "subject": work.subject,
        "kind": work.kind,
        "team": work.team,
        "level": rules.TEAM_LEVEL,
        "title": work.title,
        "due_at": work.due_at,
        "discharge_last": discharge_last,
        "opened_at": now,
        "climbs_at": work.due_at,
    }


def _discharge_last(case: Referral | None) -> bool:
    """The case's place among items due at the same time (``WorkItem.discharge_last``);
    work without a case has no discharge waiting on it."""
    if case is None:
        return True
    return rules.discharge_last(case.urgency, case.discharge_at)


def on_status_changed(
    *,
    session: Session,
    clock: Clock,
    referral_id: int,
    status: object,
    referral: Referral | None = None,
    new: bool = False,
    **_: Any,
) -> None:
    """``referral.status_changed``: open the work the case's status calls for, close the
    status work it no longer needs, and every item of a closed or cancelled case; a
    discharge reported on the case (announced the same way) moves its open items ahead
    of others due at the same time.

    A new case (``new=True``, intake's hot path) has nothing open yet: one INSERT."""
    now = clock.now()
    case = referral if referral is not None else session.get(Referral, referral_id)
    if case is None:
        return
    last = _discharge_last(case)
    if new:
        first = rules.needed_work(_facts(case, now, {}))
        repository.insert_items(
            session, [_row(w, referral_id, now, discharge_last=last) for w in first]
        )
        return
    open_items = repository.open_items_of(session, referral_id)
    if not rules.needs_person(str(status)):
        repository.close(session, [i.id for i in open_items], at=now)
        return
    for i in open_items:
        if i.discharge_last != last:
            i.discharge_last = last
    needed = {
        w.subject: w
        for w in rules.needed_work(
            _facts(case, now, repository.open_clock_dues(session, referral_id))
        )
    }
    prefix = rules.case_subject_prefix(referral_id)
    done = [i.id for i in open_items if i.subject.startswith(prefix) and i.subject not in needed]
    repository.close(session, done, at=now)
    held = {i.subject: i for i in open_items}
    for subject, work in needed.items():
        if subject in held:
            _update(session, held[subject], work.due_at, work.title, work.team)
    # Whoever holds the case's work keeps it through the next step.
    holder = next((i.owner_user_id for i in open_items if i.owner_user_id is not None), None)
    rows = [
        _row(w, referral_id, now, discharge_last=last) for s, w in needed.items() if s not in held
    ]
    if holder is not None:
        for row in rows:
            row.update(owner_user_id=holder, claimed_at=now)
    repository.insert_items(session, rows)


def on_received_many(*, session: Session, clock: Clock, cases: list[Any], **_: Any) -> None:
    """``referral.received_many`` (a bulk intake): the first work items of every new
    case, with one INSERT for the batch (each case as ``referral.moves.ReceivedCase``)."""
    now = clock.now()
    rows = []
    for case in cases:
        facts = rules.CaseFacts(
            referral_id=case.referral_id,
            status=case.status,
            acknowledged=False,
            ack_due_at=case.ack_due_at,
            service_due_at=case.service_due_at,
            changed_at=now,
            clock_due={},
        )
        last = rules.discharge_last(case.urgency, case.discharge_at)
        rows += [
            _row(w, case.referral_id, now, discharge_last=last) for w in rules.needed_work(facts)
        ]
    repository.insert_items(session, rows)


def _update(session: Session, item: WorkItem, due_at: datetime, title: str, team: str) -> None:
    """A new due time for open work: at level 1 it climbs when that time comes. ``item``
    is locked (``repository.open_items_of``, ``open_by_subject``)."""
    kept.moved(session, item, team=team)
    item.title, item.team = title, team
    if item.due_at != due_at:
        item.due_at = due_at
        if item.level == rules.TEAM_LEVEL:
            item.climbs_at = due_at


def on_work_needed(
    *,
    session: Session,
    clock: Clock,
    referral_id: int | None,
    kind: str,
    team: str,
    due_at: datetime,
    subject: str,
    title: str,
    level: int | None = None,
    **_: Any,
) -> None:
    """``work.needed``: open the item for ``subject``, or update the open one's due time
    and title. With ``level``, the publisher's own ladder has already raised the work
    (an escalation whose ETA was missed is the operations manager's): the item sits at
    that level from now on and does not climb again by itself."""
    now = clock.now()
    existing = repository.open_by_subject(session, subject)
    if existing is not None:
        _update(session, existing, due_at, title, team)
        if level is not None and level > existing.level:
            kept.moved(session, existing, level=level)
            existing.level, existing.level_raised_at, existing.climbs_at = level, now, None
            existing.breached_at = existing.breached_at or now
        return
    work = rules.NeededWork(subject, kind, team, title, due_at)
    case = session.get(Referral, referral_id) if referral_id is not None else None
    row = _row(work, referral_id, now, discharge_last=_discharge_last(case))
    if level is not None and level > rules.TEAM_LEVEL:
        row.update(level=level, level_raised_at=now, breached_at=now, climbs_at=None)
    repository.insert_items(session, [row])


def on_work_done(*, session: Session, clock: Clock, subject: str, **_: Any) -> None:
    """``work.done``: close the open item for ``subject`` (nothing if none is open)."""
    repository.close_subject(session, subject, at=clock.now())


events.subscribe("referral.status_changed", on_status_changed)
events.subscribe("referral.received_many", on_received_many)
events.subscribe("work.needed", on_work_needed)
events.subscribe("work.done", on_work_done)


# ---- the escalation ladder (the worker) -------------------------------------------------------


def climb_due(
    session: Session, *, clock: Clock, batch: int = 200, zone: str = "America/New_York"
) -> int:
    """Raise every open item whose next climb has come (rules.climb_to): past due, to the
    supervisor's queue at once; still open a window later, to the operations manager's.
    Each climb is a timeline event on the case. Idempotent: a climb moves ``climbs_at``
    on (or clears it at the top), so a second pass finds nothing."""
    now = clock.now()
    climbed = 0
    for row in repository.due_to_climb(session, now, batch):
        item = row.item
        ladder = rules.ladder_for(item.team, row.payer_code)
        manager_due = None
        if item.level == rules.SUPERVISOR_LEVEL and item.level_raised_at is not None:
            manager_due = _window_end(item.level_raised_at, ladder, row.time_zone or zone)
        target = rules.climb_to(
            level=item.level,
            due_at=item.due_at,
            level_raised_at=item.level_raised_at,
            now=now,
            ladder=ladder,
            manager_due=manager_due,
        )
        if target is None:
            # Not yet (a due time moved on): look again when it can next climb.
            item.climbs_at = manager_due if item.level == rules.SUPERVISOR_LEVEL else item.due_at
            if item.level >= ladder.top_level:
                item.climbs_at = None
            continue
        if item.breached_at is None:
            item.breached_at = now
        kept.moved(session, item, level=target)  # the row is locked (due_to_climb)
        item.level, item.level_raised_at = target, now
        item.climbs_at = (
            _window_end(now, ladder, row.time_zone or zone) if target < ladder.top_level else None
        )
        climbed += 1
        if item.referral_id is not None:
            moves.timeline_event(
                session,
                item.referral_id,
                "work.escalated",
                actor=SYSTEM_ACTOR,
                now=now,
                work=item.title,
                kind=item.kind,
                level=target,
                queue=rules.LEVEL_NAMES[target],
                due_at=item.due_at.isoformat(),
            )
    session.flush()
    return climbed


def fold_counts(session: Session) -> int:
    """Fold each connection's rows of the queue's counts into one row per team and level
    (the worker's pass): the sums stay the same, the table stays small."""
    return kept.fold_counts(session)


def _window_end(start: datetime, ladder: rules.Ladder, time_zone: str) -> datetime:
    if not ladder.business_hours:
        return start + ladder.manager_after
    return business_calendar(BusinessHours(), time_zone).add(start, ladder.manager_after)


# ---- reading -------------------------------------------------------------------------------


READ_ACTION = "workqueue.read"


@dataclass(frozen=True, slots=True)
class _Queue:
    """One read of the queue (audited), before it is shaped for the page or the API."""

    rows: list[QueueRow]
    has_more: bool
    figures: repository.Counts
    others: dict[int, list[QueueRow]]  # with items=true: every open item of each case
    now: datetime
    limit: int
    offset: int
    sort: str
    with_items: bool
    with_total: bool


def _read_queue(
    session: Session,
    actor: Actor,
    *,
    team: str | None,
    mine: bool,
    clock: Clock,
    level: int | None = None,
    sort: str = rules.DEFAULT_SORT,
    limit: int = rules.DEFAULT_LIMIT,
    offset: int = 0,
    case_filter: CaseFilter | None = None,
    with_items: bool = False,
    with_total: bool = False,
) -> _Queue:
    require(actor, "workqueue:read")
    if not 1 <= limit <= rules.MAX_LIMIT:
        raise RuleViolationError(f"limit must be 1 to {rules.MAX_LIMIT}", field="limit")
    if not 0 <= offset <= rules.MAX_OFFSET:
        raise RuleViolationError(f"offset must be 0 to {rules.MAX_OFFSET}", field="offset")
    if sort not in rules.SORTS:
        raise RuleViolationError(f"sort must be one of {', '.join(rules.SORTS)}", field="sort")
    if level is not None and level not in rules.LEVEL_NAMES:
        raise RuleViolationError("level must be 1, 2 or 3", field="level")
    if mine and actor.user_id is None:
        raise ForbiddenError("only a signed-in user has a queue of their own")
    items = ItemFilter(team=team, min_level=level, owner_user_id=actor.user_id if mine else None)
    now = clock.now()
    detail: dict[str, Any] = {"team": team, "mine": mine, "level": level}
    # On PostgreSQL the page writes its own audit record (a CTE listing the case numbers
    # it returns): the read, its record and the commit are one round trip.
    audited = None
    if session.get_bind().dialect.name == "postgresql":
        values = audit.shared_values(actor, READ_ACTION, clock=clock)
        audited = repository.Audited(audit.insert_detailed, values, detail)
    rows, has_more, figures = repository.page_and_counts(
        session,
        actor,
        items=items,
        case_filter=case_filter,
        sort=sort,
        limit=limit,
        offset=offset,
        now=now,
        teams=rules.TEAMS,
        cap=rules.COUNT_CAP,
        audited=audited,
    )
    if audited is None:
        shown = [r.case_number for r in rows if r.case_number is not None]
        audit.record(
            session, actor, READ_ACTION, clock=clock, detail={**detail, "case_numbers": shown}
        )
    others: dict[int, list[QueueRow]] = defaultdict(list)
    if with_items:
        # A case with nothing "more" has its one open item on the page already.
        more = {r.referral_id for r in rows if r.referral_id is not None and r.more}
        for r in repository.open_items_of_cases(session, more):
            others[r.referral_id or 0].append(r)
    return _Queue(rows, has_more, figures, others, now, limit, offset, sort, with_items, with_total)


class QueueQuery(TypedDict, total=False):
    """What a reader asks of the queue (:func:`list_queue`, :func:`list_queue_json`):
    ``team`` and ``mine`` always; the others default as :func:`_read_queue` says."""

    team: Required[str | None]
    mine: Required[bool]
    level: int | None
    sort: str
    limit: int
    offset: int
    case_filter: CaseFilter | None
    with_items: bool
    with_total: bool


def list_queue(
    session: Session, actor: Actor, *, clock: Clock, **query: Unpack[QueueQuery]
) -> WorkQueuePage:
    """What needs a person now: one row per case with its most urgent open item and how
    many more: overdue first, then due within the hour (``rules.ABOUT_TO_BREACH``), then
    the rest in the chosen order (``due``: by due time). Filters: a
    team, the actor's own claimed items (``mine``), a ladder level and up (2: the
    supervisor view, 3: the manager's), the case's status, urgency and payer. The read is
    audited with its case numbers."""
    q = _read_queue(session, actor, clock=clock, **query)
    now, figures = q.now, q.figures
    by_case: dict[int, list[WorkItemRead]] = {
        rid: [_read(r, now, case_number=head.case_number) for r in q.others.get(rid, ())]
        for head in q.rows
        if (rid := head.referral_id or 0) in q.others
    }
    return WorkQueuePage(
        cases=[
            _case(r, now, by_case.get(r.referral_id or 0), with_items=q.with_items) for r in q.rows
        ],
        total=figures.total if q.with_total else None,
        has_more=q.has_more,
        limit=q.limit,
        offset=q.offset,
        sort=q.sort,
        overdue_now=figures.overdue,
        team_counts=figures.by_team,
        supervisor_count=figures.supervisor,
        manager_count=figures.manager,
        count_cap=figures.cap,
    )


def list_queue_json(
    session: Session, actor: Actor, *, clock: Clock, **query: Unpack[QueueQuery]
) -> bytes:
    """:func:`list_queue` as the API answers it: the same read and audit, the page
    written as JSON directly from the rows (the document ``WorkQueuePage`` describes,
    field for field) instead of building its objects first, which cost more than
    reading the page."""
    q = _read_queue(session, actor, clock=clock, **query)
    figures = q.figures
    document = {
        "cases": [_case_document(r, q) for r in q.rows],
        "total": figures.total if q.with_total else None,
        "has_more": q.has_more,
        "limit": q.limit,
        "offset": q.offset,
        "sort": q.sort,
        "overdue_now": figures.overdue,
        "team_counts": figures.by_team,
        "supervisor_count": figures.supervisor,
        "manager_count": figures.manager,
        "count_cap": figures.cap,
    }
    return orjson.dumps(document, option=orjson.OPT_UTC_Z)


def _case_document(row: QueueRow, q: _Queue) -> dict[str, Any]:
    """One ``QueueCaseRead`` as JSON-ready values."""
    head = _item_document(row, q.now)
    items: list[dict[str, Any]] | None = None
    if q.with_items:
        others = q.others.get(row.referral_id or 0)
        if others:
            items = [
                head if r.item_id == row.item_id else _item_document(r, q.now, row.case_number)
                for r in others
            ]
        else:
            items = [head]
    first, last = row.member_first_name, row.member_last_name
    return {
        "case_number": row.case_number,
        "member_name": f"{first} {last}" if first and last else (first or last or None),
        "referral_status": row.referral_status.value if row.referral_status else None,
        "urgency": row.urgency.value if row.urgency else None,
        "payer_code": row.payer_code,
        "discharge_dependent": row.discharge_dependent,
        "item": head,
        "more": row.more,
        "items": items,
    }


def _item_document(row: QueueRow, now: datetime, case_number: str | None = None) -> dict[str, Any]:
    """One ``WorkItemRead`` as JSON-ready values (see :func:`_read`)."""
    is_open = row.closed_at is None
    assignee = None
    if row.owner_user_id is not None:
        assignee = {
            "user_id": row.owner_user_id,
            "display_name": row.owner_name,
            "assigned_at": row.claimed_at,
        }
    return {
        "item_id": row.item_id,
        "subject": row.subject,
        "kind": row.kind,
        "team": row.team,
        "level": row.level,
        "queue": rules.LEVEL_NAMES.get(row.level, "team"),
        "what": row.title,
        "case_number": case_number or row.case_number,
        "due_at": row.due_at,
        "overdue": is_open and rules.is_overdue(now, row.due_at),
        "overdue_by_minutes": rules.overdue_minutes(now, row.due_at) if is_open else 0,
        "due_text": rules.due_text(now, row.due_at) if is_open else "done",
        "breached_at": row.breached_at,
        "open": is_open,
        "assigned_to": assignee,
    }


def _case(
    row: QueueRow, now: datetime, items: list[WorkItemRead] | None, *, with_items: bool = False
) -> QueueCaseRead:
    names = [n for n in (row.member_first_name, row.member_last_name) if n]
    head = next((i for i in items or () if i.item_id == row.item_id), None) or _read(row, now)
    if items is None and with_items:
        items = [head]
    # The rows come from the database and the rules (trusted, already typed): built
    # without a second validation, which cost more than the rest of the page.
    return QueueCaseRead.model_construct(
        case_number=row.case_number,
        member_name=" ".join(names) or None,
        referral_status=row.referral_status.value if row.referral_status else None,
        urgency=row.urgency.value if row.urgency else None,
        payer_code=row.payer_code,
        discharge_dependent=row.discharge_dependent,
        item=head,
        more=row.more,
        items=items,
    )


def _read(row: QueueRow, now: datetime, *, case_number: str | None = None) -> WorkItemRead:
    assignee = None
    if row.owner_user_id is not None:
        assignee = AssigneeRead.model_construct(
            user_id=row.owner_user_id, display_name=row.owner_name, assigned_at=row.claimed_at
        )
    is_open = row.closed_at is None
    return WorkItemRead.model_construct(
        item_id=row.item_id,
        subject=row.subject,
        kind=row.kind,
        team=row.team,
        level=row.level,
        queue=rules.LEVEL_NAMES.get(row.level, "team"),
        what=row.title,
        case_number=case_number or row.case_number,
        due_at=row.due_at,
        overdue=is_open and rules.is_overdue(now, row.due_at),
        overdue_by_minutes=rules.overdue_minutes(now, row.due_at) if is_open else 0,
        due_text=rules.due_text(now, row.due_at) if is_open else "done",
        breached_at=row.breached_at,
        open=is_open,
        assigned_to=assignee,
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


def _visible_item(session: Session, actor: Actor, item_id: int) -> QueueRow:
    row = repository.item(session, actor, item_id)
    if row is None:
        raise WorkItemNotFoundError(f"There is no work item {item_id} that you can see.")
    return row


def _audit(session: Session, actor: Actor, action: str, row: QueueRow, *, clock: Clock) -> None:
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=row.case_number,
        referral_id=row.referral_id,
        detail={"item_id": row.item_id, "kind": row.kind},
    )


def claim_item(
    session: Session, actor: Actor, item_id: int, *, clock: Clock, whole_case: bool = False
) -> WorkItemRead:
    """Take an open item (with ``whole_case``, every unclaimed open item of its case): it
    becomes yours and shows in your queue. One claimer wins (a conditional UPDATE);
    claiming your own item again changes nothing."""
    require(actor, "workqueue:claim")
    if actor.user_id is None:
        raise ForbiddenError("only a signed-in user can claim work")
    row = _visible_item(session, actor, item_id)
    now = clock.now()
    if row.closed_at is not None:
        raise WorkItemNotOpenError(f"Work item {item_id} is done; it needs no one now.")
    if row.owner_user_id == actor.user_id and not whole_case:
        return _read(row, now)
    if row.owner_user_id is not None and row.owner_user_id != actor.user_id:
        raise _claimed_by_other(row)
    taken = repository.claim(
        session,
        item_id=item_id,
        referral_id=row.referral_id if whole_case else None,
        user_id=actor.user_id,
        at=now,
    )
    claimed = _visible_item(session, actor, item_id)
    if taken == 0 and claimed.owner_user_id != actor.user_id:
        if claimed.closed_at is not None:
            raise WorkItemNotOpenError(f"Work item {item_id} is done; it needs no one now.")
        raise _claimed_by_other(claimed)
    _audit(session, actor, "workqueue.claim", claimed, clock=clock)
    return _read(claimed, now)


def _claimed_by_other(row: QueueRow) -> ConflictError:
    who = row.owner_name or f"user {row.owner_user_id}"
    return WorkItemClaimedError(
        f"Work item {row.item_id} is already claimed by {who}.",
        extra={"assigned_user_id": row.owner_user_id, "assigned_to": who},
    )


def release_item(
    session: Session, actor: Actor, item_id: int, *, clock: Clock, whole_case: bool = False
) -> WorkItemRead:
    """Give an item (with ``whole_case``, what its holder has of the case) back to the
    team. Only its assignee may, or a supervisor (when someone is away)."""
    require(actor, "workqueue:claim")
    row = _visible_item(session, actor, item_id)
    if row.owner_user_id is None:
        raise WorkItemNotClaimedError(f"Work item {item_id} is not claimed by anyone.")
    if not rules.may_release(
        actor_user_id=actor.user_id,
        is_supervisor=actor.role is Role.supervisor,
        assignee=row.owner_user_id,
    ):
        who = row.owner_name or f"user {row.owner_user_id}"
        raise WorkItemNotYoursError(
            f"Work item {item_id} is claimed by {who}; only they or a supervisor may release it."
        )
    if not repository.release(
        session,
        item_id=item_id,
        referral_id=row.referral_id if whole_case else None,
        assignee=row.owner_user_id,
    ):
        raise ConflictError(f"Work item {item_id} changed meanwhile; try again.")
    released = _visible_item(session, actor, item_id)
    _audit(session, actor, "workqueue.release", released, clock=clock)
    return _read(released, clock.now())
