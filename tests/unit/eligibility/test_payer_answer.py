"""A payer's own answer (an X12 271) as a verification: its status stands, the plan it
names brings that plan's prior-authorisation list, a procedure it names follows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from careloop.eligibility.rules import (
    EligibilityStatus,
    ItemFacts,
    PayerAnswer,
    evaluate_answer,
)

START = date(2026, 3, 3)
ITEMS = [ItemFacts(1, "E1390", "dme"), ItemFacts(2, "G0299", "home_health")]


@dataclass(frozen=True)
class Plan:
    coverage_id: int = 1
    plan_id: int = 1
    plan_code: str = "GOLD"
    plan_name: str = "Gold HMO"
    prior_auth: frozenset[str] = frozenset({"service_line:home_health"})
    birth_date: date | None = None
    effective_on: date = date(2026, 1, 1)
    terminates_on: date | None = None


def answer(status: EligibilityStatus, **kw: object) -> PayerAnswer:
    values: dict[str, object] = {
        "plan_code": "GOLD",
        "plan_begin": None,
        "plan_end": None,
        "authorization": {},
        "reason": None,
        "source": "271 from NEHP, interchange 7",
    }
    values.update(kw)
    return PayerAnswer(status=status, **values)  # type: ignore[arg-type]


def test_an_active_answer_takes_the_named_plans_list_and_the_payers_word() -> None:
    result = evaluate_answer(
        answer(EligibilityStatus.active, authorization={"E1390": True}),
        [Plan()],
        service_date=START,
        items=ITEMS,
    )
    assert result.status is EligibilityStatus.active
    assert [(i.code, i.authorization_required) for i in result.items] == [
        ("E1390", True),
        ("G0299", True),
    ]
    assert result.authorization_required is True
    assert result.findings == ()


def test_a_plan_the_coverage_file_does_not_hold_needs_nothing_unless_the_payer_says() -> None:
    result = evaluate_answer(
        answer(EligibilityStatus.active, plan_code="SILVER"),
        [Plan()],
        service_date=START,
        items=ITEMS,
    )
    assert result.coverage is None
    assert result.authorization_required is False


def test_not_found_and_ended_coverage_are_findings_that_say_what_to_do() -> None:
    missing = evaluate_answer(
        answer(EligibilityStatus.not_found, reason="the payer has no such subscriber"),
        [],
        service_date=START,
        items=ITEMS,
    )
    assert [f.code for f in missing.findings] == ["coverage_not_found"]
    assert "the payer has no such subscriber" in missing.findings[0].message
    ended = evaluate_answer(
        answer(EligibilityStatus.inactive, plan_end=date(2026, 2, 28)),
        [Plan()],
        service_date=START,
        items=ITEMS,
    )
    assert [f.code for f in ended.findings] == ["coverage_ends_before_start"]
