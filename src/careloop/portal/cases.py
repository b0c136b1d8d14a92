"""The case page: member, coverage, items with their code descriptions, findings with
what to do about each, every deadline, the timeline newest first, the ranked candidates
with their reasons, and a form for each move the state machine allows now (and the
actor's role may make). Each move posts to a route here that calls the service the API
calls; another organisation's case answers 404 like one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from careloop.core.errors import DomainError, FieldError, RuleViolationError
from careloop.eligibility import service as eligibility_service
from careloop.identity.permissions import may
from careloop.matching import service as matching_service
from careloop.matching.schemas import CandidatesRead, OfferCreate
from careloop.portal import forms, presenters
from careloop.portal.web import Form, Page, PageContext, Redirect, page, read_form
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.schemas import AuthorizationRequestIn
from careloop.referral import service as referral_service
from careloop.referral.schemas import AcknowledgeIn, CancelIn, ReferralClarify, ReferralRead
from careloop.workqueue import service as workqueue_service

router = APIRouter(include_in_schema=False)

CaseNumber = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]

#: The moves a case page can make, with the permission each needs (the services check
#: it again; this only avoids showing a button that would be refused).
_PAGE_ACTIONS = {
    "acknowledge": "referral:acknowledge",
    "supply_information": "referral:clarify",
    "verify_eligibility": "eligibility:verify",
    "request_authorization": "authorization:request",
    "offer": "offer:manage",
    "cancel": "referral:cancel",
}

#: What the page says after a move (``?done=``), never with member data.
_DONE = {
    "acknowledged": "Acknowledged. Tell the referrer the case number and the case manager.",
    "offered": "Offered. The provider's answer is due by the time shown under Deadlines.",
    "cancelled": "The case was cancelled.",
    "supplied": "Information recorded; the checks ran again.",
    "unplaced": "No eligible provider: the case is marked unplaced and escalated.",
    "verified": "Eligibility checked against the payer's coverage file; see the timeline.",
    "requested": "Prior authorisation requested; its decision deadline is under Deadlines.",
}

#: Supply-information form: the inputs it takes (the referral form's, plus a note).
INFO_FIELDS = [
    f
    for f in forms.ALL_FIELDS
    if not f.startswith(("items.", "channel", "urgency", "external_id", "notes"))
] + ["note"]


def page_actions(ctx: PageContext, case: ReferralRead) -> list[str]:
    """The allowed moves (from the read model) that this page has a form for and the
    actor's role may make, in the state machine's order."""
    allowed = [a.value for a in case.allowed_actions]
    return [a for a in allowed if a in _PAGE_ACTIONS and may(ctx.actor, _PAGE_ACTIONS[a])]


def _candidates(ctx: PageContext, case: ReferralRead, actions: list[str]) -> CandidatesRead | None:
    if "offer" not in actions:
        return None
    return matching_service.find_candidates(
        ctx.session, ctx.actor, case.case_number, clock=ctx.clock
    )


def _case_values(ctx: PageContext, case_number: str) -> dict[str, Any]:
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    timeline = referral_service.get_timeline(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    actions = page_actions(ctx, case)
    clocks = (
        workqueue_service.case_clocks(ctx.session, ctx.actor, case_number, clock=ctx.clock)
        if may(ctx.actor, "workqueue:read")
        else []
    )
    return {
        "case": case,
        "events": list(reversed(timeline.events)),
        "clocks": clocks,
        "actions": actions,
        "candidates": _candidates(ctx, case, actions),
        "hints": {
            f"{f.code}:{f.field}": presenters.fix_hint(f.field, f.code) for f in case.findings
        },
        "staff": ctx.actor.is_staff,
    }


@router.get("/cases/{case_number}")
async def case_page(
    request: Request,
    case_number: CaseNumber,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    def work(ctx: PageContext) -> Page:
        values = _case_values(ctx, case_number.upper())
        values["done"] = _DONE.get(done or "")
        return Page("cases/case.html", values)

    return await page(request, work)


def _back_or_case(form: Form, case_number: str, done: str) -> str:
    back = form.get("back", "")
    if back.startswith("/") and not back.startswith("//"):
        return back
    return f"/cases/{case_number}?done={done}"


async def _move(
    request: Request,
    form: Form,
    case_number: str,
    move: Callable[[PageContext], str | None],
    done: str,
) -> Response:
    """Run one move in the request's transaction and go back where the form came from
    (or to the case page saying what was done)."""

    def work(ctx: PageContext) -> Redirect:
        outcome = move(ctx)
        return Redirect(_back_or_case(form, case_number, outcome or done))

    return await page(request, work, form=form)


@router.post("/cases/{case_number}/acknowledge")
async def acknowledge(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        referral_service.acknowledge_referral(
            ctx.session, ctx.actor, cn, AcknowledgeIn(), clock=ctx.clock
        )

    return await _move(request, form, cn, move, "acknowledged")


@router.post("/cases/{case_number}/offer")
async def offer(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    raw = form.get("provider_id", "").strip()
    provider_id = int(raw) if raw.isdigit() and len(raw) < 10 else None

    def move(ctx: PageContext) -> str:
        result = matching_service.offer_referral(
            ctx.session, ctx.actor, cn, OfferCreate(provider_id=provider_id), clock=ctx.clock
        )
        return "unplaced" if result.status == "unplaced" else "offered"

    return await _move(request, form, cn, move, "offered")


@router.post("/cases/{case_number}/eligibility")
async def verify_eligibility(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        eligibility_service.verify_eligibility(ctx.session, ctx.actor, cn, clock=ctx.clock)

    return await _move(request, form, cn, move, "verified")


@router.post("/cases/{case_number}/authorization")
async def request_authorization(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        prior_auth_service.request_authorization(
            ctx.session, ctx.actor, cn, AuthorizationRequestIn(), clock=ctx.clock
        )

    return await _move(request, form, cn, move, "requested")


@router.post("/cases/{case_number}/cancel")
async def cancel(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    reason = form.get("reason", "").strip()[:500]

    def move(ctx: PageContext) -> None:
        if not reason:
            raise _reason_missing()
        referral_service.cancel_referral(
            ctx.session, ctx.actor, cn, CancelIn(reason=reason), clock=ctx.clock
        )

    return await _move(request, form, cn, move, "cancelled")


def _reason_missing() -> DomainError:
    return RuleViolationError(
        "reason: say why the case is cancelled.",
        errors=[FieldError("reason", "Say why the case is cancelled.")],
    )


# ---- supplying missing information -----------------------------------------------------------


def _info_values(
    ctx: PageContext, case_number: str, form: Form, errors: dict[str, str]
) -> dict[str, Any]:
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    parsed_fields = {f.field for f in case.findings}
    return {
        "case": case,
        "form": dict(form),
        "errors": errors,
        "warnings": {},
        "hints": {
            f"{f.code}:{f.field}": presenters.fix_hint(f.field, f.code) for f in case.findings
        },
        "missing": parsed_fields,
        "diagnosis_rows": range(forms.DIAGNOSIS_ROWS),
    }


@router.get("/cases/{case_number}/information")
async def information_form(request: Request, case_number: CaseNumber) -> Response:
    def work(ctx: PageContext) -> Page:
        return Page("cases/information.html", _info_values(ctx, case_number.upper(), {}, {}))

    return await page(request, work)


@router.post("/cases/{case_number}/information")
async def supply_information(request: Request, case_number: CaseNumber) -> Response:
    """Send what was missing: only the inputs filled in are sent (the rest is kept), the
    checks run again, and the page shows what is still missing."""
    form = await read_form(request)
    cn = case_number.upper()

    def work(ctx: PageContext) -> Page | Redirect:
        parsed = forms.parse(form, zone=ctx.settings.display_time_zone, allowed=INFO_FIELDS)
        body, errors = forms.validate(ReferralClarify, parsed)
        if body is None:
            return Page("cases/information.html", _info_values(ctx, cn, form, errors), status=422)
        referral_service.supply_information(ctx.session, ctx.actor, cn, body, clock=ctx.clock)
        return Redirect(f"/cases/{cn}?done=supplied")

    return await page(request, work, form=form)
