"""A payer coverage file row for the factory member, and a case brought to 'ready to be
offered' (acknowledged, eligibility verified) the way staff would."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.eligibility import service as eligibility_service
from careloop.eligibility.schemas import EligibilityRead
from careloop.payer import service as payer_service
from careloop.referral import service as referral_service
from careloop.referral.schemas import AcknowledgeIn

HEADER = (
    "payer_code,plan_code,plan_name,member_id,last_name,birth_date,effective_on,"
    "terminates_on,prior_auth\n"
)


def coverage_csv(
    *,
    payer_code: str = "NEHP",
    plan_code: str = "GOLD",
    plan_name: str = "NEHP Gold HMO",
    member_id: str = "NEH448812301",
    last_name: str = "Hale",
    birth_date: str = "1945-01-23",
    effective_on: date = date(2026, 1, 1),
    terminates_on: date | None = None,
    prior_auth: str = "",
) -> str:
    ends = terminates_on.isoformat() if terminates_on else ""
    return HEADER + (
        f"{payer_code},{plan_code},{plan_name},{member_id},{last_name},{birth_date},"
        f"{effective_on.isoformat()},{ends},{prior_auth}\n"
    )


def make_coverage(session: Session, *, clock: Clock, **options: object) -> None:
    report = payer_service.import_coverage(
        session,
        io.StringIO(coverage_csv(**options)),  # type: ignore[arg-type]
        clock=clock,
    )
    assert not report.errors, report.errors


def make_ready(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> EligibilityRead:
    """Acknowledge (when not yet) and verify eligibility."""
    read = referral_service.get_referral(session, actor, case_number, clock=clock)
    if read.acknowledged_at is None:
        referral_service.acknowledge_referral(
            session, actor, case_number, AcknowledgeIn(), clock=clock
        )
    return eligibility_service.verify_eligibility(session, actor, case_number, clock=clock)
