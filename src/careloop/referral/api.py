"""JSON routes of the referral domain (thin: parse, call one service, answer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import StringConstraints
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.dates import FilterDate, FilterTime
from careloop.core.errors import DomainError
from careloop.core.pagination import MAX_PAGE_SIZE, PageRequest
from careloop.db.session import Database
from careloop.referral import bulk, caseload, members, refusals, service
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.referral.idempotency import Submission
from careloop.referral.schemas import (
    REFERRAL_EXAMPLE,
    AcknowledgeIn,
    AssigneeIn,
    CancelIn,
    CloseIn,
    MemberLinkIn,
    MemberLinkRead,
    ReferralCheckRead,
    ReferralClarify,
    ReferralCreate,
    ReferralFilter,
    ReferralPage,
    ReferralRead,
    TimelineRead,
)
from careloop.settings import Settings
from careloop.web.group import GroupCommit
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.params import Declared, read_declared
from careloop.web.routes import parsed_on_loop, refuse, with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1/referrals", tags=["referrals"])

_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}
_MOVE = {
    **_CASE,
    **BODY,
    409: {
        "description": "Not allowed from the current status; lists the allowed moves",
        **PROBLEM,
    },
}


Intake = GroupCommit[bulk.SubmitRequest, Submission]

# Read by the intake route itself (``web.params.Declared``): it is the busiest route.
_VALIDATE_ONLY = Declared(
    "query", "validate_only", bool, default=False, description="Check only; store nothing"
)
_IDEMPOTENCY_KEY = Declared(
    "header",
    "Idempotency-Key",
    Annotated[str, StringConstraints(min_length=1, max_length=200)] | None,
)


def intake_group(database: Database, clock: Clock, settings: Settings) -> Intake:
    """Submissions that arrive together are stored together (``web.group``), each
    answered as if alone; a group that cannot be stored is retried one by one through
    ``service.submit_referral``."""
    ttl = timedelta(seconds=settings.idempotency_ttl_seconds)

    def many(
        session: Session, requests: Sequence[bulk.SubmitRequest]
    ) -> Sequence[Submission | DomainError]:
        return bulk.submit_many(session, requests, clock=clock, idempotency_ttl=ttl)

    def one(session: Session, request: bulk.SubmitRequest) -> Submission:
        return service.submit_referral(
            session,
            request.actor,
            request.draft,
            clock=clock,
            idempotency_key=request.idempotency_key,
            idempotency_ttl=ttl,
        )

    return GroupCommit(database, many, one)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.post(
    "",
    status_code=201,
    summary="Submit a referral",
    description=(
        "Checks the order against the intake checklist and stores it as a case. A wrong "
        "shape (no member name or birth date, no item, wrong types, unknown fields) is "
        "refused with 422 and nothing is stored; every other gap is a finding, and the "
        "case is stored as `needs_clarification`. With `validate_only=true` nothing is "
        "stored and the findings and deadlines it would get are returned. Send an "
        "`Idempotency-Key` header to retry safely: the same key and body return the same "
        "case; the same key with another body is refused (422)."
    ),
    response_model=ReferralRead,
    responses={
        200: {"model": ReferralCheckRead, "description": "validate_only: findings, nothing stored"},
        201: {"description": "Case created (or replayed for the same Idempotency-Key)"},
        **COMMON,
        **BODY,
        409: {"description": "The same Idempotency-Key is still in flight", **PROBLEM},
        422: {"description": "Invalid fields, each named; nothing stored", **PROBLEM},
    },
    openapi_extra={
        **json_body(ReferralCreate, REFERRAL_EXAMPLE),
        "parameters": [_VALIDATE_ONLY.openapi(), _IDEMPOTENCY_KEY.openapi()],
    },
)
async def submit_referral(request: Request, credentials: Credentials) -> Response:
    validate_only, idempotency_key = read_declared(request, _VALIDATE_ONLY, _IDEMPOTENCY_KEY)
    clock = clock_of(request)

    def refused(session: Session, actor: Actor, exc: DomainError) -> None:
        refusals.record(
            session, actor, "api", refusals.reasons_of_error(exc), clock=clock, rolled_back=True
        )

    def created(submission: Submission) -> Response:
        headers = {"Location": f"{router.prefix}/{submission.case_number}"}
        if submission.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            submission.body, status_code=201, media_type="application/json", headers=headers
        )

    intake: Intake = request.app.state.intake
    parsed = None
    if not validate_only:
        parsed = await parsed_on_loop(
            request, credentials, ReferralCreate, permission="referral:create"
        )
    if parsed is not None:
        # The usual case under load: a known caller, a good body. It waits for its
        # group on the event loop; only a group's leader takes a worker thread.
        actor, draft = parsed
        try:
            return created(await intake.submit(bulk.SubmitRequest(actor, draft, idempotency_key)))
        except DomainError as exc:
            await refuse(request, credentials, exc, refused)

    def check(session: Session, actor: Actor, draft: ReferralCreate) -> Response:
        result = service.check_referral(session, actor, draft, clock=clock)
        return Response(result.model_dump_json(), media_type="application/json")

    def submit(session: Session, actor: Actor, draft: ReferralCreate) -> Response:
        # Stored with the submissions that arrive meanwhile, in a transaction of the
        # group's own (web.group). This request's transaction has only authenticated
        # the caller: it ends now, so that the group may write (SQLite has one writer).
        session.commit()
        return created(intake.run(bulk.SubmitRequest(actor, draft, idempotency_key)))

    return await with_body(
        request,
        credentials,
        ReferralCreate,
        check if validate_only else submit,
        permission="referral:validate" if validate_only else "referral:create",
        on_refused=None if validate_only else refused,
    )


@router.get("", response_model=ReferralPage, summary="List referrals", responses=COMMON)
def list_referrals(
    request: Request,
    credentials: Credentials,
    status: Annotated[list[ReferralStatus] | None, Query()] = None,
    urgency: Urgency | None = None,
    payer: Annotated[str | None, Query(max_length=40, description="Payer code")] = None,
    escalated: bool | None = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description=(
                "Case number, member name (each word typed, in any order, whatever its case "
                "and accents; a Chinese name also run together) or external order id"
            ),
        ),
    ] = None,
    birth_date: Annotated[FilterDate | None, Query(description="Member date of birth")] = None,
    external_id: Annotated[str | None, Query(max_length=100)] = None,
    received_from: Annotated[
        FilterTime | None, Query(description="Received at or after (ISO 8601, with offset)")
    ] = None,
    received_to: Annotated[
        FilterTime | None, Query(description="Received before (ISO 8601, with offset)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReferralPage:
    flt = ReferralFilter(
        status=tuple(status or ()),
        urgency=urgency,
        payer_code=payer,
        escalated=escalated,
        q=q,
        member_birth_date=birth_date,
        external_id=external_id,
        received_from=received_from,
        received_to=received_to,
    )
    page = PageRequest(limit=limit, offset=offset)
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_referrals(session, actor, flt, page, clock=clock),
    )


@router.get("/{case_number}", response_model=ReferralRead, summary="Read a case", responses=_CASE)
def get_referral(case_number: str, request: Request, credentials: Credentials) -> ReferralRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_referral(session, actor, case_number, clock=clock),
    )


@router.get(
    "/{case_number}/timeline",
    response_model=TimelineRead,
    summary="The case timeline, oldest first",
    responses=_CASE,
)
def get_timeline(case_number: str, request: Request, credentials: Credentials) -> TimelineRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_timeline(session, actor, case_number, clock=clock),
    )


@router.post(
    "/{case_number}/acknowledge",
    response_model=ReferralRead,
    summary="Acknowledge: give the referrer the case number and a named case manager",
    responses=_MOVE,
    openapi_extra=json_body(
        AcknowledgeIn,
        {"case_manager_name": "Jane Ruiz", "case_manager_extension": "4417"},
        required=False,
    ),
)
async def acknowledge(case_number: str, request: Request, credentials: Credentials) -> ReferralRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AcknowledgeIn,
        lambda session, actor, body: service.acknowledge_referral(
            session, actor, case_number, body, clock=clock
        ),
        permission="referral:acknowledge",
        empty=AcknowledgeIn,
    )


@router.post(
    "/{case_number}/assignee",
    response_model=ReferralRead,
    summary="Give the case to a named case manager (overrides the assignment rules)",
    description=(
        "New cases go to a case manager by rules (team, language, payer, service line, "
        "open cases, on duty), with the reason on the timeline. Staff may give a case to "
        "another active case manager: the move and who made it are on the timeline. A "
        "target who is not an active case manager is refused with 422 naming `email`."
    ),
    responses={
        **_MOVE,
        422: {"description": "Not an active case manager, or invalid fields", **PROBLEM},
    },
    openapi_extra=json_body(
        AssigneeIn, {"email": "jane.ruiz@hub.example", "note": "Knows this family"}
    ),
)
async def reassign(case_number: str, request: Request, credentials: Credentials) -> ReferralRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        AssigneeIn,
        lambda session, actor, body: service.get_referral(
            session,
            actor,
            caseload.assign_case(
                session, actor, case_number, email=body.email, note=body.note, clock=clock
            ).case_number,
            clock=clock,
        ),
        permission="referral:assign",
    )


@router.post(
    "/{case_number}/information",
    response_model=ReferralRead,
    summary="Supply missing or corrected information; the checks run again",
    responses=_MOVE,
    openapi_extra=json_body(
        ReferralClarify,
        {
            "signed_order": {"signed_on": "2026-11-23", "signer_npi": "1234567893"},
            "note": "Signed order faxed by Hartford General",
        },
    ),
)
async def supply_information(
    case_number: str, request: Request, credentials: Credentials
) -> ReferralRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ReferralClarify,
        lambda session, actor, body: service.supply_information(
            session, actor, case_number, body, clock=clock
        ),
        permission="referral:clarify",
    )


@router.post(
    "/{case_number}/cancel",
    response_model=ReferralRead,
    summary="Cancel the case with a reason",
    responses=_MOVE,
    openapi_extra=json_body(CancelIn, {"reason": "Member admitted to skilled nursing facility"}),
)
async def cancel(case_number: str, request: Request, credentials: Credentials) -> ReferralRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        CancelIn,
        lambda session, actor, body: service.cancel_referral(
            session, actor, case_number, body, clock=clock
        ),
        permission="referral:cancel",
    )


@router.post(
    "/{case_number}/close",
    response_model=ReferralRead,
    summary="Close a fulfilled case, or a denied one whose appeal is over",
    responses=_MOVE,
    openapi_extra=json_body(CloseIn, {"note": "Delivered; member trained on the concentrator"}),
)
async def close(case_number: str, request: Request, credentials: Credentials) -> ReferralRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        CloseIn,
        lambda session, actor, body: service.close_referral(
            session, actor, case_number, body, clock=clock
        ),
        permission="referral:close",
        empty=CloseIn,
    )


@router.post(
    "/{case_number}/member-links",
    status_code=201,
    response_model=MemberLinkRead,
    summary="Let a member's account read this case (staff)",
    description=(
        "Links the account with this e-mail address (it must be a member's account) to the "
        "case: the member then sees the case on their status page, and reads it and its "
        "timeline. A member sees no other case. Linking the same account again changes "
        "nothing (`created` is false)."
    ),
    responses={
        **_CASE,
        **BODY,
        422: {"description": "No member's account has this e-mail address", **PROBLEM},
    },
    openapi_extra=json_body(MemberLinkIn, {"email": "dorothy.hale@example.org"}),
)
async def link_member(
    case_number: str, request: Request, credentials: Credentials
) -> MemberLinkRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        MemberLinkIn,
        lambda session, actor, body: members.link_member_account(
            session, actor, case_number, body.email, clock=clock
        ),
        permission="referral:link_member",
    )


#: Request models documented through ``openapi_extra``; app.py adds their schemas.
REQUEST_MODELS = (ReferralCreate, ReferralClarify, AcknowledgeIn, CancelIn, CloseIn, MemberLinkIn)
