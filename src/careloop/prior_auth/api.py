"""JSON routes of prior authorisation (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from careloop.prior_auth import service
from careloop.prior_auth.schemas import (
    AuthorizationList,
    AuthorizationRead,
    AuthorizationRequestIn,
    DecisionIn,
    InformationIn,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["eligibility and prior authorisation"])

AuthorizationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The request's id")]
_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}
_AUTH = {**COMMON, 404: {"description": "No such request, or not yours to see", **PROBLEM}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed now; the allowed moves are listed", **PROBLEM}
}


@router.post(
    "/referrals/{case_number}/authorizations",
    status_code=201,
    response_model=AuthorizationRead,
    summary="Request prior authorisation of the items the plan names",
    responses={**_CASE, **BODY, **_CONFLICT},
    openapi_extra=json_body(AuthorizationRequestIn, {"priority": "expedited"}, required=False),
)
async def request_authorization(
    case_number: str, request: Request, credentials: Credentials
) -> AuthorizationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AuthorizationRequestIn,
        lambda session, actor, body: service.request_authorization(
            session, actor, case_number, body, clock=clock
        ),
        permission="authorization:request",
        empty=AuthorizationRequestIn,
    )


@router.get(
    "/referrals/{case_number}/authorizations",
    response_model=AuthorizationList,
    summary="The case's authorisation requests",
    responses=_CASE,
)
def list_authorizations(
    case_number: str, request: Request, credentials: Credentials
) -> AuthorizationList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_authorizations(
            session, actor, case_number, clock=clock
        ),
    )


@router.get(
    "/authorizations/{authorization_id}",
    response_model=AuthorizationRead,
    summary="One authorisation request",
    responses=_AUTH,
)
def get_authorization(
    authorization_id: AuthorizationId, request: Request, credentials: Credentials
) -> AuthorizationRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_authorization(
            session, actor, authorization_id, clock=clock
        ),
    )


@router.post(
    "/authorizations/{authorization_id}/decision",
    response_model=AuthorizationRead,
    summary="Record the reviewer's decision: approved, partially approved, pended, denied",
    responses={**_AUTH, **BODY, **_CONFLICT},
    openapi_extra=json_body(
        DecisionIn,
        {
            "outcome": "approved",
            "authorization_number": "PA-2026-0042",
            "valid_from": "2026-11-24",
            "valid_to": "2027-02-22",
        },
    ),
)
async def decide(
    authorization_id: AuthorizationId, request: Request, credentials: Credentials
) -> AuthorizationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        DecisionIn,
        lambda session, actor, body: service.record_decision(
            session, actor, authorization_id, body, clock=clock
        ),
        permission="authorization:decide",
    )


@router.post(
    "/authorizations/{authorization_id}/information",
    response_model=AuthorizationRead,
    summary="Send what a pended request was missing; the decision clock resumes",
    responses={**_AUTH, **BODY, **_CONFLICT},
    openapi_extra=json_body(InformationIn, {"note": "Faxed the oxygen saturation log"}),
)
async def information(
    authorization_id: AuthorizationId, request: Request, credentials: Credentials
) -> AuthorizationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        InformationIn,
        lambda session, actor, body: service.supply_information(
            session, actor, authorization_id, body, clock=clock
        ),
        permission="authorization:request",
    )


REQUEST_MODELS = (AuthorizationRequestIn, DecisionIn, InformationIn)
