"""Eligibility rules: the member's coverage on the service date and, per item, whether
the plan wants prior authorisation. Pure: no database, no HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from careloop.referral.enums import Severity
from careloop.referral.rules import Finding

#: Finding codes this step owns (replaced on each verification).
FINDING_CODES = frozenset(
    {
        "coverage_not_found",
        "coverage_member_mismatch",
        "coverage_ends_before_start",
        "coverage_not_yet_effective",
        "coverage_inactive",
    }
)
SERVICE_LINE_PREFIX = "service_line:"
#: A service line as an item's basis names it ("NEHP Gold HMO authorises home health
#: care in advance"), never its code.
SERVICE_LINE_WORDS = {
    "dme": "medical equipment",
    "home_health": "home health care",
    "infusion": "home infusion",
}


class EligibilityStatus(StrEnum):
    active = "active"
    inactive = "inactive"
    not_found = "not_found"


class CoverageLike(Protocol):
    @property
    def coverage_id(self) -> int: ...
    @property
    def plan_id(self) -> int: ...
    @property
    def plan_code(self) -> str: ...
    @property
    def plan_name(self) -> str: ...
    @property
    def prior_auth(self) -> frozenset[str]: ...
    @property
    def birth_date(self) -> date | None: ...
    @property
    def effective_on(self) -> date: ...
    @property
    def terminates_on(self) -> date | None: ...


@dataclass(frozen=True, slots=True)
class ItemFacts:
    line: int
    code: str
    service_line: str


@dataclass(frozen=True, slots=True)
class ItemAuthorization:
    line: int
    code: str
    authorization_required: bool
    # Why: the code itself or its service line is on the plan's prior-auth list.
    basis: str | None


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    status: EligibilityStatus
    service_date: date
    coverage: CoverageLike | None
    items: tuple[ItemAuthorization, ...]
    findings: tuple[Finding, ...]

    @property
    def authorization_required(self) -> bool | None:
        if self.status is not EligibilityStatus.active:
            return None
        return any(i.authorization_required for i in self.items)


def covers(coverage: CoverageLike, day: date) -> bool:
    ends = coverage.terminates_on
    return coverage.effective_on <= day and (ends is None or day <= ends)


def evaluate(
    coverages: Sequence[CoverageLike],
    *,
    member_id: str | None,
    birth_date: date,
    service_date: date,
    today: date,
    items: Sequence[ItemFacts],
) -> EligibilityResult:
    """Check the member's enrolments against the requested start.

    Not found: no enrolment under that member ID (or it belongs to someone born on
    another day). Inactive: enrolled, but not on the service date; coverage that ends
    before the requested start is a finding the case manager can act on (DOMAIN.md §2
    step 4), never an exception."""

    def result(
        status: EligibilityStatus, coverage: CoverageLike | None, *findings: Finding
    ) -> EligibilityResult:
        auth = _item_authorizations(coverage, items) if coverage is not None else ()
        return EligibilityResult(status, service_date, coverage, auth, findings)

    mine = [c for c in coverages if c.birth_date is None or c.birth_date == birth_date]
    if not coverages:
        shown = (member_id or "")[:60] or "(none given)"
        return result(
            EligibilityStatus.not_found,
            None,
            Finding(
                "coverage_not_found",
                "coverage.member_id",
                f"The payer's coverage file has no member {shown}: check the member ID "
                "on the insurance card, or ask the payer.",
            ),
        )
    if not mine:
        return result(
            EligibilityStatus.not_found,
            None,
            Finding(
                "coverage_member_mismatch",
                "member.birth_date",
                "The member ID belongs to someone with another date of birth: check both "
                "with the referrer.",
            ),
        )
    for coverage in mine:
        if covers(coverage, service_date):
            return result(EligibilityStatus.active, coverage)
    return result(EligibilityStatus.inactive, mine[0], _why_inactive(mine, service_date, today))


def _why_inactive(mine: Sequence[CoverageLike], service_date: date, today: date) -> Finding:
    current = next((c for c in mine if covers(c, today)), None)
    if current is not None and current.terminates_on is not None:
        return Finding(
            "coverage_ends_before_start",
            "requested_start",
            f"Coverage under plan {current.plan_name} ends on {current.terminates_on}, before "
            f"the requested start {service_date}: start earlier or confirm the new coverage.",
        )
    later = sorted((c for c in mine if c.effective_on > service_date), key=lambda c: c.effective_on)
    if later:
        return Finding(
            "coverage_not_yet_effective",
            "requested_start",
            f"Coverage under plan {later[0].plan_name} starts on {later[0].effective_on}, "
            f"after the requested start {service_date}.",
        )
    ended = max((c.terminates_on for c in mine if c.terminates_on), default=None)
    return Finding(
        "coverage_inactive",
        "coverage.member_id",
        f"The member's coverage ended on {ended}: ask the member or payer for current coverage.",
        Severity.error,
    )


def _item_authorizations(
    coverage: CoverageLike, items: Sequence[ItemFacts]
) -> tuple[ItemAuthorization, ...]:
    out = []
    for item in items:
        basis = None
        if item.code in coverage.prior_auth:
            basis = f"{item.code} is on the prior-authorisation list of {coverage.plan_name}"
        elif SERVICE_LINE_PREFIX + item.service_line in coverage.prior_auth:
            line = SERVICE_LINE_WORDS.get(item.service_line, item.service_line)
            basis = f"{coverage.plan_name} authorises {line} in advance"
        out.append(ItemAuthorization(item.line, item.code, basis is not None, basis))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class PayerAnswer:
    """The payer's own answer to an eligibility inquiry (an X12 271), as facts: the
    member's status on the service date, the plan it names and its dates, and, per
    procedure code the payer spoke of, whether it wants prior authorisation."""

    status: EligibilityStatus
    plan_code: str | None
    plan_begin: date | None
    plan_end: date | None
    authorization: Mapping[str, bool]
    #: Why the payer does not know the member, in plain words (not found only).
    reason: str | None
    #: Where the answer came from, for the timeline ("271 from NEHP, interchange 12").
    source: str


def evaluate_answer(
    answer: PayerAnswer,
    coverages: Sequence[CoverageLike],
    *,
    service_date: date,
    items: Sequence[ItemFacts],
) -> EligibilityResult:
    """The payer's answer as a verification: its status stands; the plan it names is
    matched to the coverage file CareLoop holds (when it has one) for the plan's
    prior-authorisation list; a procedure the payer spoke of follows the payer."""
    coverage = next(
        (c for c in coverages if answer.plan_code and c.plan_code == answer.plan_code), None
    )
    if answer.status is EligibilityStatus.not_found:
        said = answer.reason or "it has no such member"
        finding = Finding(
            "coverage_not_found",
            "coverage.member_id",
            f"The payer answered that {said}: check the member ID on the insurance card, "
            "or ask the payer.",
        )
        return EligibilityResult(answer.status, service_date, None, (), (finding,))
    auth = tuple(_answered_item(answer, coverage, item) for item in items)
    if answer.status is EligibilityStatus.active:
        return EligibilityResult(answer.status, service_date, coverage, auth, ())
    return EligibilityResult(
        answer.status, service_date, coverage, auth, (_why_answer_inactive(answer, service_date),)
    )


def _answered_item(
    answer: PayerAnswer, coverage: CoverageLike | None, item: ItemFacts
) -> ItemAuthorization:
    if item.code in answer.authorization:
        required = answer.authorization[item.code]
        basis = f"the payer's answer says {item.code} needs prior authorisation"
        return ItemAuthorization(item.line, item.code, required, basis if required else None)
    if coverage is not None:
        return _item_authorizations(coverage, [item])[0]
    return ItemAuthorization(item.line, item.code, False, None)


def _why_answer_inactive(answer: PayerAnswer, service_date: date) -> Finding:
    if answer.plan_end is not None and answer.plan_end < service_date:
        return Finding(
            "coverage_ends_before_start",
            "requested_start",
            f"The payer says coverage ends on {answer.plan_end}, before the requested start "
            f"{service_date}: start earlier or confirm the new coverage.",
        )
    if answer.plan_begin is not None and answer.plan_begin > service_date:
        return Finding(
            "coverage_not_yet_effective",
            "requested_start",
            f"The payer says coverage starts on {answer.plan_begin}, after the requested "
            f"start {service_date}.",
        )
    return Finding(
        "coverage_inactive",
        "coverage.member_id",
        "The payer says the member is not covered on the requested start: ask the member "
        "or payer for current coverage.",
        Severity.error,
    )
