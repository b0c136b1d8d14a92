"""JSON routes of eligibility verification (thin: call one service, answer)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from careloop.eligibility import service
from careloop.eligibility.schemas import EligibilityRead
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["eligibility and prior authorisation"])

_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}


@router.post(
    "/referrals/{case_number}/verify-eligibility",
    response_model=EligibilityRead,
    summary="Verify the member's coverage on the requested start against the payer's file",
    description="Records the answer (active, inactive, not found; the plan; which items need "
    "prior authorisation) on the timeline. Coverage ending before the requested start is a "
    "finding on the case, not an error. An active coverage moves the case to "
    "`eligibility_verified`.",
    responses={**_CASE, 409: {"description": "Not allowed from the case's status", **PROBLEM}},
)
def verify(case_number: str, request: Request, credentials: Credentials) -> EligibilityRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.verify_eligibility(session, actor, case_number, clock=clock),
    )


@router.get(
    "/referrals/{case_number}/eligibility",
    response_model=EligibilityRead,
    summary="The latest eligibility verification of the case",
    responses=_CASE,
)
def latest(case_number: str, request: Request, credentials: Credentials) -> EligibilityRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_eligibility(session, actor, case_number, clock=clock),
    )
