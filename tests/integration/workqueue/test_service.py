"""Work items against a real database: they follow the case's status, stay open past due
and climb the escalation ladder, come from other domains' events, and the queue shows
one row per case; claims one person wins, releases only by the holder or a supervisor."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core import events
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import AcknowledgeIn, CancelIn
from careloop.workqueue import repository, rules, service
from careloop.workqueue.models import WorkItem, WorkItemCount
from careloop.workqueue.repository import ItemFilter
from careloop.workqueue.schemas import CaseFilter, WorkQueuePage
from careloop.workqueue.service import (
    WorkItemClaimedError,
    WorkItemNotClaimedError,
    WorkItemNotFoundError,
    WorkItemNotOpenError,
    WorkItemNotYoursError,
)
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]
NAMES = ("Dorothy", "Walter", "Agnes", "Harold", "Mildred", "Eugene", "Florence", "Irving")


class World:
    def __init__(self, session: Session, clock: FixedClock) -> None:
        self.session, self.clock = session, clock
        self.names = iter(NAMES)
        make_payer(session, clock=clock)
        self.intake, _ = make_user(session, clock=clock, role=Role.intake_agent, name="Priya Shah")
        self.manager, _ = make_user(
            session, clock=clock, role=Role.case_manager, name="Jane Ruiz", extension="4417"
        )
        self.other, _ = make_user(
            session,
            clock=clock,
            role=Role.case_manager,
            name="Sam Lee",
            email="sam.lee@example.test",
        )
        self.supervisor, _ = make_user(session, clock=clock, role=Role.supervisor)

    def case(self, **overrides: Any) -> str:
        first = next(self.names)
        overrides.setdefault("items", OXYGEN)
        overrides.setdefault("member__first_name", first)
        overrides.setdefault("external_id", f"ORD-{first}")
        draft = referral_draft(self.clock.now(), **overrides)
        return referral_service.submit_referral(
            self.session, self.intake, draft, clock=self.clock
        ).case_number

    def referral_id(self, case_number: str) -> int:
        stmt = select(Referral.id).where(Referral.case_number == case_number)
        return int(self.session.scalars(stmt).one())

    def items(self, case_number: str, *, open_only: bool = True) -> list[WorkItem]:
        self.session.flush()
        self.session.expire_all()
        stmt = select(WorkItem).where(WorkItem.referral_id == self.referral_id(case_number))
        if open_only:
            stmt = stmt.where(WorkItem.closed_at.is_(None))
        return list(self.session.scalars(stmt.order_by(WorkItem.due_at, WorkItem.id)))

    def item_id(self, case_number: str) -> int:
        return self.items(case_number)[0].id

    def acknowledge(self, case_number: str) -> None:
        referral_service.acknowledge_referral(
            self.session, self.manager, case_number, AcknowledgeIn(), clock=self.clock
        )

    def queue(self, actor: Actor | None = None, **options: Any) -> WorkQueuePage:
        options.setdefault("team", None)
        options.setdefault("mine", False)
        return service.list_queue(self.session, actor or self.manager, clock=self.clock, **options)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return World(session, clock)


def _cases(page: WorkQueuePage) -> list[str | None]:
    return [row.case_number for row in page.cases]


class TestItemsFollowTheCase:
    def test_intake_opens_the_acknowledgement_due_when_the_case_says(self, world: World) -> None:
        case = world.case()
        (item,) = world.items(case)
        referral = world.session.get(Referral, world.referral_id(case))
        assert referral is not None
        assert (item.kind, item.team, item.level) == ("acknowledge", "intake", 1)
        assert item.subject == f"case:{referral.id}:acknowledge"
        assert item.due_at == referral.ack_due_at and item.climbs_at == referral.ack_due_at
        assert item.title.startswith("Acknowledge the referral")

    def test_acknowledging_closes_it_and_opens_the_next_step(self, world: World) -> None:
        case = world.case()
        first = world.item_id(case)
        world.acknowledge(case)
        (item,) = world.items(case)
        assert item.kind == "verify_eligibility" and item.team == "case_management"
        closed = world.session.get(WorkItem, first)
        assert closed is not None and closed.closed_at == world.clock.now()

    def test_a_case_with_gaps_needs_acknowledging_and_clarifying(self, world: World) -> None:
        case = world.case(diagnoses=[])
        assert {i.kind for i in world.items(case)} == {"acknowledge", "clarify"}
        page = world.queue()
        (row,) = page.cases
        assert row.case_number == case and row.more == 1
        world.acknowledge(case)
        assert [i.kind for i in world.items(case)] == ["clarify"]

    def test_cancelling_closes_every_item_even_other_domains(self, world: World) -> None:
        case = world.case()
        events.publish(
            "work.needed",
            session=world.session,
            clock=world.clock,
            referral_id=world.referral_id(case),
            kind="call_back",
            team="case_management",
            due_at=world.clock.now() + timedelta(hours=2),
            subject="contact:99",
            title="Call the daughter back",
        )
        assert len(world.items(case)) == 2
        referral_service.cancel_referral(
            world.session,
            world.manager,
            case,
            CancelIn(reason="Member moved away"),
            clock=world.clock,
        )
        assert world.items(case) == []
        assert _cases(world.queue()) == []


class TestOtherDomainsWork:
    def publish_needed(self, world: World, subject: str, due_at: datetime, **extra: Any) -> None:
        events.publish(
            "work.needed",
            session=world.session,
            clock=world.clock,
            referral_id=extra.get("referral_id"),
            kind=extra.get("kind", "call_back"),
            team=extra.get("team", "case_management"),
            due_at=due_at,
            subject=subject,
            title=extra.get("title", "Call the caller back"),
        )

    def test_needed_opens_once_then_updates_and_done_closes(self, world: World) -> None:
        t0 = world.clock.now()
        self.publish_needed(world, "contact:3", t0 + timedelta(hours=1))
        self.publish_needed(world, "contact:3", t0 + timedelta(hours=5), title="Ring again")
        world.session.flush()
        (item,) = world.session.scalars(select(WorkItem).where(WorkItem.subject == "contact:3"))
        assert item.due_at == t0 + timedelta(hours=5) and item.title == "Ring again"
        assert item.referral_id is None
        (row,) = world.queue().cases
        assert row.case_number is None and row.item.what == "Ring again"
        events.publish("work.done", session=world.session, clock=world.clock, subject="contact:3")
        assert world.queue().cases == []
        # A later need for the same subject is new work.
        self.publish_needed(world, "contact:3", t0 + timedelta(hours=9))
        world.session.flush()
        assert (
            world.session.scalar(
                select(text("count(*)"))
                .select_from(WorkItem)
                .where(WorkItem.subject == "contact:3")
            )
            == 2
        )


class TestLadder:
    def test_breach_goes_to_the_supervisor_then_the_manager_once_each(self, world: World) -> None:
        case = world.case()
        (item,) = world.items(case)
        assert service.climb_due(world.session, clock=world.clock) == 0
        world.clock.set(item.due_at + timedelta(minutes=5))
        assert service.climb_due(world.session, clock=world.clock) == 1
        assert service.climb_due(world.session, clock=world.clock) == 0
        (item,) = world.items(case)
        assert item.level == 2 and item.breached_at == world.clock.now()
        assert _cases(world.queue(level=2)) == [case]
        assert _cases(world.queue(level=3)) == []
        # Four business hours later (the member's calendar), the operations manager.
        world.clock.advance(timedelta(days=3))
        assert service.climb_due(world.session, clock=world.clock) == 1
        assert service.climb_due(world.session, clock=world.clock) == 0
        (item,) = world.items(case)
        assert item.level == 3 and item.climbs_at is None
        row = world.queue(level=3).cases[0]
        assert row.item.queue == "operations manager" and row.item.overdue
        climbs = world.session.scalars(
            select(ReferralEvent).where(
                ReferralEvent.referral_id == world.referral_id(case),
                ReferralEvent.type == "work.escalated",
            )
        ).all()
        assert [e.data["level"] for e in climbs] == [2, 3]
        assert climbs[0].data["queue"] == "supervisor"

    def test_the_manager_window_counts_business_hours(self, world: World) -> None:
        case = world.case()
        (item,) = world.items(case)
        world.clock.set(item.due_at + timedelta(minutes=1))
        service.climb_due(world.session, clock=world.clock)
        (item,) = world.items(case)
        assert item.climbs_at is not None
        assert item.climbs_at - world.clock.now() >= timedelta(hours=4)
        world.clock.set(item.climbs_at - timedelta(minutes=1))
        assert service.climb_due(world.session, clock=world.clock) == 0
        world.clock.advance(timedelta(minutes=1))
        assert service.climb_due(world.session, clock=world.clock) == 1


class TestListQueue:
    def test_overdue_first_one_row_per_case_in_plain_words(self, world: World) -> None:
        a = world.case()
        world.clock.advance(timedelta(hours=30))
        b = world.case(diagnoses=[])
        world.clock.advance(timedelta(days=2))
        page = world.queue()
        assert _cases(page) == [a, b]
        first = page.cases[0]
        assert first.item.overdue and first.item.due_text.endswith(" late")
        assert page.cases[1].more == 1
        assert page.overdue_now == 3  # a's acknowledgement, b's two items
        assert page.team_counts["intake"] == 3 and page.team_counts["network"] == 0

    def test_among_equal_due_times_a_discharge_comes_first(self, world: World) -> None:
        """Due at the same instant, the case a hospital discharge waits on comes first,
        whichever item is older; a discharge reported later moves the case's items up."""
        routine = world.case()
        waiting = world.case(
            urgency="discharge", discharge_at=(world.clock.now() + timedelta(hours=30)).isoformat()
        )
        due = world.clock.now() + timedelta(hours=3)
        for case in (routine, waiting):  # the routine case's item is the older one
            events.publish(
                "work.needed",
                session=world.session,
                clock=world.clock,
                referral_id=world.referral_id(case),
                kind="call_back",
                team="network",
                due_at=due,
                subject=f"contact:{case}",
                title="Call back",
            )
        assert _cases(world.queue(team="network")) == [waiting, routine]
        referral = world.session.get(Referral, world.referral_id(routine))
        assert referral is not None
        moves.report_discharge(
            world.session,
            world.manager,
            referral,
            world.clock.now() + timedelta(days=1),
            clock=world.clock,
            expected=True,
        )
        assert {i.discharge_last for i in world.items(routine)} == {False}
        assert _cases(world.queue(team="network")) == [routine, waiting]  # then the older

    def test_team_mine_and_case_filters(self, world: World) -> None:
        a, b = world.case(), world.case()
        world.acknowledge(b)
        assert _cases(world.queue(team="intake")) == [a]
        assert _cases(world.queue(team="case_management")) == [b]
        service.claim_item(world.session, world.manager, world.item_id(b), clock=world.clock)
        assert _cases(world.queue(mine=True)) == [b]
        assert _cases(world.queue(world.other, mine=True)) == []
        flt = CaseFilter(referral_status="acknowledged")
        assert _cases(world.queue(case_filter=flt)) == [b]

    def test_paging_and_total(self, world: World) -> None:
        numbers = [world.case() for _ in range(3)]
        first = world.queue(limit=2, with_total=True)
        assert len(first.cases) == 2 and first.has_more and first.total == 3
        rest = world.queue(limit=2, offset=2)
        assert len(rest.cases) == 1 and not rest.has_more
        assert sorted(_cases(first) + _cases(rest)) == sorted(numbers)  # type: ignore[type-var]

    def test_counts_stop_at_the_cap(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(rules, "COUNT_CAP", 2)
        for _ in range(3):
            world.case()
        world.clock.advance(timedelta(days=5))
        page = world.queue(with_total=True)
        assert (page.team_counts["intake"], page.overdue_now, page.total) == (2, 2, 2)
        assert page.count_cap == 2 and len(page.cases) == 3

    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"team": "intake", "with_total": True},
            {"with_items": True, "with_total": True},
            {"sort": "owner", "limit": 2, "offset": 1, "with_items": True},
        ],
    )
    def test_the_api_document_is_the_page_model(
        self, world: World, options: dict[str, Any]
    ) -> None:
        """The API writes its JSON from the rows; it is the document WorkQueuePage gives,
        field for field and in the same order, and reads back as one."""
        a, b = world.case(), world.case(diagnoses=[])
        service.on_work_needed(  # work without a case
            session=world.session,
            clock=world.clock,
            referral_id=None,
            kind="call_back",
            team="intake",
            due_at=world.clock.now() + timedelta(hours=1),
            subject="contact:9",
            title="Call back",
        )
        world.acknowledge(a)
        service.claim_item(world.session, world.manager, world.item_id(b), clock=world.clock)
        world.clock.advance(timedelta(days=2, seconds=7))
        options = {"team": None, "mine": False, **options}
        body = service.list_queue_json(world.session, world.manager, clock=world.clock, **options)
        page = world.queue(**options)
        assert body == page.model_dump_json().encode()
        assert WorkQueuePage.model_validate_json(body) == page

    def test_folding_the_kept_counts_changes_no_figure(self, world: World) -> None:
        """Each connection adds to rows of its own; the worker folds them into one row per
        team and level, and the figures read the same before and after."""
        world.case(), world.case(diagnoses=[])
        # Another connection's rows: one more network item, one intake item it closed.
        repository.count(world.session, Counter({("network", 1): 1, ("intake", 1): -1}), slot=7)
        before = world.queue(with_total=True)
        assert before.team_counts["intake"] == 2 and before.team_counts["network"] == 1
        assert service.fold_counts(world.session) >= 2
        after = world.queue(with_total=True)
        assert after.team_counts == before.team_counts
        slots = world.session.scalars(select(WorkItemCount.slot).distinct()).all()
        assert slots == [0]

    def test_read_is_audited_with_the_case_numbers_shown(self, world: World) -> None:
        a = world.case()
        world.queue(team="intake")
        record = world.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "workqueue.read")
        ).one()
        detail = record.detail if isinstance(record.detail, dict) else json.loads(record.detail)
        assert detail["case_numbers"] == [a] and detail["team"] == "intake"

    @pytest.mark.parametrize("role", [Role.referring_clinician, Role.provider_staff, Role.member])
    def test_refused_for_roles_outside_coordination(self, world: World, role: Role) -> None:
        actor, _ = make_user(world.session, clock=world.clock, role=role, organization="Elsewhere")
        with pytest.raises(ForbiddenError):
            world.queue(actor)


