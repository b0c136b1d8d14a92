"""Matching and offers against a real database: candidates with reasons, offers one at a
time, answers, expiry to the next candidate, unplaced, and who may see what."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection, event, func, select
from sqlalchemy.orm import Session

from careloop import worker
from careloop.app import create_app
from careloop.audit.models import AuditRecord
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.core.errors import ForbiddenError
from careloop.db.session import Database
from careloop.matching import repository, service
from careloop.matching.errors import (
    NoteRequiredError,
    OfferClosedError,
    OfferNotFoundError,
    ProviderNotEligibleError,
)
from careloop.matching.models import DeclineReason, Offer, OfferStatus
from careloop.matching.schemas import DeclineIn, OfferCreate, WithdrawIn
from careloop.referral import assignment
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.referral.errors import ReferralNotFoundError
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import CancelIn
from careloop.settings import Settings
from tests.factories.coverage import make_coverage, make_ready
from tests.factories.identity import make_user
from tests.factories.network import MadeProvider, make_provider
from tests.factories.referral import make_payer, referral_draft

# Oxygen only, so one DME provider can do the whole order.
OXYGEN = [{"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True}]


class World:
    def __init__(self, session: Session, clock: FixedClock) -> None:
        self.session, self.clock = session, clock
        make_payer(session, clock=clock)
        make_payer(session, clock=clock, code="LIBERTY", name="Liberty Senior Advantage")
        make_coverage(session, clock=clock)
        self.admin, _ = make_user(session, clock=clock, role=Role.supervisor)
        self.manager, _ = make_user(
            session, clock=clock, role=Role.case_manager, name="Jane Ruiz", extension="4417"
        )

    def provider(self, name: str, **options: object) -> MadeProvider:
        return make_provider(self.session, clock=self.clock, admin=self.admin, name=name, **options)

    def case(self, **overrides: object) -> str:
        overrides.setdefault("items", OXYGEN)
        draft = referral_draft(self.clock.now(), **overrides)
        number = referral_service.submit_referral(
            self.session, self.manager, draft, clock=self.clock
        ).case_number
        make_ready(self.session, self.manager, number, clock=self.clock)
        return number

    def status(self, case_number: str) -> ReferralStatus:
        return self.session.scalars(
            select(Referral.status).where(Referral.case_number == case_number)
        ).one()


@pytest.fixture
def world(session: Session, clock: FixedClock) -> World:
    return World(session, clock)


class TestCandidates:
    def test_ranked_with_reasons_and_others_left_out_with_their_first_rule(
        self, world: World
    ) -> None:
        good = world.provider("Charter Oak Home Medical", capacity=5)
        world.provider("Liberty Only Medical", payers=["LIBERTY"])
        world.provider(
            "Lapsed Licence Medical",
            credentials=[
                {"kind": "licence", "expires_on": "2026-11-01"},
                {"kind": "w9"},
                {"kind": "caqh", "attested_on": "2026-11-01"},
                {"kind": "liability_insurance", "expires_on": "2027-11-01"},
            ],
        )
        world.provider("Visits Only Agency", service_line="home_health", categories=["nursing"])
        world.provider("Far Away Medical", zip_codes=["10001"])
        case = world.case()
        result = service.find_candidates(world.session, world.manager, case, clock=world.clock)
        assert [c.name for c in result.ranked] == ["Charter Oak Home Medical"]
        reasons = result.ranked[0].reasons
        assert "in network for New England Health Plan on Thu 26 Nov 2026" in reasons
        assert "serves ZIP 06103" in reasons
        assert "offers oxygen" in reasons
        assert "5 of 5 slots left today" in reasons
        left_out = {c.name: c.rule for c in result.excluded}
        assert left_out == {
            "Liberty Only Medical": "out_of_network",
            "Lapsed Licence Medical": "not_offerable",
            "Visits Only Agency": "service_not_offered",
        }
        assert good.id == result.ranked[0].provider_id

    def test_reasons_name_the_day_and_the_members_language_in_words(self, world: World) -> None:
        world.provider("Portuguese Speaking Medical", languages=["en", "pt"])
        world.provider("English Only Medical", languages=["en"])
        case = world.case(member__language="pt-BR")
        result = service.find_candidates(world.session, world.manager, case, clock=world.clock)
        reasons = {c.name: c.reasons for c in result.ranked}
        assert "speaks Portuguese" in reasons["Portuguese Speaking Medical"]
        assert "does not speak Portuguese" in reasons["English Only Medical"]
        for said in reasons.values():
            assert "in network for New England Health Plan on Thu 26 Nov 2026" in said
            assert not any("2026-11-26" in r or r.endswith(" pt-BR") for r in said), said

    def test_a_ranking_audits_its_case_once_and_a_missing_case_not_at_all(
        self, world: World
    ) -> None:
        world.provider("Charter Oak Home Medical")
        case = world.case()
        matched = select(AuditRecord).where(AuditRecord.action == "referral.match")
        before = len(world.session.scalars(matched).all())
        service.find_candidates(world.session, world.manager, case, clock=world.clock)
        records = world.session.scalars(matched).all()[before:]
        referral_id = world.session.scalars(
            select(Referral.id).where(Referral.case_number == case)
        ).one()
        assert [(r.case_number, r.referral_id, r.outcome) for r in records] == [
            (case, referral_id, "success")
        ]
        record = records[0]
        assert record.actor_user_id == world.manager.user_id
        assert record.actor_role == world.manager.role.value
        assert record.actor_label == world.manager.label
        assert record.at == world.clock.now()
        assert record.detail is None
        with pytest.raises(ReferralNotFoundError):
            service.find_candidates(
                world.session, world.manager, "CL-2026-999999", clock=world.clock
            )
        assert len(world.session.scalars(matched).all()) == before + 1

    def test_provider_staff_may_not_see_candidates(self, world: World) -> None:
        provider = world.provider("Charter Oak Home Medical")
        case = world.case()
        with pytest.raises(ForbiddenError):
            service.find_candidates(world.session, provider.staff, case, clock=world.clock)


class TestOffers:
    def test_offered_to_best_with_a_two_business_hour_window(self, world: World) -> None:
        world.provider("Charter Oak Home Medical")
        case = world.case()
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(), clock=world.clock
        )
        assert offer.status is OfferStatus.pending
        assert offer.respond_by == world.clock.now() + timedelta(hours=2)
        assert world.status(case) is ReferralStatus.offered

    def test_thirty_minute_window_when_discharge_depends_on_it(self, world: World) -> None:
        world.provider("Charter Oak Home Medical")
        discharge = (world.clock.now() + timedelta(hours=30)).isoformat()
        case = world.case(urgency="discharge", discharge_at=discharge)
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(), clock=world.clock
        )
        assert offer.respond_by == world.clock.now() + timedelta(minutes=30)

    def test_provider_sees_only_what_it_needs_before_accepting_then_the_case(
        self, world: World
    ) -> None:
        provider = world.provider("Charter Oak Home Medical")
        case = world.case()
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(), clock=world.clock
        )
        seen = service.get_offer(world.session, provider.staff, offer.id, clock=world.clock)
        dumped = seen.model_dump_json()
        assert "Dorothy" not in dumped and "Hale" not in dumped and "Asylum" not in dumped
        assert seen.case.zip_code == "06103" and seen.case.items[0]["code"] == "E1390"
        with pytest.raises(ReferralNotFoundError):
            referral_service.get_referral(world.session, provider.staff, case, clock=world.clock)
        accepted = service.accept_offer(world.session, provider.staff, offer.id, clock=world.clock)
        assert accepted.status is OfferStatus.accepted
        assert accepted.links["case"] == f"/api/v1/referrals/{case}"
        full = referral_service.get_referral(world.session, provider.staff, case, clock=world.clock)
        assert full.member.last_name == "Hale"
        assert world.status(case) is ReferralStatus.accepted

    def test_next_candidate_offered_when_the_first_declines(self, world: World) -> None:
        first = world.provider("Charter Oak Home Medical", zip_codes=["06103"])
        second = world.provider("Nutmeg Respiratory", zip_codes=["06103"], capacity=2)
        case = world.case()
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(provider_id=first.id), clock=world.clock
        )
        service.decline_offer(
            world.session,
            first.staff,
            offer.id,
            DeclineIn(reason=DeclineReason.no_capacity),
            clock=world.clock,
        )
        offers = world.session.scalars(select(Offer).order_by(Offer.id)).all()
        assert [(o.provider_id, o.status) for o in offers] == [
            (first.id, OfferStatus.declined),
            (second.id, OfferStatus.pending),
        ]
        assert world.status(case) is ReferralStatus.offered
        # The first provider is not offered the same referral again.
        result = service.find_candidates(world.session, world.manager, case, clock=world.clock)
        assert {c.name: c.rule for c in result.excluded}["Charter Oak Home Medical"] == (
            "already_offered"
        )

    def test_unplaced_and_escalated_when_nobody_is_left(self, world: World) -> None:
        only = world.provider("Charter Oak Home Medical")
        case = world.case()
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(), clock=world.clock
        )
        service.decline_offer(
            world.session,
            only.staff,
            offer.id,
            DeclineIn(reason=DeclineReason.clinical_complexity),
            clock=world.clock,
        )
        referral = world.session.scalars(select(Referral).where(Referral.case_number == case)).one()
        assert referral.status is ReferralStatus.unplaced
        assert referral.escalated and "unplaced" in (referral.escalation_reason or "")

    def test_refused_naming_the_rule_when_chosen_provider_is_not_eligible(
        self, world: World
    ) -> None:
        world.provider("Charter Oak Home Medical")
        outsider = world.provider("Liberty Only Medical", payers=["LIBERTY"])
        case = world.case()
        with pytest.raises(ProviderNotEligibleError, match="network"):
            service.offer_referral(
                world.session,
                world.manager,
                case,
                OfferCreate(provider_id=outsider.id),
                clock=world.clock,
            )

    def test_note_required_when_declining_for_other(self, world: World) -> None:
        provider = world.provider("Charter Oak Home Medical")
        offer = service.offer_referral(
            world.session, world.manager, world.case(), OfferCreate(), clock=world.clock
        )
        with pytest.raises(NoteRequiredError):
            service.decline_offer(
                world.session,
                provider.staff,
                offer.id,
                DeclineIn(reason=DeclineReason.other),
                clock=world.clock,
            )


class TestListOffers:
    def test_each_offer_with_its_case_and_provider_in_few_queries_when_cases_repeat(
        self, world: World
    ) -> None:
        world.provider("Charter Oak Home Medical")
        world.provider("Nutmeg Respiratory")
        first, second = world.case(), world.case(member__first_name="Walter")
        offered = service.offer_referral(
            world.session, world.manager, first, OfferCreate(), clock=world.clock
        )
        service.withdraw_offer(
            world.session,
            world.manager,
            offered.id,
            WithdrawIn(reason="Provider phoned: no driver"),
            clock=world.clock,
        )
        service.offer_referral(
            world.session, world.manager, second, OfferCreate(), clock=world.clock
        )
        world.session.expunge_all()  # nothing cached: every read below is a query

        statements: list[str] = []
        connection = world.session.connection()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(connection, "before_cursor_execute", listener)
        try:
            page = service.list_offers(
                world.session,
                world.manager,
                status=None,
                case_number=None,
                limit=50,
                offset=0,
                clock=world.clock,
            )
        finally:
            event.remove(connection, "before_cursor_execute", listener)

        assert page.total == 3
        other = ({"Charter Oak Home Medical", "Nutmeg Respiratory"} - {offered.provider_name}).pop()
        listed = {(o.case.case_number, o.provider_name, o.status) for o in page.items}
        assert (first, offered.provider_name, OfferStatus.withdrawn) in listed
        assert (first, other, OfferStatus.pending) in listed
        assert [o.status for o in page.items if o.case.case_number == second] == [
            OfferStatus.pending
        ]
        assert all(o.provider_name for o in page.items)
        # count + page + one provider query + (referral, items, payer) per distinct case.
        assert len(statements) <= 3 + 3 * 2


class TestAccessFromTheOtherSide:
    def test_other_provider_cannot_read_or_answer_an_offer(self, world: World) -> None:
        world.provider("Charter Oak Home Medical")
        other = world.provider("Nutmeg Respiratory", zip_codes=["10001"])
        offer = service.offer_referral(
            world.session, world.manager, world.case(), OfferCreate(), clock=world.clock
        )
        for call in (
            lambda: service.get_offer(world.session, other.staff, offer.id, clock=world.clock),
            lambda: service.accept_offer(world.session, other.staff, offer.id, clock=world.clock),
            lambda: service.decline_offer(
                world.session,
                other.staff,
                offer.id,
                DeclineIn(reason=DeclineReason.no_capacity),
                clock=world.clock,
            ),
        ):
            with pytest.raises(OfferNotFoundError):
                call()
        page = service.list_offers(
            world.session,
            other.staff,
            status=None,
            case_number=None,
            limit=50,
            offset=0,
            clock=world.clock,
        )
        assert page.total == 0

    def test_conflict_when_accepting_an_expired_or_withdrawn_offer(self, world: World) -> None:
        provider = world.provider("Charter Oak Home Medical")
        world.provider("Nutmeg Respiratory")
        offer = service.offer_referral(
            world.session,
            world.manager,
            world.case(),
            OfferCreate(provider_id=provider.id),
            clock=world.clock,
        )
        world.clock.advance(timedelta(hours=3))
        with pytest.raises(OfferClosedError, match="expired"):
            service.accept_offer(world.session, provider.staff, offer.id, clock=world.clock)
        second = world.case(member__first_name="Walter")
        offer2 = service.offer_referral(
            world.session,
            world.manager,
            second,
            OfferCreate(provider_id=provider.id),
            clock=world.clock,
        )
        service.withdraw_offer(
            world.session,
            world.manager,
            offer2.id,
            WithdrawIn(reason="Provider phoned: no driver"),
            clock=world.clock,
        )
        with pytest.raises(OfferClosedError, match="withdrawn"):
            service.accept_offer(world.session, provider.staff, offer2.id, clock=world.clock)


class TestTick:
    def test_expired_offer_goes_to_the_next_candidate_once(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            world = World(session, clock)
            first = world.provider("Charter Oak Home Medical", capacity=9)
            second = world.provider("Nutmeg Respiratory", capacity=2)
            case = world.case()
            service.offer_referral(
                session, world.manager, case, OfferCreate(provider_id=first.id), clock=clock
            )
        clock.advance(timedelta(hours=2, minutes=1))
        assert worker.run_until_idle(database, clock=clock)["offer_response"] == 1
        assert worker.run_until_idle(database, clock=clock)["offer_response"] == 0
        with database.unit_of_work() as session:
            offers = session.scalars(select(Offer).order_by(Offer.id)).all()
            assert [(o.provider_id, o.status) for o in offers] == [
                (first.id, OfferStatus.expired),
                (second.id, OfferStatus.pending),
            ]
            types = session.scalars(select(ReferralEvent.type).order_by(ReferralEvent.id)).all()
            assert types[-3:] == ["offer.made", "offer.expired", "offer.made"]

    def test_lapsed_credential_withdraws_pending_offers(
        self, database: Database, clock: FixedClock
    ) -> None:
        soon = (clock.now().date() + timedelta(days=1)).isoformat()
        # Offered at 17:30 in Hartford: it is due back at 10:30 tomorrow, after midnight
        # UTC, when the insurance lapses.
        clock.set(clock.now().replace(hour=22, minute=30))
        with database.unit_of_work() as session:
            world = World(session, clock)
            lapsing = world.provider(
                "Lapsing Medical",
                capacity=9,
                credentials=[
                    {"kind": "licence", "expires_on": "2027-11-01"},
                    {"kind": "w9"},
                    {"kind": "caqh", "attested_on": "2026-11-20"},
                    {"kind": "liability_insurance", "expires_on": soon},
                ],
            )
            case = world.case()
            service.offer_referral(
                session, world.manager, case, OfferCreate(provider_id=lapsing.id), clock=clock
            )
        clock.set(clock.now().replace(hour=0, minute=1) + timedelta(days=1))
        fired = worker.run_until_idle(database, clock=clock)
        assert fired["credential_expiry"] == 1
        assert fired["offer_response"] == 0  # withdrawn by the lapse, not expired
        assert worker.run_until_idle(database, clock=clock)["credential_expiry"] == 0
        with database.unit_of_work() as session:
            status = session.scalars(select(Referral.status)).one()
            assert status is ReferralStatus.unplaced


class TestTrackRecord:
    def test_acceptance_rate_comes_from_the_timeline(self, world: World) -> None:
        provider = world.provider("Charter Oak Home Medical", capacity=20)
        for index in range(4):
            case = world.case(member__first_name=f"M{index}")
            offer = service.offer_referral(
                world.session, world.manager, case, OfferCreate(), clock=world.clock
            )
            if index < 3:
                service.accept_offer(world.session, provider.staff, offer.id, clock=world.clock)
            else:
                service.decline_offer(
                    world.session,
                    provider.staff,
                    offer.id,
                    DeclineIn(reason=DeclineReason.no_capacity),
                    clock=world.clock,
                )
        result = service.find_candidates(
            world.session, world.manager, world.case(member__first_name="New"), clock=world.clock
        )
        assert "accepted 75 % of offers" in result.ranked[0].reasons
        assert "1 of 20 slots left today" not in result.ranked[0].reasons


class TestReportedEdges:
    def test_unplaced_move_is_kept_when_nobody_is_eligible(
        self, database: Database, clock: FixedClock
    ) -> None:
        with database.unit_of_work() as session:
            world = World(session, clock)
            case = world.case()
            result = service.offer_referral(
                session, world.manager, case, OfferCreate(), clock=clock
            )
            assert result.status == "unplaced"
        with database.unit_of_work() as session:
            referral = session.scalars(select(Referral)).one()
            assert referral.status is ReferralStatus.unplaced and referral.escalated

    def test_cancelling_an_offered_case_withdraws_its_offer(self, world: World) -> None:
        provider = world.provider("Charter Oak Home Medical")
        case = world.case()
        offer = service.offer_referral(
            world.session, world.manager, case, OfferCreate(), clock=world.clock
        )
        referral_service.cancel_referral(
            world.session,
            world.manager,
            case,
            CancelIn(reason="Member moved away"),
            clock=world.clock,
        )
        seen = service.get_offer(world.session, provider.staff, offer.id, clock=world.clock)
        assert seen.status is OfferStatus.withdrawn
        with pytest.raises(OfferClosedError):
            service.accept_offer(world.session, provider.staff, offer.id, clock=world.clock)


def test_operator_weights_change_the_order(
    database: Database, connection: Connection, clock: FixedClock
) -> None:
    with database.unit_of_work() as session:
        world = World(session, clock)
        world.provider("Zip Neighbour Medical", zip_codes=["06103"])
        world.provider(
            "County Wide Medical",
            zip_codes=[],
            counties=[{"state": "CT", "county": "Hartford County"}],
        )
        case = world.case()
        default = service.find_candidates(session, world.manager, case, clock=clock)
        assert default.ranked[0].name == "Zip Neighbour Medical"
    # The same test transaction, seen through a database configured by an operator.
    weighted = Database(
        database.engine,
        bind=connection,
        config={"matching_weights": {"same_zip": 0.0, "same_county": 5.0}},
    )
    with weighted.unit_of_work() as session:
        result = service.find_candidates(session, world.manager, case, clock=clock)
        assert result.ranked[0].name == "County Wide Medical"


def test_bad_weights_are_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="on_tme"):
        create_app(Settings(matching_weights={"on_tme": 2.0}))


def test_batch_ranks_many_cases_and_audits_each(world: World) -> None:
    world.provider("Charter Oak Home Medical")
    cases = [world.case(member__first_name=f"B{i}") for i in range(3)]
    ranked = service.rank_batch(world.session, world.manager, cases, clock=world.clock)
    assert list(ranked) == cases
    assert all([c.name for c in found] == ["Charter Oak Home Medical"] for found in ranked.values())


def test_batch_gives_what_each_ranking_gives_and_audits_every_case(world: World) -> None:
    world.provider("Charter Oak Home Medical", capacity=5)
    world.provider("County Wide Medical", counties=[{"state": "CT", "county": "Hartford County"}])
    world.provider("Liberty Only Medical", payers=["LIBERTY"])
    world.provider("Visits Only Agency", service_line="home_health", categories=["nursing"])
    cases = [world.case(member__first_name=f"C{i}") for i in range(3)]
    cases.append(
        world.case(
            member__first_name="Nurse",
            items=[{"code": "G0299", "code_system": "HCPCS", "quantity": 1}],
        )
    )
    audited = (
        select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "referral.match")
    )
    before = world.session.scalar(audited) or 0
    batch = service.rank_batch(world.session, world.manager, cases, clock=world.clock)
    assert (world.session.scalar(audited) or 0) - before == len(cases)
    for case in cases:
        one = service.find_candidates(world.session, world.manager, case, clock=world.clock)
        assert batch[case] == one.ranked
    assert batch[cases[-1]][0].name == "Visits Only Agency"
    with pytest.raises(ReferralNotFoundError):
        service.rank_batch(
            world.session, world.manager, [*cases, "CL-2026-999999"], clock=world.clock
        )


def test_one_statement_gives_what_the_ranking_explanation_and_track_record_queries_give(
    world: World,
) -> None:
    """``explained_candidates`` against the three queries it replaces: the ranking query,
    the area's providers past the ranked ones (as many more as were ranked, less those),
    and the track records of those in network with a complete checklist (of the others
    only when the cap cut the ranked ones short); with caps that cut the ranked ones
    short, so that the others may hold eligible providers too."""
    made = {}
    for index in range(3):
        eligible = world.provider(f"Eligible {index}", capacity=20)
        made[eligible.id] = eligible
        world.provider(f"Liberty Only {index}", payers=["LIBERTY"])
        world.provider(f"Visits Only {index}", service_line="home_health", categories=["nursing"])
    # A track record: offers answered by eligible providers, accepted and declined.
    for index in range(3):
        offer = service.offer_referral(
            world.session,
            world.manager,
            world.case(member__first_name=f"T{index}"),
            OfferCreate(),
            clock=world.clock,
        )
        staff = made[offer.provider_id].staff
        if index % 2:
            service.accept_offer(world.session, staff, offer.id, clock=world.clock)
        else:
            body = DeclineIn(reason=DeclineReason.no_capacity)
            service.decline_offer(world.session, staff, offer.id, body, clock=world.clock)
    number = world.case()
    case = assignment.case_for_matching(world.session, world.manager, number, clock=world.clock)
    now = world.clock.now()
    inputs = service._inputs(case, now)
    since = now - repository.TRACK_RECORD_WINDOW
    for limit, explained in ((500, 20), (2, 20), (1, 2), (3, 0), (0, 4), (2, 1)):
        ranked = repository.candidates(world.session, **inputs, eligible_only=True, limit=limit)
        seen = {r.provider_id for r in ranked}
        area = repository.candidates(
            world.session, **inputs, eligible_only=False, limit=explained + len(seen)
        )
        expected = ranked + [r for r in area if r.provider_id not in seen][:explained]
        # The others' records only when the cap cut the ranked ones (else none can rank).
        rankable = expected if len(ranked) == limit else ranked
        needed = [r.provider_id for r in rankable if r.checklist_complete and r.in_network]
        records = repository.track_records(world.session, needed, since=since)
        rows, found = repository.explained_candidates(
            world.session, **inputs, explained=explained, since=since, limit=limit
        )
        by_id = sorted(expected, key=lambda r: r.provider_id)
        assert sorted(rows, key=lambda r: r.provider_id) == by_id, (limit, explained)
        assert found == records, (limit, explained)
    rows, found = repository.explained_candidates(
        world.session, **inputs, explained=20, since=since
    )
    assert len(rows) == 9
    assert sum(sum(record) for record in found.values()) == 3  # the answers above


def test_the_pre_filters_of_many_give_what_each_gives_alone(world: World) -> None:
    """``candidates_of_many`` (one statement for many referrals on PostgreSQL) against
    ``candidates`` for each: with and without a county or a payer, and with a cap."""
    world.provider("Charter Oak Home Medical", capacity=5)
    world.provider("County Wide Medical", counties=[{"state": "CT", "county": "Hartford County"}])
    world.provider("Liberty Only Medical", payers=["LIBERTY"])
    world.provider("Visits Only Agency", service_line="home_health", categories=["nursing"])
    numbers = [world.case(member__first_name=f"M{i}") for i in range(2)]
    now = world.clock.now()
    inputs = []
    for number in numbers:
        case = assignment.case_for_matching(world.session, world.manager, number, clock=world.clock)
        inputs.append(service._inputs(case, now))
    inputs.append({**inputs[0], "county": None})
    inputs.append({**inputs[0], "payer_id": None})
    inputs.append({**inputs[1], "service_line": "home_health"})
    for limit in (500, 1):
        many = repository.candidates_of_many(world.session, inputs, limit=limit)
        alone = [
            repository.candidates(world.session, **values, eligible_only=True, limit=limit)
            for values in inputs
        ]
        assert many == alone, limit
    assert [len(rows) for rows in many] == [1, 1, 1, 0, 1]


def test_the_one_case_read_gives_what_the_other_reads_give(world: World) -> None:
    """A ranking's case read (one case: on PostgreSQL by the driver's cursor, its audit a
    CTE of it) against the batch's read of many and the ORM read an offer locks: the same
    values of the same types (enums, UTC instants), and audited as they are."""
    discharge = (world.clock.now() + timedelta(hours=30)).isoformat()
    number = world.case(urgency="discharge", discharge_at=discharge)
    other = world.case(member__first_name="Other")
    read = functools.partial(assignment.case_for_matching, world.session, world.manager)
    one = read(number, clock=world.clock)
    (many, _) = assignment.cases_for_matching(
        world.session, world.manager, [number, other], clock=world.clock
    )
    locked = read(number, clock=world.clock, for_update=True)
    assert one == many == locked
    assert type(one.status) is ReferralStatus and type(one.urgency) is Urgency
    assert one.discharge_at is not None and one.discharge_at.utcoffset() == timedelta(0)
    assert one.discharge_at == datetime.fromisoformat(discharge)
    matched = select(func.count()).where(
        AuditRecord.action == "referral.match", AuditRecord.case_number == number
    )
    assert world.session.scalar(matched) == 3
