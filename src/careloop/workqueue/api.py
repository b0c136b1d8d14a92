"""JSON routes of the work queue (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from careloop.sla.models import ClockKind, Team
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.transaction import Credentials, clock_of, run_use_case
from careloop.workqueue import rules, service
from careloop.workqueue.schemas import WorkItemRead, WorkQueuePage

router = APIRouter(prefix="/api/v1/workqueue", tags=["work queue"])

ClockId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The work item's (clock's) id")]
_ITEM = {**COMMON, 404: {"description": "No such work item, or not yours to see", **PROBLEM}}


@router.get(
    "",
    response_model=WorkQueuePage,
    summary="What needs a person now, most urgent first",
    description=(
        "Open deadlines of a team (`team`), or the ones you claimed (`mine=true`), or both "
        "filters together: overdue first, then by due time, items a hospital discharge "
        "waits on first among equals. Each says what is due, by when, and which call "
        "resolves it. Paused deadlines wait on someone outside and are not listed. There "
        "is no total: `has_more` says whether the next `offset` has items."
    ),
    responses=COMMON,
)
def list_queue(
    request: Request,
    credentials: Credentials,
    team: Team | None = None,
    mine: bool = False,
    kind: ClockKind | None = None,
    limit: Annotated[int, Query(ge=1, le=rules.MAX_LIMIT)] = rules.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=rules.MAX_OFFSET)] = 0,
) -> WorkQueuePage:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_queue(
            session,
            actor,
            team=team,
            mine=mine,
            kind=kind,
            limit=limit,
            offset=offset,
            clock=clock,
        ),
    )


@router.post(
    "/{clock_id}/claim",
    response_model=WorkItemRead,
    summary="Claim an item: it is assigned to you and shows in your queue",
    responses={
        **_ITEM,
        409: {"description": "Already claimed by someone else, or no longer open", **PROBLEM},
    },
)
def claim(clock_id: ClockId, request: Request, credentials: Credentials) -> WorkItemRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.claim_item(session, actor, clock_id, clock=clock),
    )


@router.post(
    "/{clock_id}/release",
    response_model=WorkItemRead,
    summary="Release an item you claimed (supervisors: anyone's) back to its team",
    responses={**_ITEM, 409: {"description": "Nobody holds this item", **PROBLEM}},
)
def release(clock_id: ClockId, request: Request, credentials: Credentials) -> WorkItemRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.release_item(session, actor, clock_id, clock=clock),
    )
