"""Eligibility rules: coverage on the service date, and which items need prior auth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from careloop.eligibility.rules import EligibilityStatus, ItemFacts, evaluate

BORN = date(1945, 1, 23)
TODAY = date(2026, 11, 24)


@dataclass(frozen=True)
class Cover:
    coverage_id: int = 1
    plan_id: int = 1
    plan_code: str = "GOLD"
    plan_name: str = "NEHP Gold HMO"
    prior_auth: frozenset[str] = frozenset()
    last_name: str | None = "Hale"
    birth_date: date | None = BORN
    effective_on: date = date(2026, 1, 1)
    terminates_on: date | None = None


ITEMS = [ItemFacts(1, "G0299", "home_health"), ItemFacts(2, "E1390", "dme")]


def check(*coverages: Cover, start: date = date(2026, 11, 26)) -> object:
    return evaluate(
        coverages,
        member_id="NEH448812301",
        birth_date=BORN,
        service_date=start,
        today=TODAY,
        items=ITEMS,
    )


def test_active_coverage_names_items_needing_prior_auth_by_code_and_by_line() -> None:
    result = check(Cover(prior_auth=frozenset({"E1390"})))
    assert result.status is EligibilityStatus.active
    assert [i.authorization_required for i in result.items] == [False, True]
    assert result.authorization_required is True
    by_line = check(Cover(prior_auth=frozenset({"service_line:home_health"})))
    assert [i.authorization_required for i in by_line.items] == [True, False]
    assert "authorises home health care in advance" in (by_line.items[0].basis or "")


def test_no_prior_auth_when_the_plan_lists_nothing() -> None:
    result = check(Cover())
    assert result.status is EligibilityStatus.active
    assert result.authorization_required is False
    assert result.findings == ()


def test_not_found_is_a_finding_on_the_member_id() -> None:
    result = check()
    assert result.status is EligibilityStatus.not_found
    assert result.authorization_required is None
    (finding,) = result.findings
    assert (finding.code, finding.field) == ("coverage_not_found", "coverage.member_id")


def test_member_id_of_someone_else_is_not_found() -> None:
    result = check(Cover(birth_date=date(1950, 5, 5)))
    assert result.status is EligibilityStatus.not_found
    assert result.findings[0].code == "coverage_member_mismatch"


def test_coverage_ending_before_the_requested_start_is_a_finding_not_an_error() -> None:
    result = check(Cover(terminates_on=date(2026, 11, 30)), start=date(2026, 12, 2))
    assert result.status is EligibilityStatus.inactive
    (finding,) = result.findings
    assert finding.code == "coverage_ends_before_start"
    assert finding.field == "requested_start"
    assert "2026-11-30" in finding.message and "2026-12-02" in finding.message


def test_coverage_starting_later_and_coverage_long_ended() -> None:
    later = check(Cover(effective_on=date(2027, 1, 1)))
    assert later.findings[0].code == "coverage_not_yet_effective"
    ended = check(Cover(terminates_on=date(2026, 6, 30)))
    assert ended.findings[0].code == "coverage_inactive"


def test_the_enrolment_covering_the_service_date_wins() -> None:
    old = Cover(coverage_id=1, plan_code="OLD", terminates_on=date(2026, 6, 30))
    new = Cover(coverage_id=2, plan_code="NEW", effective_on=date(2026, 7, 1))
    result = check(old, new)
    assert result.status is EligibilityStatus.active
    assert result.coverage is not None and result.coverage.plan_code == "NEW"
