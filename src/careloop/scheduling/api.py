"""JSON routes of scheduling and fulfilment (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from careloop.scheduling import service
from careloop.scheduling.schemas import AppointmentList, AppointmentRead, OutcomeIn, ScheduleIn
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1", tags=["scheduling and fulfilment"])

AppointmentId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The appointment's id")]
_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}
_APPT = {**COMMON, 404: {"description": "No such appointment, or not yours to see", **PROBLEM}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed now; the allowed moves are listed", **PROBLEM}
}


@router.post(
    "/referrals/{case_number}/appointments",
    status_code=201,
    response_model=AppointmentRead,
    summary="Schedule the delivery or first visit (or the next resupply) in a time window",
    description="Only once a provider has accepted. A window ending after the service "
    "deadline needs `late_reason` and escalates the case.",
    responses={**_CASE, **BODY, **_CONFLICT},
    openapi_extra=json_body(
        ScheduleIn,
        {"window_start": "2026-11-25T09:00:00-05:00", "window_end": "2026-11-25T12:00:00-05:00"},
    ),
)
async def schedule(case_number: str, request: Request, credentials: Credentials) -> AppointmentRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ScheduleIn,
        lambda session, actor, body: service.schedule(
            session, actor, case_number, body, clock=clock
        ),
        permission="appointment:manage",
    )


@router.get(
    "/referrals/{case_number}/appointments",
    response_model=AppointmentList,
    summary="The case's deliveries and visits",
    responses=_CASE,
)
def list_appointments(
    case_number: str, request: Request, credentials: Credentials
) -> AppointmentList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_appointments(session, actor, case_number, clock=clock),
    )


@router.get(
    "/appointments/{appointment_id}",
    response_model=AppointmentRead,
    summary="One delivery or visit",
    responses=_APPT,
)
def get_appointment(
    appointment_id: AppointmentId, request: Request, credentials: Credentials
) -> AppointmentRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_appointment(session, actor, appointment_id, clock=clock),
    )


@router.post(
    "/appointments/{appointment_id}/outcome",
    response_model=AppointmentRead,
    summary="Record delivered (with serial numbers), visit done, or missed (re-opens scheduling)",
    responses={**_APPT, **BODY, **_CONFLICT},
    openapi_extra=json_body(
        OutcomeIn,
        {
            "outcome": "delivered",
            "at": "2026-11-25T10:40:00-05:00",
            "received_by": "Member's daughter",
            "serial_numbers": ["SN-4411-0092"],
        },
    ),
)
async def outcome(
    appointment_id: AppointmentId, request: Request, credentials: Credentials
) -> AppointmentRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        OutcomeIn,
        lambda session, actor, body: service.record_outcome(
            session, actor, appointment_id, body, clock=clock
        ),
        permission="appointment:manage",
    )


@router.get(
    "/referrals/{case_number}/confirmation.pdf",
    summary="Written confirmation of the scheduled start, for the discharge planner (PDF)",
    response_class=Response,
    responses={
        **_CASE,
        200: {"content": {"application/pdf": {}}, "description": "One-page PDF"},
        409: {"description": "Nothing is scheduled yet", **PROBLEM},
    },
)
def confirmation_pdf(case_number: str, request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    pdf = run_use_case(
        request,
        credentials,
        lambda session, actor: service.confirmation_pdf(session, actor, case_number, clock=clock),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="confirmation-{case_number[:40]}.pdf"',
            "Cache-Control": "no-store",
        },
    )


REQUEST_MODELS = (ScheduleIn, OutcomeIn)