class TestClaimAndRelease:
    def test_claiming_a_case_takes_all_its_unclaimed_items(self, world: World) -> None:
        case = world.case(diagnoses=[])
        service.claim_item(
            world.session, world.manager, world.item_id(case), clock=world.clock, whole_case=True
        )
        assert {i.owner_user_id for i in world.items(case)} == {world.manager.user_id}
        service.release_item(
            world.session, world.manager, world.item_id(case), clock=world.clock, whole_case=True
        )
        assert {i.owner_user_id for i in world.items(case)} == {None}

    def test_whoever_holds_the_case_keeps_its_next_step(self, world: World) -> None:
        case = world.case()
        service.claim_item(world.session, world.manager, world.item_id(case), clock=world.clock)
        world.acknowledge(case)
        (item,) = world.items(case)
        assert item.kind == "verify_eligibility" and item.owner_user_id == world.manager.user_id

    def test_second_claimer_is_told_who_holds_it(self, world: World) -> None:
        item_id = world.item_id(world.case())
        service.claim_item(world.session, world.manager, item_id, clock=world.clock)
        with pytest.raises(WorkItemClaimedError, match="Jane Ruiz"):
            service.claim_item(world.session, world.other, item_id, clock=world.clock)
        again = service.claim_item(world.session, world.manager, item_id, clock=world.clock)
        assert again.assigned_to is not None and again.assigned_to.user_id == world.manager.user_id

    def test_refused_when_the_work_is_done(self, world: World) -> None:
        case = world.case()
        item_id = world.item_id(case)
        world.acknowledge(case)
        with pytest.raises(WorkItemNotOpenError):
            service.claim_item(world.session, world.manager, item_id, clock=world.clock)

    def test_not_found(self, world: World) -> None:
        with pytest.raises(WorkItemNotFoundError):
            service.claim_item(world.session, world.manager, 2**31 - 1, clock=world.clock)

    def test_release_rules(self, world: World) -> None:
        item_id = world.item_id(world.case())
        with pytest.raises(WorkItemNotClaimedError):
            service.release_item(world.session, world.manager, item_id, clock=world.clock)
        service.claim_item(world.session, world.manager, item_id, clock=world.clock)
        with pytest.raises(WorkItemNotYoursError):
            service.release_item(world.session, world.other, item_id, clock=world.clock)
        freed = service.release_item(world.session, world.supervisor, item_id, clock=world.clock)
        assert freed.assigned_to is None


