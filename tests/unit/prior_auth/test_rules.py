"""Prior authorisation rules: decision windows, appeal deadline, decision checks, flags."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.payer.rules import AuthorizationRules, PayerRules
from careloop.prior_auth import rules
from careloop.prior_auth.rules import AuthorizationStatus, Decision, DenialReason, Outcome, Priority
from careloop.referral.enums import Urgency

DEFAULT = AuthorizationRules()
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def decision(outcome: Outcome, **kw: object) -> Decision:
    values: dict[str, object] = {
        "authorization_number": None,
        "valid_from": None,
        "valid_to": None,
        "items": [],
        "missing_information": None,
        "denial_reason": None,
        "peer_to_peer_contact": None,
    }
    values.update(kw)
    return Decision(outcome=outcome, **values)  # type: ignore[arg-type]


def test_default_windows_are_72_hours_expedited_and_7_days_standard() -> None:
    assert rules.decision_window(Priority.expedited, DEFAULT) == timedelta(hours=72)
    assert rules.decision_window(Priority.standard, DEFAULT) == timedelta(days=7)
    assert rules.priority_of(Urgency.routine, None) is Priority.standard
    assert rules.priority_of(Urgency.routine, NOW) is Priority.expedited
    assert rules.priority_of(Urgency.urgent, None) is Priority.expedited


def test_payer_overrides_the_windows_and_refuses_nonsense() -> None:
    payer = PayerRules.from_config(
        {"authorization": {"expedited_decision_hours": 24, "appeal_window_days": 45}}
    )
    assert payer.authorization.expedited_decision == timedelta(hours=24)
    assert payer.authorization.appeal_window == timedelta(days=45)
    with pytest.raises(ValueError, match=r"authorization\.appeal_window_days"):
        PayerRules.from_config({"authorization": {"appeal_window_days": 0}})
    with pytest.raises(ValueError, match="unknown setting"):
        PayerRules.from_config({"authorization": {"appeal_days": 30}})


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)))
def test_appeal_deadline_is_the_end_of_the_local_day_a_window_later(naive: datetime) -> None:
    decided = naive.replace(tzinfo=UTC)
    due = rules.appeal_due(decided, DEFAULT, "America/New_York")
    local = decided.astimezone(due.tzinfo)
    assert due.date() == local.date() + timedelta(days=30)
    assert (due.hour, due.minute) == (23, 59)
    assert due > decided


def test_approval_needs_number_dates_and_units_within_the_request() -> None:
    problems = rules.decision_problems(decision(Outcome.approved), {1: 2})
    assert {p.field for p in problems} == {"authorization_number", "valid_from", "valid_to"}
    too_many = decision(
        Outcome.approved,
        authorization_number="PA1",
        valid_from=date(2026, 11, 24),
        valid_to=date(2026, 11, 23),
        items=[(1, 3), (9, 1)],
    )
    fields = {p.field for p in rules.decision_problems(too_many, {1: 2})}
    assert fields == {"valid_to", "items.0.units_approved", "items.1.line"}


def test_fewer_units_is_a_partial_approval_and_all_units_is_not() -> None:
    base = {
        "authorization_number": "PA1",
        "valid_from": date(2026, 11, 24),
        "valid_to": date(2027, 2, 22),
    }
    fewer = decision(Outcome.approved, items=[(1, 1)], **base)
    assert [p.field for p in rules.decision_problems(fewer, {1: 2})] == ["outcome"]
    partial = decision(Outcome.partially_approved, items=[(1, 1)], **base)
    assert rules.decision_problems(partial, {1: 2, 2: 4}) == []
    assert rules.units_approved(partial, {1: 2, 2: 4}) == {1: 1, 2: 4}
    full = decision(Outcome.partially_approved, **base)
    assert [p.field for p in rules.decision_problems(full, {1: 2})] == ["outcome"]


def test_pended_and_denied_say_what_they_must() -> None:
    assert [p.field for p in rules.decision_problems(decision(Outcome.pended), {1: 1})] == [
        "missing_information"
    ]
    denied = rules.decision_problems(decision(Outcome.denied), {1: 1})
    assert {p.field for p in denied} == {"denial_reason", "peer_to_peer_contact"}
    ok = decision(
        Outcome.denied,
        denial_reason=DenialReason.not_medically_necessary,
        peer_to_peer_contact="Dr Lee 555-0100",
    )
    assert rules.decision_problems(ok, {1: 1}) == []
    assert rules.CARC[DenialReason.not_medically_necessary] == "50"


def test_flags_for_expiry_and_units() -> None:
    today = date(2026, 11, 24)

    def flags(valid_to: date, approved: int, used: int) -> list[str]:
        return rules.flags(
            status=AuthorizationStatus.approved,
            valid_to=valid_to,
            today=today,
            units=[(approved, used)],
            rules=DEFAULT,
        )

    assert flags(today + timedelta(days=60), 10, 0) == []
    assert flags(today + timedelta(days=14), 10, 0) == ["expiring"]
    assert flags(today - timedelta(days=1), 10, 0) == ["expired"]
    assert flags(today + timedelta(days=60), 10, 8) == ["units_low"]
    assert flags(today + timedelta(days=60), 10, 10) == ["units_exhausted"]
    assert (
        rules.flags(
            status=AuthorizationStatus.denied,
            valid_to=None,
            today=today,
            units=[(0, 0)],
            rules=DEFAULT,
        )
        == []
    )
