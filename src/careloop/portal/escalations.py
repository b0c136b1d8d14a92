"""Escalations on the case page: the "Escalate" form (staff log a caller, a referrer or
provider asks for themselves), the panel of escalations (supervisor, direct contact, the
promised time or when it is due, kept or missed), the supervisor's ETA and the
resolution. The same services as the API; refusals come back beside the fields."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from careloop.core.errors import FieldError, RuleViolationError
from careloop.escalation import (
    CommitIn,
    EscalationCreate,
    PartyKind,
    Reason,
    RequesterIn,
    ResolveIn,
    Severity,
)
from careloop.escalation import service as escalation_service
from careloop.portal import moveforms
from careloop.portal.cases import CaseNumber, RowId, move_and_return
from careloop.portal.forms import shape_errors
from careloop.portal.web import Form, PageContext, read_form

router = APIRouter(include_in_schema=False)


def _text(form: Form, name: str) -> str:
    return form.get(name, "").strip()


def _create_body(ctx: PageContext, form: Form) -> EscalationCreate:
    problems: list[FieldError] = []
    reason = _text(form, "escalate.reason")
    severity = _text(form, "escalate.severity") or Severity.urgent.value
    if reason not in {r.value for r in Reason}:
        problems.append(FieldError("reason", "choose why the case is escalated"))
    if severity not in {s.value for s in Severity}:
        problems.append(FieldError("severity", "choose how urgent it is"))
    supervisor = _text(form, "escalate.supervisor_user_id")
    if supervisor and not supervisor.isdigit():
        problems.append(FieldError("supervisor_user_id", "choose a supervisor from the list"))
    kind = _text(form, "escalate.requested_by.kind") or (
        PartyKind.caregiver.value if ctx.actor.is_staff else PartyKind.referrer.value
    )
    if kind not in {k.value for k in PartyKind}:
        problems.append(FieldError("requested_by.kind", "choose who asked"))
    if problems:
        raise RuleViolationError("The escalation is incomplete.", errors=problems)
    try:
        return EscalationCreate(
            reason=Reason(reason),
            severity=Severity(severity),
            details=_text(form, "escalate.details") or None,
            requested_by=RequesterIn(
                kind=PartyKind(kind),
                name=_text(form, "escalate.requested_by.name"),
                email=_text(form, "escalate.requested_by.email") or None,
                phone=_text(form, "escalate.requested_by.phone") or None,
            ),
            supervisor_user_id=int(supervisor) if supervisor else None,
        )
    except ValidationError as exc:
        # Text too long is refused beside its field, never cut to fit: what was typed is
        # kept whole or not at all.
        raise RuleViolationError(
            "The escalation is incomplete.", errors=shape_errors(exc)
        ) from None


@router.post("/cases/{case_number}/escalations")
async def escalate(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        escalation_service.open_escalation(
            ctx.session, ctx.actor, cn, _create_body(ctx, form), clock=ctx.clock
        )

    # "Say who asked" is about the requester as a whole: beside the name, the first of it.
    rename = {"requested_by": "requested_by.name"}
    return await move_and_return(
        request, form, cn, move, "escalated", prefix="escalate", rename=rename
    )


def _eta(form: Form, zone: str) -> datetime:
    try:
        day = date.fromisoformat(_text(form, "eta_date"))
        at = time.fromisoformat(_text(form, "eta_time"))
    except ValueError:
        raise RuleViolationError(
            "The ETA is incomplete.",
            errors=[FieldError("eta", "give the date and the time you promise")],
        ) from None
    return datetime.combine(day, at, ZoneInfo(zone))


@router.post("/cases/{case_number}/escalations/{escalation_id}/commit")
async def commit(request: Request, case_number: CaseNumber, escalation_id: RowId) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    zone = _text(form, "zone") or "UTC"

    def move(ctx: PageContext) -> None:
        try:
            ZoneInfo(zone)
        except (KeyError, ValueError):
            raise RuleViolationError(
                "The ETA is incomplete.", errors=[FieldError("eta", "reload the page")]
            ) from None
        escalation_service.commit_eta(
            ctx.session,
            ctx.actor,
            cn,
            escalation_id,
            moveforms.parse(CommitIn, {"eta": _eta(form, zone)}),
            clock=ctx.clock,
        )

    return await move_and_return(
        request, form, cn, move, "eta_committed", prefix=f"commit-{escalation_id}"
    )


@router.post("/cases/{case_number}/escalations/{escalation_id}/resolve")
async def resolve(request: Request, case_number: CaseNumber, escalation_id: RowId) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    resolution = _text(form, "resolution")

    def move(ctx: PageContext) -> None:
        if not resolution:
            raise RuleViolationError(
                "The escalation needs a resolution.",
                errors=[FieldError("resolution", "say how the escalation was resolved")],
            )
        escalation_service.resolve(
            ctx.session,
            ctx.actor,
            cn,
            escalation_id,
            moveforms.parse(ResolveIn, {"resolution": resolution}),
            clock=ctx.clock,
        )

    return await move_and_return(
        request, form, cn, move, "escalation_resolved", prefix=f"resolve-{escalation_id}"
    )
