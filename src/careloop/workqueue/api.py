"""JSON routes of the work queue (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field, StringConstraints

from careloop.referral.enums import ReferralStatus, Urgency
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.params import Declared, read_declared
from careloop.web.transaction import Credentials, clock_of, run_use_case, use_case
from careloop.workqueue import rules, service
from careloop.workqueue.schemas import CaseFilter, WorkItemRead, WorkQueuePage

router = APIRouter(prefix="/api/v1/workqueue", tags=["work queue"])

ItemId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The work item's id")]
_ITEM = {**COMMON, 404: {"description": "No such work item, or not yours to see", **PROBLEM}}
Sort = Literal["due", "urgency", "payer", "status", "owner"]


# Read by the route itself (``web.params.Declared``): FastAPI resolved these ten
# declared parameters at every request, the largest part of its own work on the queue.
_TEAM = Declared(
    "query", "team", Annotated[str, StringConstraints(max_length=30, pattern=r"^[a-z_]+$")] | None
)
_MINE = Declared("query", "mine", bool, default=False)
_LEVEL = Declared(
    "query", "level", Annotated[int, Field(ge=rules.TEAM_LEVEL, le=rules.MANAGER_LEVEL)] | None
)
_STATUS = Declared("query", "status", ReferralStatus | None)
_URGENCY = Declared("query", "urgency", Urgency | None)
_PAYER = Declared("query", "payer", Annotated[str, StringConstraints(max_length=40)] | None)
_SORT = Declared("query", "sort", Sort, default="due")
_LIMIT = Declared(
    "query",
    "limit",
    Annotated[int, Field(ge=1, le=rules.MAX_LIMIT)],
    default=rules.DEFAULT_LIMIT,
)
_OFFSET = Declared("query", "offset", Annotated[int, Field(ge=0, le=rules.MAX_OFFSET)], default=0)
_ITEMS = Declared(
    "query",
    "items",
    bool,
    default=False,
    description="Also list every open item of each case (one more read)",
)
_QUEUE_PARAMS = (
    _TEAM,
    _MINE,
    _LEVEL,
    _STATUS,
    _URGENCY,
    _PAYER,
    _SORT,
    _LIMIT,
    _OFFSET,
    _ITEMS,
)


@router.get(
    "",
    response_model=WorkQueuePage,
    summary="What needs a person now: one entry per case, most urgent first",
    description=(
        "Open work items grouped by case: each entry is a case (or a piece of work that "
        "has no case yet) with its most urgent item (`item`), every open item (`items`) "
        "and how many besides the first (`more`). Work stays listed until it is done, "
        "overdue or not; under every sort, overdue work comes first, then work due "
        "within the hour, then the rest in the order chosen (`sort`, by due time by default). "
        "Filters: `team`, `mine=true` (what you claimed), `level` (2: at the supervisor's "
        "level or above, 3: the operations manager's), the case's `status`, `urgency` and "
        "`payer` code. `total` counts the entries with these filters. `items=true` also "
        "lists every open item of each case (`items`; one more read), as the case page "
        "does; without it `items` is null and `more` says how many there are."
    ),
    responses=COMMON,
    openapi_extra={"parameters": [p.openapi() for p in _QUEUE_PARAMS]},
)
async def list_queue(request: Request, credentials: Credentials) -> Response:
    team, mine, level, status, urgency, payer, sort, limit, offset, items = read_declared(
        request, *_QUEUE_PARAMS
    )
    clock = clock_of(request)
    case_filter = CaseFilter(
        referral_status=status.value if status else None,
        urgency=urgency.value if urgency else None,
        payer_code=(payer or "").strip().upper() or None,
    )
    # One trip to the thread pool (authenticate, read, audit, commit), and the page
    # written as JSON by the service straight from its rows: the document WorkQueuePage
    # describes (the OpenAPI response model above), without building its objects.
    body = await use_case(
        request,
        credentials,
        lambda session, actor: service.list_queue_json(
            session,
            actor,
            team=team,
            mine=mine,
            level=level,
            sort=sort,
            limit=limit,
            offset=offset,
            clock=clock,
            case_filter=case_filter,
            with_items=items,
            with_total=True,
        ),
    )
    return Response(body, media_type="application/json")


@router.post(
    "/{item_id}/claim",
    response_model=WorkItemRead,
    summary="Claim a work item: it is assigned to you and shows in your queue",
    responses={
        **_ITEM,
        409: {"description": "Already claimed by someone else, or already done", **PROBLEM},
    },
)
def claim(item_id: ItemId, request: Request, credentials: Credentials) -> WorkItemRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.claim_item(session, actor, item_id, clock=clock),
    )


@router.post(
    "/{item_id}/release",
    response_model=WorkItemRead,
    summary="Release a work item you claimed (supervisors: anyone's) back to its team",
    responses={**_ITEM, 409: {"description": "Nobody holds this item", **PROBLEM}},
)
def release(item_id: ItemId, request: Request, credentials: Credentials) -> WorkItemRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.release_item(session, actor, item_id, clock=clock),
    )
