"""Eligibility use cases: verify a case's coverage and record the answer (issue 4).

The answer is a fact on the timeline, whatever it is: an active coverage moves the case
on (to prior authorisation or straight to an offer); an inactive or unknown one leaves
it acknowledged with findings that say what to do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import NotFoundError
from careloop.eligibility import repository, rules
from careloop.eligibility.models import EligibilityCheck
from careloop.eligibility.schemas import EligibilityRead, ItemAuthorizationRead, PlanRead
from careloop.identity.permissions import require
from careloop.payer import service as payer_service
from careloop.payer.models import Plan
from careloop.referral import moves
from careloop.referral.enums import ReferralAction
from careloop.referral.models import Referral
from careloop.referral.schemas import FindingRead


class NoEligibilityCheckError(NotFoundError):
    code = "eligibility_not_verified"
    title = "Eligibility has not been verified for this referral"


def verify_eligibility(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> EligibilityRead:
    """Check the member's coverage on the requested start against the payer's file."""
    require(actor, "eligibility:verify")
    referral = moves.visible_for_update(
        session, actor, case_number, "eligibility.verify", clock=clock
    )
    moves.check(referral, ReferralAction.verify_eligibility, outcome="active")
    today = moves.local_today(referral, clock.now())
    coverages = (
        payer_service.coverages_of_member(session, referral.payer_id, referral.member_id)
        if referral.payer_id is not None and referral.member_id
        else []
    )
    result = rules.evaluate(
        coverages,
        member_id=referral.member_id,
        birth_date=referral.member_birth_date,
        service_date=referral.requested_start or today,
        today=today,
        items=_item_facts(session, referral),
    )
    return _conclude(session, actor, referral, result, clock=clock)


def record_payer_answer(
    session: Session, actor: Actor, case_number: str, answer: rules.PayerAnswer, *, clock: Clock
) -> EligibilityRead:
    """Record the payer's own answer (an X12 271) as the case's verification: the same
    move, timeline event and findings as a check against the coverage file, with the
    answer's source on the event."""
    require(actor, "eligibility:payer_answer")
    referral = moves.visible_for_update(
        session, actor, case_number, "eligibility.payer_answer", clock=clock
    )
    moves.check(referral, ReferralAction.verify_eligibility, outcome=answer.status.value)
    today = moves.local_today(referral, clock.now())
    coverages = (
        payer_service.coverages_of_member(session, referral.payer_id, referral.member_id)
        if referral.payer_id is not None and referral.member_id
        else []
    )
    result = rules.evaluate_answer(
        answer,
        coverages,
        service_date=referral.requested_start or today,
        items=_item_facts(session, referral),
    )
    return _conclude(session, actor, referral, result, clock=clock, source=answer.source)


def _item_facts(session: Session, referral: Referral) -> list[rules.ItemFacts]:
    return [
        rules.ItemFacts(i.line, i.code, moves.service_line_of(referral, i))
        for i in moves.items_of(session, referral)
    ]


def _conclude(
    session: Session,
    actor: Actor,
    referral: Referral,
    result: rules.EligibilityResult,
    *,
    clock: Clock,
    source: str | None = None,
) -> EligibilityRead:
    now = clock.now()
    check = _record(session, actor, referral, result, now=now)
    moves.record_findings(
        referral,
        [f.as_dict() for f in result.findings],
        replacing=rules.FINDING_CODES,
        authorization_required=result.authorization_required,
    )
    plan = result.coverage
    extra: dict[str, Any] = {"source": source} if source else {}
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.verify_eligibility,
        event_type="eligibility.verified",
        clock=clock,
        outcome=result.status.value,
        result=result.status.value,
        plan=plan.plan_code if plan else None,
        plan_name=plan.plan_name if plan else None,
        service_date=result.service_date.isoformat(),
        authorization_required=result.authorization_required,
        findings=[f.code for f in result.findings],
        **extra,
    )
    session.flush()
    return _read(session, referral, check)


def _record(
    session: Session,
    actor: Actor,
    referral: Referral,
    result: rules.EligibilityResult,
    *,
    now: datetime,
) -> EligibilityCheck:
    coverage = result.coverage
    check = EligibilityCheck(
        referral_id=referral.id,
        status=result.status,
        payer_id=referral.payer_id,
        plan_id=coverage.plan_id if coverage else None,
        coverage_id=coverage.coverage_id if coverage else None,
        service_date=result.service_date,
        items=[
            {
                "line": i.line,
                "code": i.code,
                "authorization_required": i.authorization_required,
                "basis": i.basis,
            }
            for i in result.items
        ],
        findings=[f.as_dict() for f in result.findings],
        checked_at=now,
        checked_by=actor.label,
    )
    session.add(check)
    session.flush()
    return check


def get_eligibility(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> EligibilityRead:
    """The latest verification of the case's coverage."""
    require(actor, "referral:read")
    referral = moves.visible(session, actor, case_number, "eligibility.read", clock=clock)
    check = latest_check(session, referral.id)
    if check is None:
        raise NoEligibilityCheckError(f"Eligibility of {case_number} has not been verified yet.")
    return _read(session, referral, check)


def latest_check(session: Session, referral_id: int) -> EligibilityCheck | None:
    """The case's most recent verification, if any."""
    return repository.latest_check(session, referral_id)


def _read(session: Session, referral: Referral, check: EligibilityCheck) -> EligibilityRead:
    plan_row = session.get(Plan, check.plan_id) if check.plan_id else None
    coverage = payer_service.coverage_by_id(session, check.coverage_id)
    required = (
        any(i["authorization_required"] for i in check.items)
        if check.status is rules.EligibilityStatus.active
        else None
    )
    return EligibilityRead(
        case_number=referral.case_number,
        status=check.status,
        service_date=check.service_date,
        plan=PlanRead(
            code=plan_row.code,
            name=plan_row.name,
            effective_on=coverage.effective_on,
            terminates_on=coverage.terminates_on,
        )
        if plan_row is not None and coverage is not None
        else None,
        authorization_required=required,
        items=[ItemAuthorizationRead.model_validate(i) for i in check.items],
        findings=[FindingRead.model_validate(f) for f in check.findings],
        case_status=referral.status,
        checked_at=check.checked_at,
        checked_by=check.checked_by,
    )
