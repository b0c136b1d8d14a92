"""JSON routes of matching and offers (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.matching import service
from careloop.matching.models import OfferStatus
from careloop.matching.schemas import (
    CandidatesRead,
    DeclineIn,
    OfferCreate,
    OfferPage,
    OfferRead,
    UnplacedRead,
    WithdrawIn,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["matching and offers"])

OfferId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The offer's id")]
_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}
_OFFER = {**COMMON, 404: {"description": "No such offer, or not yours to see", **PROBLEM}}
_ANSWER = {
    **_OFFER,
    **BODY,
    409: {"description": "The offer is no longer open (answered, expired, withdrawn)", **PROBLEM},
}


@router.get(
    "/referrals/{case_number}/candidates",
    response_model=CandidatesRead,
    summary="Ranked eligible providers with their reasons, and why others are left out",
    responses=_CASE,
)
def candidates(case_number: str, request: Request, credentials: Credentials) -> CandidatesRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.find_candidates(session, actor, case_number, clock=clock),
    )


@router.post(
    "/referrals/{case_number}/offers",
    status_code=201,
    response_model=OfferRead,
    summary="Offer the referral to the best candidate, or to the provider named",
    responses={
        **_CASE,
        **BODY,
        200: {
            "model": UnplacedRead,
            "description": "No eligible provider: the case is now unplaced and escalated",
        },
        409: {
            "description": "Not allowed from the case's status, or the provider named is "
            "not eligible (the rule is named)",
            **PROBLEM,
        },
    },
    openapi_extra=json_body(OfferCreate, {}, required=False),
)
async def offer(case_number: str, request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)

    def work(session: Session, actor: Actor, body: OfferCreate) -> Response:
        result = service.offer_referral(session, actor, case_number, body, clock=clock)
        status = 201 if isinstance(result, OfferRead) else 200
        return Response(result.model_dump_json(), status_code=status, media_type="application/json")

    return await with_body(
        request, credentials, OfferCreate, work, permission="offer:manage", empty=OfferCreate
    )


@router.get(
    "/offers",
    response_model=OfferPage,
    summary="Offers you may see",
    responses={
        **COMMON,
        404: {"description": "`case_number` names no referral you may see", **PROBLEM},
    },
)
def list_offers(
    request: Request,
    credentials: Credentials,
    status: OfferStatus | None = None,
    case_number: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OfferPage:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_offers(
            session,
            actor,
            status=status,
            case_number=case_number,
            limit=limit,
            offset=offset,
            clock=clock,
        ),
    )


@router.get("/offers/{offer_id}", response_model=OfferRead, summary="One offer", responses=_OFFER)
def get_offer(offer_id: OfferId, request: Request, credentials: Credentials) -> OfferRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_offer(session, actor, offer_id, clock=clock),
    )


@router.post(
    "/offers/{offer_id}/accept",
    response_model=OfferRead,
    summary="Accept the offer (provider staff); one acceptance wins",
    responses=_ANSWER,
)
def accept(offer_id: OfferId, request: Request, credentials: Credentials) -> OfferRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.accept_offer(session, actor, offer_id, clock=clock),
    )


@router.post(
    "/offers/{offer_id}/decline",
    response_model=OfferRead,
    summary="Decline with a coded reason (provider staff); the next candidate is offered",
    responses=_ANSWER,
    openapi_extra=json_body(DeclineIn, {"reason": "no_capacity"}),
)
async def decline(offer_id: OfferId, request: Request, credentials: Credentials) -> OfferRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        DeclineIn,
        lambda session, actor, body: service.decline_offer(
            session, actor, offer_id, body, clock=clock
        ),
        permission="offer:answer",
    )


@router.post(
    "/offers/{offer_id}/withdraw",
    response_model=OfferRead,
    summary="Withdraw an unanswered offer (staff); the next candidate is offered",
    responses=_ANSWER,
    openapi_extra=json_body(WithdrawIn, {"reason": "Provider phoned: no driver today"}),
)
async def withdraw(offer_id: OfferId, request: Request, credentials: Credentials) -> OfferRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        WithdrawIn,
        lambda session, actor, body: service.withdraw_offer(
            session, actor, offer_id, body, clock=clock
        ),
        permission="offer:manage",
    )


REQUEST_MODELS = (OfferCreate, DeclineIn, WithdrawIn)
