"""JSON routes of grievances and regulatory escalations (thin: parse, call, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from careloop.grievance import service
from careloop.grievance.schemas import (
    AcknowledgeIn,
    GrievanceCreate,
    GrievanceList,
    GrievanceRead,
    RegulatoryEscalationCreate,
    RegulatoryEscalationList,
    RegulatoryEscalationRead,
    ResolveGrievanceIn,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["grievances"])

GrievanceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The grievance's id")]
_CASE = {**COMMON, 404: {"description": "No such case or grievance, or not yours", **PROBLEM}}
_WRITE: dict[int | str, dict[str, Any]] = {
    **_CASE,
    **BODY,
    409: {"description": "Not allowed now; the allowed actions are listed", **PROBLEM},
    422: {"description": "Invalid fields, each named; nothing written", **PROBLEM},
}


@router.post(
    "/referrals/{case_number}/grievances",
    status_code=201,
    response_model=GrievanceRead,
    summary="Log a complaint about a provider's care or about the coordination",
    responses=_WRITE,
    openapi_extra=json_body(
        GrievanceCreate,
        {
            "subject": "provider_quality",
            "details": "The driver left the concentrator at the door without setting it up",
            "raised_by": "member",
            "raised_by_name": "Rosa Diaz",
        },
    ),
)
async def open_grievance(
    case_number: str, request: Request, credentials: Credentials
) -> GrievanceRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        GrievanceCreate,
        lambda session, actor, body: service.open_grievance(
            session, actor, case_number, body, clock=clock
        ),
        permission="grievance:open",
    )


@router.get(
    "/referrals/{case_number}/grievances",
    response_model=GrievanceList,
    summary="The case's grievances",
    responses=_CASE,
)
def list_grievances(case_number: str, request: Request, credentials: Credentials) -> GrievanceList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_grievances(session, actor, case_number, clock=clock),
    )


@router.post(
    "/grievances/{grievance_id}/acknowledge",
    response_model=GrievanceRead,
    summary="Acknowledge a complaint to the person who raised it",
    responses=_WRITE,
    openapi_extra=json_body(
        AcknowledgeIn, {"note": "Called back, looking into it"}, required=False
    ),
)
async def acknowledge(
    grievance_id: GrievanceId, request: Request, credentials: Credentials
) -> GrievanceRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AcknowledgeIn,
        lambda session, actor, body: service.acknowledge(
            session, actor, grievance_id, body, clock=clock
        ),
        permission="grievance:manage",
        empty=AcknowledgeIn,
    )


@router.post(
    "/grievances/{grievance_id}/resolve",
    response_model=GrievanceRead,
    summary="Record the outcome of a complaint",
    responses=_WRITE,
    openapi_extra=json_body(
        ResolveGrievanceIn,
        {"resolution": "substantiated", "note": "Provider retrained its drivers; set-up done"},
    ),
)
async def resolve(
    grievance_id: GrievanceId, request: Request, credentials: Credentials
) -> GrievanceRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ResolveGrievanceIn,
        lambda session, actor, body: service.resolve(
            session, actor, grievance_id, body, clock=clock
        ),
        permission="grievance:manage",
    )


@router.post(
    "/referrals/{case_number}/regulatory-escalations",
    status_code=201,
    response_model=RegulatoryEscalationRead,
    summary="Record a filing with the state regulator, with every earlier attempt",
    responses=_WRITE,
    openapi_extra=json_body(
        RegulatoryEscalationCreate,
        {
            "regulator": "department_of_insurance",
            "summary": "Oxygen not delivered for 9 days despite two escalations",
        },
    ),
)
async def file_regulatory_escalation(
    case_number: str, request: Request, credentials: Credentials
) -> RegulatoryEscalationRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        RegulatoryEscalationCreate,
        lambda session, actor, body: service.file_regulatory_escalation(
            session, actor, case_number, body, clock=clock
        ),
        permission="regulatory:file",
    )


@router.get(
    "/referrals/{case_number}/regulatory-escalations",
    response_model=RegulatoryEscalationList,
    summary="The case's filings with regulators",
    responses=_CASE,
)
def list_regulatory_escalations(
    case_number: str, request: Request, credentials: Credentials
) -> RegulatoryEscalationList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_regulatory_escalations(
            session, actor, case_number, clock=clock
        ),
    )


REQUEST_MODELS = (GrievanceCreate, AcknowledgeIn, ResolveGrievanceIn, RegulatoryEscalationCreate)
