"""Appeals, complaints and regulator filings on the staff case page: the appeal's levels
with their deadlines, filing the next level, the payer's decision, the appeal letter;
complaints with their acknowledgement and resolution deadlines; filings with the state
regulator and the earlier attempts they list. Same services as the API; refusals come
back beside the fields."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careloop.appeal import service as appeal_service
from careloop.appeal.schemas import AppealOutcomeIn, LevelFileIn
from careloop.grievance import service as grievance_service
from careloop.grievance.schemas import (
    AcknowledgeIn,
    GrievanceCreate,
    RegulatoryEscalationCreate,
    ResolveGrievanceIn,
)
from careloop.identity.permissions import require
from careloop.portal import moveforms
from careloop.portal.cases import CaseNumber, RowId, move_and_return
from careloop.portal.web import Download, PageContext, page, read_form

router = APIRouter(include_in_schema=False)


def _values(form: dict[str, str], prefix: str) -> dict[str, Any]:
    """The form's inputs under ``prefix.``, empty ones left out, as the schema reads them."""
    return {k: v for k, v in moveforms.inputs(prefix, form).items() if v.strip()}


@router.post("/cases/{case_number}/appeals/{appeal_id}/levels")
async def file_level(request: Request, case_number: CaseNumber, appeal_id: RowId) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), f"level_{appeal_id}"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "authorization:appeal")
        body = moveforms.parse(LevelFileIn, _values(form, prefix))
        appeal_service.file_level(ctx.session, ctx.actor, cn, appeal_id, body, clock=ctx.clock)

    return await move_and_return(request, form, cn, move, "appeal_filed", prefix=prefix)


@router.post("/cases/{case_number}/appeals/{appeal_id}/outcome")
async def appeal_outcome(request: Request, case_number: CaseNumber, appeal_id: RowId) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), f"appeal_outcome_{appeal_id}"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "authorization:decide")
        body = moveforms.parse(AppealOutcomeIn, _values(form, prefix))
        appeal_service.record_outcome(ctx.session, ctx.actor, cn, appeal_id, body, clock=ctx.clock)

    return await move_and_return(
        request, form, cn, move, "appeal_decided", prefix=prefix, kind="appeal_outcome"
    )


@router.get("/cases/{case_number}/appeals/{appeal_id}/letter.pdf")
async def appeal_letter(request: Request, case_number: CaseNumber, appeal_id: RowId) -> Response:
    cn = case_number.upper()

    def work(ctx: PageContext) -> Download:
        pdf = appeal_service.appeal_letter(ctx.session, ctx.actor, cn, appeal_id, clock=ctx.clock)
        return Download(pdf, "application/pdf", f"appeal-{cn}-{appeal_id}.pdf")

    return await page(request, work)


@router.post("/cases/{case_number}/grievances")
async def open_grievance(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), "grievance"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "grievance:open")
        data = _values(form, prefix)
        data["expedited"] = data.get("expedited") == "yes"
        body = moveforms.parse(GrievanceCreate, data)
        grievance_service.open_grievance(ctx.session, ctx.actor, cn, body, clock=ctx.clock)

    return await move_and_return(request, form, cn, move, "grievance_opened", prefix=prefix)


@router.post("/cases/{case_number}/grievances/{grievance_id}/acknowledge")
async def acknowledge(request: Request, case_number: CaseNumber, grievance_id: RowId) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), f"ack_{grievance_id}"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "grievance:manage")
        grievance_service.acknowledge(
            ctx.session, ctx.actor, grievance_id, AcknowledgeIn(), clock=ctx.clock
        )

    return await move_and_return(request, form, cn, move, "grievance_acknowledged", prefix=prefix)


@router.post("/cases/{case_number}/grievances/{grievance_id}/resolve")
async def resolve(request: Request, case_number: CaseNumber, grievance_id: RowId) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), f"gres_{grievance_id}"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "grievance:manage")
        body = moveforms.parse(ResolveGrievanceIn, _values(form, prefix))
        grievance_service.resolve(ctx.session, ctx.actor, grievance_id, body, clock=ctx.clock)

    return await move_and_return(request, form, cn, move, "grievance_resolved", prefix=prefix)


@router.post("/cases/{case_number}/regulatory-escalations")
async def file_with_regulator(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn, prefix = case_number.upper(), "regulator"

    def move(ctx: PageContext) -> None:
        require(ctx.actor, "regulatory:file")
        body = moveforms.parse(RegulatoryEscalationCreate, _values(form, prefix))
        grievance_service.file_regulatory_escalation(
            ctx.session, ctx.actor, cn, body, clock=ctx.clock
        )

    return await move_and_return(request, form, cn, move, "regulator_filed", prefix=prefix)
