"""Referral queries: visibility scoping and the duplicate look-up, on the real database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.core.pagination import PageRequest
from careloop.referral import repository, service
from careloop.referral.rules import duplicate_key
from careloop.referral.schemas import ReferralFilter
from tests.factories.identity import make_user
from tests.factories.referral import VALID_NPI, make_payer, referral_draft


def _submit(session: Session, actor: Actor, clock: FixedClock, **overrides: object) -> str:
    draft = referral_draft(clock.now(), **overrides)
    return service.submit_referral(session, actor, draft, clock=clock).case_number


class TestVisibleTo:
    def test_each_role_sees_only_its_scope(self, session: Session, clock: FixedClock) -> None:
        make_payer(session, clock=clock)
        hartford, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Hartford General"
        )
        albany, _ = make_user(
            session, clock=clock, role=Role.referring_clinician, organization="Albany Riverside"
        )
        staff, _ = make_user(session, clock=clock, role=Role.supervisor)
        provider, _ = make_user(
            session, clock=clock, role=Role.provider_staff, organization="Acme Home Medical"
        )
        ours = _submit(session, hartford, clock)
        theirs = _submit(session, albany, clock, member__first_name="Walter")
        assert repository.get_visible(session, hartford, ours) is not None
        assert repository.get_visible(session, hartford, theirs) is None
        assert repository.get_visible(session, staff, theirs) is not None
        assert repository.get_visible(session, provider, ours) is None
        rows, total = repository.page(session, hartford, ReferralFilter(), PageRequest())
        assert total == 1 and [r.case_number for r in rows] == [ours]


class TestRecentOpenMatches:
    def test_finds_open_referral_with_same_member_npi_and_item_within_window(
        self, session: Session, clock: FixedClock
    ) -> None:
        make_payer(session, clock=clock)
        staff, _ = make_user(session, clock=clock, role=Role.intake_agent)
        first = _submit(session, staff, clock)
        key = duplicate_key("Dorothy", "Hale", referral_draft(clock.now()).member.birth_date)
        since = clock.now() - timedelta(hours=72)
        found = repository.recent_open_matches(
            session, duplicate_key=key, ordering_npi=VALID_NPI, item_codes=["E1390"], since=since
        )
        assert [number for number, _ in found] == [first]
        assert (
            repository.recent_open_matches(
                session,
                duplicate_key=key,
                ordering_npi="1245319599",
                item_codes=["E1390"],
                since=since,
            )
            == []
        )
        assert (
            repository.recent_open_matches(
                session,
                duplicate_key=key,
                ordering_npi=VALID_NPI,
                item_codes=["K0001"],
                since=since,
            )
            == []
        )
