"""JSON routes of appeals (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from careloop.appeal import service
from careloop.appeal.schemas import (
    AppealCreate,
    AppealList,
    AppealOutcomeIn,
    AppealRead,
    LevelFileIn,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["appeals"])

AppealId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The appeal's id")]
_CASE = {**COMMON, 404: {"description": "No such case or appeal, or not yours to see", **PROBLEM}}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_CASE,
    **BODY,
    409: {
        "description": "Not allowed now (nothing denied, window closed, outcome before "
        "filing); the allowed actions are listed",
        **PROBLEM,
    },
    422: {"description": "Invalid fields, each named; nothing written", **PROBLEM},
}


@router.post(
    "/referrals/{case_number}/appeals",
    status_code=201,
    response_model=AppealRead,
    summary="Appeal the case's denial (the first level is filed at once)",
    responses=_WRITE,
    openapi_extra=json_body(
        AppealCreate,
        {
            "rationale": "Resting SpO2 86 % on room air; hypoxaemia documented twice",
            "objective_measures": "Overnight oximetry: 38 min below 88 %",
        },
    ),
)
async def open_appeal(case_number: str, request: Request, credentials: Credentials) -> AppealRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AppealCreate,
        lambda session, actor, body: service.open_appeal(
            session, actor, case_number, body, clock=clock
        ),
        permission="authorization:appeal",
    )


@router.get(
    "/referrals/{case_number}/appeals",
    response_model=AppealList,
    summary="The case's appeals with their levels",
    responses=_CASE,
)
def list_appeals(case_number: str, request: Request, credentials: Credentials) -> AppealList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_appeals(session, actor, case_number, clock=clock),
    )


@router.get(
    "/referrals/{case_number}/appeals/{appeal_id}",
    response_model=AppealRead,
    summary="One appeal with its levels",
    responses=_CASE,
)
def get_appeal(
    case_number: str, appeal_id: AppealId, request: Request, credentials: Credentials
) -> AppealRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_appeal(
            session, actor, case_number, appeal_id, clock=clock
        ),
    )


@router.post(
    "/referrals/{case_number}/appeals/{appeal_id}/levels",
    response_model=AppealRead,
    summary="File the level now open, or send the information a paused level waits on",
    responses=_WRITE,
    openapi_extra=json_body(LevelFileIn, {"level": "second_level"}, required=False),
)
async def file_level(
    case_number: str, appeal_id: AppealId, request: Request, credentials: Credentials
) -> AppealRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        LevelFileIn,
        lambda session, actor, body: service.file_level(
            session, actor, case_number, appeal_id, body, clock=clock
        ),
        permission="authorization:appeal",
        empty=LevelFileIn,
    )


@router.post(
    "/referrals/{case_number}/appeals/{appeal_id}/outcome",
    response_model=AppealRead,
    summary="Record the payer's decision on the level filed: overturned or upheld",
    responses=_WRITE,
    openapi_extra=json_body(
        AppealOutcomeIn,
        {
            "outcome": "overturned",
            "authorization_number": "PA-2026-0042",
            "valid_from": "2026-11-24",
            "valid_to": "2027-02-22",
        },
    ),
)
async def record_outcome(
    case_number: str, appeal_id: AppealId, request: Request, credentials: Credentials
) -> AppealRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AppealOutcomeIn,
        lambda session, actor, body: service.record_outcome(
            session, actor, case_number, appeal_id, body, clock=clock
        ),
        permission="authorization:decide",
    )


@router.get(
    "/referrals/{case_number}/appeals/{appeal_id}/letter.pdf",
    summary="The appeal letter for the level in play (PDF)",
    response_class=Response,
    responses={**_CASE, 200: {"content": {"application/pdf": {}}, "description": "PDF"}},
)
def letter_pdf(
    case_number: str, appeal_id: AppealId, request: Request, credentials: Credentials
) -> Response:
    clock = clock_of(request)
    pdf = run_use_case(
        request,
        credentials,
        lambda session, actor: service.appeal_letter(
            session, actor, case_number, appeal_id, clock=clock
        ),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="appeal-{appeal_id}.pdf"',
            "Cache-Control": "no-store",
        },
    )


REQUEST_MODELS = (AppealCreate, LevelFileIn, AppealOutcomeIn)
