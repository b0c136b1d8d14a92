"""The work queue against a real database: urgency order, team and 'mine' filters, claims
that one person wins, releases only by the assignee or a supervisor, and only open clocks
listed."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text, update
from sqlalchemy.orm import Session

from careloop.audit.models import AuditRecord
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.schemas import AcknowledgeIn
from careloop.sla.models import Clock, ClockKind, ClockStatus, Team
from careloop.workqueue import repository, service
from careloop.workqueue.schemas import WorkQueuePage
from careloop.workqueue.service import (
    WorkItemClaimedError,
    WorkItemNotClaimedError,
    WorkItemNotFoundError,
    WorkItemNotOpenError,
    WorkItemNotYoursError,
)
from tests.factories.identity import make_user
from tests.factories.network import make_provider
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

    def clock_id(self, case_number: str, kind: ClockKind) -> int:
        stmt = (
            select(Clock.id)
            .join(Referral, Referral.id == Clock.referral_id)
            .where(Referral.case_number == case_number, Clock.kind == kind)
        )
        return int(self.session.scalars(stmt).one())

    def set_clock(self, clock_id: int, **values: Any) -> None:
        self.session.execute(update(Clock).where(Clock.id == clock_id).values(**values))

    def queue(self, actor: Actor | None = None, **options: Any) -> WorkQueuePage:
        options.setdefault("team", None)
        options.setdefault("mine", False)
        options.setdefault("kind", None)
        return service.list_queue(self.session, actor or self.manager, clock=self.clock, **options)


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return World(session, clock)


def _cases(page: WorkQueuePage) -> list[str | None]:
    return [item.case_number for item in page.items]


class TestListQueue:
    def test_overdue_first_then_by_due_time_with_plain_words(self, world: World) -> None:
        a, b, c = world.case(), world.case(), world.case()
        t0 = world.clock.now()
        world.set_clock(
            world.clock_id(a, ClockKind.acknowledgement), due_at=t0 + timedelta(hours=3)
        )
        world.set_clock(
            world.clock_id(b, ClockKind.acknowledgement), due_at=t0 + timedelta(hours=1)
        )
        world.set_clock(
            world.clock_id(c, ClockKind.acknowledgement), due_at=t0 + timedelta(hours=5)
        )
        world.clock.advance(timedelta(hours=3, minutes=10))
        page = world.queue(world.intake, team=Team.intake)
        assert _cases(page) == [b, a, c]
        first, second, third = page.items
        assert (first.overdue, first.overdue_by_minutes, first.due_text) == (
            True,
            130,
            "2 h 10 min late",
        )
        assert (second.overdue, second.due_text) == (True, "10 min late")
        assert (third.overdue, third.overdue_by_minutes, third.due_text) == (
            False,
            0,
            "due in 1 h 50 min",
        )
        assert first.what.startswith("Acknowledge the referral")
        assert first.action.name == "acknowledge"
        assert first.action.method == "POST"
        assert first.action.path == f"/api/v1/referrals/{b}/acknowledge"
        assert first.member_name is not None and first.member_name.endswith(" Hale")
        assert first.referral_status == "received" and first.team is Team.intake
        assert not page.has_more

    def test_discharge_dependent_first_among_equal_due_times(self, world: World) -> None:
        routine = world.case()
        discharge_at = (world.clock.now() + timedelta(hours=30)).isoformat()
        hospital = world.case(urgency="discharge", discharge_at=discharge_at)
        due = world.clock.now() + timedelta(hours=20)
        world.set_clock(world.clock_id(routine, ClockKind.service_start), due_at=due)
        world.set_clock(world.clock_id(hospital, ClockKind.service_start), due_at=due)
        page = world.queue(team=Team.case_management, kind=ClockKind.service_start)
        assert _cases(page) == [hospital, routine]
        assert [i.discharge_dependent for i in page.items] == [True, False]

    def test_team_filter_keeps_each_team_to_its_own_kinds(self, world: World) -> None:
        world.case(urgency="discharge", discharge_at=world.clock.now() + timedelta(hours=30))
        provider = make_provider(
            world.session, clock=world.clock, admin=world.supervisor, name="Charter Oak"
        )
        intake = world.queue(team=Team.intake)
        assert {i.kind for i in intake.items} == {ClockKind.acknowledgement}
        care = world.queue(team=Team.case_management)
        assert ClockKind.service_start in {i.kind for i in care.items}
        assert ClockKind.discharge in {i.kind for i in care.items}
        assert ClockKind.acknowledgement not in {i.kind for i in care.items}
        network = world.queue(team=Team.network)
        assert network.items and {i.kind for i in network.items} == {ClockKind.credential_expiry}
        credential = network.items[0]
        assert credential.case_number is None and credential.member_name is None
        assert credential.what == "Renew the provider's credential"
        assert credential.action.path == f"/api/v1/providers/{provider.id}/credentials"

    def test_paused_and_closed_clocks_are_not_listed(self, world: World) -> None:
        met, paused, listed = world.case(), world.case(), world.case()
        referral_service.acknowledge_referral(
            world.session, world.manager, met, AcknowledgeIn(), clock=world.clock
        )
        world.set_clock(
            world.clock_id(paused, ClockKind.acknowledgement),
            status=ClockStatus.paused,
            paused_at=world.clock.now(),
        )
        assert _cases(world.queue(team=Team.intake)) == [listed]

    def test_paging_says_whether_more_follow(self, world: World) -> None:
        numbers = [world.case() for _ in range(3)]
        first = world.queue(team=Team.intake, limit=2)
        assert len(first.items) == 2 and first.has_more
        rest = world.queue(team=Team.intake, limit=2, offset=2)
        assert len(rest.items) == 1 and not rest.has_more
        assert sorted(_cases(first) + _cases(rest)) == sorted(numbers)  # type: ignore[type-var]

    def test_read_is_audited_with_the_case_numbers_shown(self, world: World) -> None:
        a = world.case()
        world.queue(team=Team.intake)
        record = world.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "workqueue.read")
        ).one()
        assert record.actor_user_id == world.manager.user_id
        detail = record.detail if isinstance(record.detail, dict) else json.loads(record.detail)
        assert detail["case_numbers"] == [a] and detail["team"] == "intake"

    @pytest.mark.parametrize("role", [Role.referring_clinician, Role.provider_staff, Role.member])
    def test_refused_for_roles_outside_coordination(self, world: World, role: Role) -> None:
        actor, _ = make_user(world.session, clock=world.clock, role=role, organization="Elsewhere")
        with pytest.raises(ForbiddenError):
            world.queue(actor, team=Team.intake)


class TestClaimItem:
    def test_mine_lists_only_what_i_claimed(self, world: World) -> None:
        a, _ = world.case(), world.case()
        clock_id = world.clock_id(a, ClockKind.acknowledgement)
        claimed = service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        assert claimed.assigned_to is not None
        assert claimed.assigned_to.user_id == world.manager.user_id
        assert claimed.assigned_to.display_name == "Jane Ruiz"
        assert claimed.assigned_to.assigned_at == world.clock.now()
        mine = world.queue(mine=True)
        assert [i.clock_id for i in mine.items] == [clock_id]
        assert world.queue(world.other, mine=True).items == []
        # Still on the team's queue, showing who holds it.
        team = world.queue(team=Team.intake)
        holder = {i.clock_id: i.assigned_to for i in team.items}[clock_id]
        assert holder is not None and holder.display_name == "Jane Ruiz"

    def test_second_claimer_is_told_who_holds_it(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        with pytest.raises(WorkItemClaimedError, match="already claimed by Jane Ruiz"):
            service.claim_item(world.session, world.other, clock_id, clock=world.clock)

    def test_claiming_again_keeps_the_first_claim(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        first = service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        world.clock.advance(timedelta(minutes=5))
        again = service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        assert again.assigned_to == first.assigned_to

    def test_refused_when_the_clock_is_met(self, world: World) -> None:
        case = world.case()
        referral_service.acknowledge_referral(
            world.session, world.manager, case, AcknowledgeIn(), clock=world.clock
        )
        with pytest.raises(WorkItemNotOpenError):
            service.claim_item(
                world.session,
                world.manager,
                world.clock_id(case, ClockKind.acknowledgement),
                clock=world.clock,
            )

    def test_not_found_when_there_is_no_such_item(self, world: World) -> None:
        with pytest.raises(WorkItemNotFoundError):
            service.claim_item(world.session, world.manager, 2**31 - 1, clock=world.clock)

    def test_claim_is_audited(self, world: World) -> None:
        case = world.case()
        clock_id = world.clock_id(case, ClockKind.acknowledgement)
        service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        record = world.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "workqueue.claim")
        ).one()
        assert record.case_number == case


class TestReleaseItem:
    def test_assignee_releases_back_to_the_team(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        released = service.release_item(world.session, world.manager, clock_id, clock=world.clock)
        assert released.assigned_to is None
        assert world.queue(mine=True).items == []
        # Free again: someone else may take it.
        service.claim_item(world.session, world.other, clock_id, clock=world.clock)

    def test_refused_to_someone_else(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        with pytest.raises(WorkItemNotYoursError, match="Jane Ruiz"):
            service.release_item(world.session, world.other, clock_id, clock=world.clock)

    def test_supervisor_may_release_anyones(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        service.claim_item(world.session, world.manager, clock_id, clock=world.clock)
        released = service.release_item(
            world.session, world.supervisor, clock_id, clock=world.clock
        )
        assert released.assigned_to is None

    def test_refused_when_nobody_holds_it(self, world: World) -> None:
        clock_id = world.clock_id(world.case(), ClockKind.acknowledgement)
        with pytest.raises(WorkItemNotClaimedError):
            service.release_item(world.session, world.manager, clock_id, clock=world.clock)


# ---- the plan on PostgreSQL ----------------------------------------------------------------


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


@pytest.mark.postgres_only
def test_a_team_page_is_an_index_scan_in_due_order(
    world: World, engine: Engine, db_kind: str
) -> None:
    """Many open clocks of several teams: the page walks (team, status, due_at) and stops;
    nothing sorts the whole team (an incremental sort of equal due times is fine)."""
    if db_kind != "postgres":
        pytest.skip("PostgreSQL plan")
    t0 = world.clock.now()
    world.session.execute(
        insert(Clock),
        [
            {
                "kind": ClockKind.acknowledgement if n % 2 else ClockKind.service_start,
                "status": ClockStatus.open if n % 4 else ClockStatus.met,
                "calendar": "clock",
                "time_zone": "UTC",
                "rule_source": "bench",
                "started_at": t0,
                "due_at": t0 + timedelta(minutes=n % 5000),
            }
            for n in range(20_000)
        ],
    )
    world.session.execute(text("ANALYZE clocks"))
    captured: list[tuple[str, Any]] = []

    def grab(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        repository.page(
            world.session,
            world.manager,
            team=Team.intake.value,
            assigned_user_id=None,
            kind=None,
            limit=50,
            offset=0,
        )
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, parameters = captured[-1]
    explained = world.session.connection().exec_driver_sql(
        "EXPLAIN (FORMAT JSON) " + statement, parameters
    )
    raw = explained.scalar_one()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    nodes = _plan_nodes(plan)
    assert any(n.get("Index Name") == "ix_clocks_team_status_due_at" for n in nodes), plan
    assert not any(n["Node Type"] == "Sort" for n in nodes), plan
    assert not any(
        n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "clocks" for n in nodes
    )
