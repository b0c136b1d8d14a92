"""JSON routes of contacts and notes (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from careloop.interaction import service
from careloop.interaction.schemas import (
    ContactCreate,
    ContactLink,
    ContactList,
    ContactRead,
    NoteCreate,
    NoteList,
    NoteRead,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case, use_case

router = APIRouter(prefix="/api/v1", tags=["contacts and notes"])

ContactId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The contact's id")]
_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}
_CONTACT = {**COMMON, 404: {"description": "No such contact, or not yours to see", **PROBLEM}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the contact's current state", **PROBLEM}
}
_EXAMPLE = {
    "kind": "call",
    "direction": "inbound",
    "party": {
        "kind": "provider",
        "name": "Jane Doe",
        "organization": "ABC Home Health",
        "phone": "860-555-0142",
    },
    "reason": "authorisation",
    "summary": "Asked to confirm the authorisation and the expected start date.",
    "started_at": "2026-11-25T09:02:00-05:00",
    "ended_at": "2026-11-25T09:08:00-05:00",
    "case_number_given": True,
    "agent_name_given": True,
    "outcome": "follow_up",
    "follow_up_due_at": "2026-11-25T15:00:00-05:00",
}


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactRead,
    summary="Log a call, e-mail, fax, portal message or text (on a case, or to link later)",
    description="A follow-up needs `follow_up_due_at` in the future and becomes a work item.",
    responses={**_CASE, **BODY},
    openapi_extra=json_body(ContactCreate, {**_EXAMPLE, "case_number": "CL-2026-000123"}),
)
async def log_contact(request: Request, credentials: Credentials) -> ContactRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ContactCreate,
        lambda session, actor, body: service.log_contact(session, actor, body, clock=clock),
        permission="contact:log",
    )


@router.get(
    "/contacts/{contact_id}", response_model=ContactRead, summary="One contact", responses=_CONTACT
)
def get_contact(contact_id: ContactId, request: Request, credentials: Credentials) -> ContactRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_contact(session, actor, contact_id, clock=clock),
    )


@router.post(
    "/contacts/{contact_id}/link",
    response_model=ContactRead,
    summary="Link a contact logged without a case to its case",
    responses={**_CONTACT, **BODY, **_CONFLICT},
    openapi_extra=json_body(ContactLink, {"case_number": "CL-2026-000123"}),
)
async def link_contact(
    contact_id: ContactId, request: Request, credentials: Credentials
) -> ContactRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ContactLink,
        lambda session, actor, body: service.link_contact(
            session, actor, contact_id, body, clock=clock
        ),
        permission="contact:log",
    )


@router.post(
    "/contacts/{contact_id}/follow-up/done",
    response_model=ContactRead,
    summary="Mark a contact's follow-up done (without a further contact)",
    responses={**_CONTACT, **_CONFLICT},
)
async def follow_up_done(
    contact_id: ContactId, request: Request, credentials: Credentials
) -> ContactRead:
    clock = clock_of(request)
    return await use_case(
        request,
        credentials,
        lambda session, actor: service.mark_follow_up_done(session, actor, contact_id, clock=clock),
    )


@router.post(
    "/referrals/{case_number}/contacts",
    status_code=201,
    response_model=ContactRead,
    summary="Log a contact on the case",
    responses={**_CASE, **BODY},
    openapi_extra=json_body(ContactCreate, _EXAMPLE),
)
async def log_case_contact(
    case_number: str, request: Request, credentials: Credentials
) -> ContactRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ContactCreate,
        lambda session, actor, body: service.log_contact(
            session, actor, body, clock=clock, case_number=case_number
        ),
        permission="contact:log",
    )


@router.get(
    "/referrals/{case_number}/contacts",
    response_model=ContactList,
    summary="The case's contacts, oldest first",
    responses=_CASE,
)
def list_contacts(case_number: str, request: Request, credentials: Credentials) -> ContactList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_contacts(session, actor, case_number, clock=clock),
    )


@router.post(
    "/referrals/{case_number}/notes",
    status_code=201,
    response_model=NoteRead,
    summary="Add a note: internal (staff only) or shared with the referrer",
    responses={**_CASE, **BODY},
    openapi_extra=json_body(
        NoteCreate, {"text": "Daughter will be home for the delivery.", "visibility": "shared"}
    ),
)
async def add_note(case_number: str, request: Request, credentials: Credentials) -> NoteRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        NoteCreate,
        lambda session, actor, body: service.add_note(
            session, actor, case_number, body, clock=clock
        ),
        permission="note:write",
    )


@router.get(
    "/referrals/{case_number}/notes",
    response_model=NoteList,
    summary="The case's notes (referrers: the shared ones), the intake form's first",
    responses=_CASE,
)
def list_notes(case_number: str, request: Request, credentials: Credentials) -> NoteList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_notes(session, actor, case_number, clock=clock),
    )


REQUEST_MODELS = (ContactCreate, ContactLink, NoteCreate)