def _plan_nodes(plan: dict[str, Any], *, init_plans: bool = True) -> list[dict[str, Any]]:
    """Every node of the plan; without ``init_plans``, not the subqueries run once
    before it (the navigation's counts riding on the page)."""
    nodes = [plan]
    for child in plan.get("Plans", []):
        if init_plans or child.get("Parent Relationship") != "InitPlan":
            nodes += _plan_nodes(child, init_plans=init_plans)
    return nodes


def test_a_page_is_an_index_scan_in_due_order(world: World, engine: Engine, db_kind: str) -> None:
    """Many open and closed items: the page walks the open items' due index and stops;
    nothing sorts them all."""
    if db_kind != "postgres":
        pytest.skip("PostgreSQL plan")
    t0 = world.clock.now()
    world.session.execute(
        insert(WorkItem),
        [
            {
                "subject": f"bench:{n}",
                "kind": "call_back",
                "team": rules.TEAMS[n % 4],
                "level": 1,
                "title": "Call back",
                "due_at": t0 + timedelta(minutes=n % 5000),
                "opened_at": t0,
                "closed_at": None if n % 4 else t0,
            }
            for n in range(20_000)
        ],
    )
    world.session.execute(text("ANALYZE work_items"))
    captured: list[tuple[str, Any]] = []

    def grab(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        repository.page_and_counts(
            world.session,
            world.manager,
            items=ItemFilter(team="intake"),
            case_filter=None,
            sort="due",
            limit=50,
            offset=0,
            now=world.clock.now(),
            teams=rules.TEAMS,
            cap=rules.COUNT_CAP,
        )
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = captured[0]  # the page (an empty one reads its counts after)
    raw = (
        world.session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters)
        .scalar_one()
    )
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    # The page itself (its counts are subqueries run once before it: their plans follow
    # the data's spread, here every item without a case; bench/workqueue.py checks them
    # at 2 million referrals).
    nodes = _plan_nodes(plan, init_plans=False)
    assert any(str(n.get("Index Name", "")).startswith("ix_work_items_open_") for n in nodes), plan
    # Four items share each due time: the index holds the whole order (the discharge
    # flag and the id after the due time), so the page is read in order, not sorted.
    assert not any("Sort" in n["Node Type"] for n in nodes), plan
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "work_items" for n in nodes
    )
    assert len(_plan_nodes(plan)) > len(nodes)  # the counts ride on the same statement
