"""JSON routes of escalations (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from careloop.escalation import service
from careloop.escalation.schemas import (
    CommitIn,
    EscalationCreate,
    EscalationList,
    EscalationRead,
    ResolveIn,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1/referrals", tags=["escalations"])

EscalationId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The escalation's id")]

_CASE = {
    **COMMON,
    404: {"description": "No such case or escalation, or not yours to see", **PROBLEM},
}
_WRITE = {
    **_CASE,
    **BODY,
    409: {"description": "The case is closed or cancelled, or the escalation resolved", **PROBLEM},
    422: {"description": "Invalid fields, each named; nothing written", **PROBLEM},
}


@router.post(
    "/{case_number}/escalations",
    status_code=201,
    response_model=EscalationRead,
    summary="Escalate a case to a named supervisor",
    description=(
        "Staff log who asked (`requested_by`); a referrer or provider asks for themselves "
        "and may leave it out. The escalation goes to the supervisor named in "
        "`supervisor_user_id` (staff only), else to the least-loaded active supervisor. The "
        "supervisor must commit an ETA within the commit window (default one business hour "
        "on the member's calendar). Whoever asked gets an e-mail at each step, in one thread."
    ),
    responses=_WRITE,
    openapi_extra=json_body(
        EscalationCreate,
        {
            "reason": "service_delay",
            "severity": "urgent",
            "details": "Oxygen not delivered, discharge tomorrow",
            "requested_by": {
                "kind": "referrer",
                "name": "Dana Whitfield",
                "email": "dana.whitfield@example.org",
                "phone": "555-0100",
            },
        },
    ),
)
async def open_escalation(
    case_number: str, request: Request, credentials: Credentials
) -> EscalationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        EscalationCreate,
        lambda session, actor, body: service.open_escalation(
            session, actor, case_number, body, clock=clock
        ),
        permission="escalation:create",
    )


@router.get(
    "/{case_number}/escalations",
    response_model=EscalationList,
    summary="The escalations of a case, newest first",
    responses=_CASE,
)
def list_escalations(
    case_number: str, request: Request, credentials: Credentials
) -> EscalationList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_escalations(session, actor, case_number, clock=clock),
    )


@router.post(
    "/{case_number}/escalations/{escalation_id}/commit",
    response_model=EscalationRead,
    summary="The supervisor commits an ETA (a date and time in the future)",
    responses=_WRITE,
    openapi_extra=json_body(CommitIn, {"eta": "2026-11-25T16:00:00-05:00"}),
)
async def commit(
    case_number: str, escalation_id: EscalationId, request: Request, credentials: Credentials
) -> EscalationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        CommitIn,
        lambda session, actor, body: service.commit_eta(
            session, actor, case_number, escalation_id, body, clock=clock
        ),
        permission="escalation:commit",
    )


@router.post(
    "/{case_number}/escalations/{escalation_id}/resolve",
    response_model=EscalationRead,
    summary="Close the escalation with its resolution",
    responses=_WRITE,
    openapi_extra=json_body(ResolveIn, {"resolution": "Delivery booked for 10:00 tomorrow"}),
)
async def resolve(
    case_number: str, escalation_id: EscalationId, request: Request, credentials: Credentials
) -> EscalationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ResolveIn,
        lambda session, actor, body: service.resolve(
            session, actor, case_number, escalation_id, body, clock=clock
        ),
        permission="escalation:resolve",
    )


#: Request models documented through ``openapi_extra``; app.py adds their schemas.
REQUEST_MODELS = (EscalationCreate, CommitIn, ResolveIn)
