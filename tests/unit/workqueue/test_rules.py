"""Work-queue rules: the urgency order and the plain words of each item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.core.actor import Actor, Role
from careloop.identity.permissions import may
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.sla.models import ClockKind
from careloop.workqueue import rules

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    clock_id: int
    due_at: datetime
    discharge_dependent: bool = False


def order(items: list[Item]) -> list[int]:
    return [i.clock_id for i in rules.in_urgency_order(items, NOW)]


class TestUrgencyOrder:
    def test_overdue_first_then_by_due_time(self) -> None:
        items = [
            Item(1, NOW + timedelta(hours=2)),
            Item(2, NOW - timedelta(minutes=5)),
            Item(3, NOW + timedelta(minutes=30)),
            Item(4, NOW - timedelta(hours=3)),
        ]
        assert order(items) == [4, 2, 3, 1]

    def test_discharge_dependent_first_when_due_at_the_same_time(self) -> None:
        due = NOW + timedelta(hours=1)
        items = [Item(1, due), Item(2, due, discharge_dependent=True), Item(3, due)]
        assert order(items) == [2, 1, 3]

    def test_discharge_does_not_jump_an_earlier_deadline(self) -> None:
        items = [
            Item(1, NOW + timedelta(hours=2), discharge_dependent=True),
            Item(2, NOW + timedelta(hours=1)),
        ]
        assert order(items) == [2, 1]

    def test_clock_id_breaks_the_last_tie(self) -> None:
        due = NOW - timedelta(hours=1)
        assert order([Item(9, due), Item(3, due), Item(5, due)]) == [3, 5, 9]

    def test_due_exactly_now_counts_as_overdue(self) -> None:
        assert rules.is_overdue(NOW, NOW)
        assert not rules.is_overdue(NOW, NOW + timedelta(seconds=1))

    @given(
        st.lists(
            st.tuples(st.integers(-5000, 5000), st.booleans()),
            min_size=1,
            max_size=30,
            unique_by=lambda t: t,
        )
    )
    def test_every_overdue_item_comes_before_every_pending_one(
        self, specs: list[tuple[int, bool]]
    ) -> None:
        items = [
            Item(n, NOW + timedelta(minutes=minutes), flag)
            for n, (minutes, flag) in enumerate(specs, start=1)
        ]
        ordered = rules.in_urgency_order(items, NOW)
        overdue = [rules.is_overdue(NOW, i.due_at) for i in ordered]
        assert overdue == sorted(overdue, reverse=True)
        dues = [i.due_at for i in ordered]
        assert dues == sorted(dues)
        assert rules.in_urgency_order(list(reversed(items)), NOW) == ordered


class TestDischargeDependent:
    @pytest.mark.parametrize(
        ("kind", "urgency", "discharge_at", "expected"),
        [
            ("discharge", Urgency.routine, None, True),
            ("service_start", Urgency.discharge, None, True),
            ("service_start", Urgency.routine, NOW, True),
            ("service_start", Urgency.urgent, None, False),
            ("credential_expiry", None, None, False),
        ],
    )
    def test_discharge_dependent_when_the_hospital_waits(
        self, kind: str, urgency: Urgency | None, discharge_at: datetime | None, expected: bool
    ) -> None:
        assert rules.is_discharge_dependent(kind, urgency, discharge_at) is expected


class TestDueText:
    @pytest.mark.parametrize(
        ("due_at", "text", "minutes"),
        [
            (NOW - timedelta(hours=3, minutes=10), "3 h 10 min late", 190),
            (NOW + timedelta(minutes=45), "due in 45 min", 0),
            (NOW, "due now", 0),
            (NOW - timedelta(seconds=20), "less than 1 min late", 0),
            (NOW - timedelta(days=2, hours=4), "2 d 4 h late", 3120),
        ],
    )
    def test_plain_words_for_the_time_left_or_lost(
        self, due_at: datetime, text: str, minutes: int
    ) -> None:
        assert rules.due_text(NOW, due_at) == text
        assert rules.overdue_minutes(NOW, due_at) == minutes

    def test_overdue_by_is_negative_while_time_is_left(self) -> None:
        assert rules.overdue_by(NOW, NOW + timedelta(minutes=5)) == timedelta(minutes=-5)


class TestDescribe:
    def test_every_clock_kind_is_described(self) -> None:
        assert {k.value for k in ClockKind} == rules.KINDS
        for kind in ClockKind:
            for status in ReferralStatus:
                described = rules.describe(kind, status)
                assert described.what and described.action and described.path_template

    def test_acknowledgement_names_the_case_number_and_a_case_manager(self) -> None:
        what, action, method, path = rules.describe(
            ClockKind.acknowledgement, ReferralStatus.received
        )
        assert what == (
            "Acknowledge the referral: give the referrer the case number and a case manager"
        )
        assert (action, method) == ("acknowledge", "POST")
        assert path == "/api/v1/referrals/{case_number}/acknowledge"

    @pytest.mark.parametrize("kind", [ClockKind.service_start, ClockKind.service_warning])
    @pytest.mark.parametrize(
        ("status", "what", "action", "method", "path"),
        [
            (
                ReferralStatus.acknowledged,
                "Verify the member's eligibility and benefits",
                "verify_eligibility",
                "POST",
                "/api/v1/referrals/{case_number}/verify-eligibility",
            ),
            (
                ReferralStatus.authorized,
                "Offer the referral to a provider",
                "offer",
                "POST",
                "/api/v1/referrals/{case_number}/offers",
            ),
            (
                ReferralStatus.denied,
                "Appeal the denial before the window closes",
                "appeal",
                "GET",
                "/api/v1/referrals/{case_number}/authorizations",
            ),
            (
                ReferralStatus.offered,
                "Chase the provider's answer to the offer",
                "chase_offer",
                "GET",
                "/api/v1/offers?case_number={case_number}",
            ),
            (
                ReferralStatus.accepted,
                "Schedule the delivery or first visit with the provider",
                "schedule",
                "POST",
                "/api/v1/referrals/{case_number}/appointments",
            ),
            (
                ReferralStatus.scheduled,
                "Confirm the delivery or visit happened and record it",
                "record_outcome",
                "GET",
                "/api/v1/referrals/{case_number}/appointments",
            ),
            (
                ReferralStatus.unplaced,
                "Find a provider outside the ranked list or escalate",
                "offer_outside_list",
                "POST",
                "/api/v1/referrals/{case_number}/offers",
            ),
        ],
    )
    def test_service_start_asks_for_the_next_step_of_the_case(
        self,
        kind: ClockKind,
        status: ReferralStatus,
        what: str,
        action: str,
        method: str,
        path: str,
    ) -> None:
        assert rules.describe(kind, status) == (what, action, method, path)

    def test_discharge_keeps_the_next_step_with_the_hospital_deadline_in_front(self) -> None:
        described = rules.describe(ClockKind.discharge, ReferralStatus.authorized)
        assert described.what == "Secure a start before the hospital discharge"
        assert described.action == "offer"

    def test_authorisation_and_appointment_clocks_name_their_subject(self) -> None:
        decision = rules.describe(ClockKind.authorization_decision, ReferralStatus.denied)
        assert decision.path_template == "/api/v1/authorizations/{subject_id}/decision"
        outcome = rules.describe(ClockKind.appointment_outcome, ReferralStatus.scheduled)
        assert outcome.action == "record_outcome"
        assert rules.fill_path(outcome.path_template, subject_id=7) == (
            "/api/v1/appointments/7/outcome"
        )

    def test_offer_response_and_credential_expiry(self) -> None:
        offer = rules.describe(ClockKind.offer_response, ReferralStatus.offered)
        assert offer == (
            "Chase the provider or withdraw the offer",
            "withdraw_offer",
            "POST",
            "/api/v1/offers/{offer_id}/withdraw",
        )
        credential = rules.describe(ClockKind.credential_expiry, None)
        assert credential.what == "Renew the provider's credential"
        assert credential.path_template == "/api/v1/providers/{provider_id}/credentials"


class TestFillPath:
    def test_ids_filled_in(self) -> None:
        assert rules.fill_path("/api/v1/offers/{offer_id}/withdraw", offer_id=7) == (
            "/api/v1/offers/7/withdraw"
        )

    def test_none_when_an_id_is_missing(self) -> None:
        assert rules.fill_path("/api/v1/referrals/{case_number}", case_number=None) is None


class TestRelease:
    def test_assignee_or_supervisor_only(self) -> None:
        assert rules.may_release(actor_user_id=4, is_supervisor=False, assignee=4)
        assert rules.may_release(actor_user_id=5, is_supervisor=True, assignee=4)
        assert not rules.may_release(actor_user_id=5, is_supervisor=False, assignee=4)
        assert not rules.may_release(actor_user_id=None, is_supervisor=False, assignee=4)


class TestPermissions:
    @pytest.mark.parametrize("role", list(Role))
    def test_only_coordination_staff_read_and_claim(self, role: Role) -> None:
        actor = Actor(user_id=1, role=role, organization_id=None, display_name="x")
        staff = role in {
            Role.intake_agent,
            Role.case_manager,
            Role.supervisor,
            Role.clinical_reviewer,
        }
        assert may(actor, "workqueue:read") is staff
        assert may(actor, "workqueue:claim") is staff


# ---- the work a status calls for, and the ladder ------------------------------------------


def _facts(status: ReferralStatus, *, acknowledged: bool = False, **clock_due: datetime) -> Any:
    return rules.CaseFacts(
        referral_id=12,
        status=status,
        acknowledged=acknowledged,
        ack_due_at=NOW + timedelta(hours=8),
        service_due_at=NOW + timedelta(days=3),
        changed_at=NOW,
        clock_due=dict(clock_due),
    )


@pytest.mark.parametrize("status", sorted(ReferralStatus))
def test_every_open_status_needs_someone_and_ended_ones_nobody(status: ReferralStatus) -> None:
    work = rules.needed_work(_facts(status, acknowledged=True))
    if status in (ReferralStatus.closed, ReferralStatus.cancelled):
        assert work == []
    else:
        assert work and all(w.subject.startswith("case:12:") for w in work)
        assert all(w.team in rules.TEAMS and "_" not in w.title for w in work)


def test_a_received_case_is_acknowledged_by_its_acknowledgement_due_time() -> None:
    (work,) = rules.needed_work(_facts(ReferralStatus.received))
    assert (work.subject, work.team, work.due_at) == (
        "case:12:acknowledge",
        "intake",
        NOW + timedelta(hours=8),
    )


def test_unacknowledged_gaps_need_both_acknowledging_and_clarifying() -> None:
    kinds = [w.kind for w in rules.needed_work(_facts(ReferralStatus.needs_clarification))]
    assert kinds == ["acknowledge", "clarify"]
    (clarify,) = rules.needed_work(_facts(ReferralStatus.needs_clarification, acknowledged=True))
    assert clarify.due_at == NOW + rules.CLARIFICATION_CHASE


def test_the_nearest_measuring_clock_gives_the_due_time() -> None:
    answer_by = NOW + timedelta(hours=2)
    (work,) = rules.needed_work(
        _facts(ReferralStatus.offered, acknowledged=True, offer_response=answer_by)
    )
    assert (work.kind, work.team, work.due_at) == ("offer_answer", "network", answer_by)
    (fallback,) = rules.needed_work(_facts(ReferralStatus.offered, acknowledged=True))
    assert fallback.due_at == NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("watch_in", "due_in"),
    [
        # The hospital expects the discharge 4 days out: its watch (a day before) is
        # after the service start, which stays the due time.
        (timedelta(days=3, hours=1), timedelta(days=3)),
        # A discharge sooner: its watch comes first.
        (timedelta(hours=20), timedelta(hours=20)),
    ],
)
def test_a_watched_discharge_never_makes_the_work_due_after_the_service_start(
    watch_in: timedelta, due_in: timedelta
) -> None:
    for status in (ReferralStatus.acknowledged, ReferralStatus.authorized):
        (work,) = rules.needed_work(
            _facts(
                status,
                acknowledged=True,
                discharge=NOW + watch_in,
                service_start=NOW + timedelta(days=3),
            )
        )
        assert work.due_at == NOW + due_in


def test_climbing_to_the_supervisor_at_breach_then_the_manager_after_the_window() -> None:
    ladder = rules.ladder_for("intake", None)
    due = NOW - timedelta(minutes=1)
    assert (
        rules.climb_to(
            level=1, due_at=due, level_raised_at=None, now=NOW, ladder=ladder, manager_due=None
        )
        == 2
    )
    assert (
        rules.climb_to(
            level=1,
            due_at=NOW + timedelta(minutes=1),
            level_raised_at=None,
            now=NOW,
            ladder=ladder,
            manager_due=None,
        )
        is None
    )
    raised = NOW - timedelta(hours=5)
    for manager_due, expected in ((NOW, 3), (NOW + timedelta(minutes=1), None)):
        assert (
            rules.climb_to(
                level=2,
                due_at=due,
                level_raised_at=raised,
                now=NOW,
                ladder=ladder,
                manager_due=manager_due,
            )
            == expected
        )
    assert (
        rules.climb_to(
            level=3, due_at=due, level_raised_at=raised, now=NOW, ladder=ladder, manager_due=NOW
        )
        is None
    )


def test_ladders_per_team_and_payer() -> None:
    assert rules.ladder_for("intake", None) == rules.DEFAULT_LADDER
    assert rules.ladder_for("clinical_review", "NEHP").business_hours is False
    custom = {("intake", "NEHP"): rules.Ladder(top_level=2)}
    assert rules.ladder_for("intake", "nehp", custom).top_level == 2
    assert rules.ladder_for("intake", "OTHER", custom) == rules.DEFAULT_LADDER
    assert rules.DEFAULT_LADDER.manager_after == timedelta(hours=4)


@pytest.mark.parametrize(
    ("due", "words"),
    [
        (NOW - timedelta(hours=3, minutes=10), "overdue by 3 h 10 min"),
        (NOW, "due now"),
        (NOW + timedelta(minutes=45), "due in 45 min"),
    ],
)
def test_late_words(due: datetime, words: str) -> None:
    assert rules.late_words(NOW, due) == words
