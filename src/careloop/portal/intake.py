"""The referral form (intake agents taking a call, referrers sending an order): the
intake checklist as a form, checked as it is filled in (htmx posts it to
``/referrals/check``, which runs the API's ``validate_only`` checks and answers each
field's message), code pickers over ICD-10-CM and the HCPCS table, and on submit the case
number and deadlines in large text. Without JavaScript the same checks run on submit and
the form comes back with the messages beside the fields."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from careloop.codes import search_hcpcs, search_icd10
from careloop.core.actor import Role
from careloop.identity.permissions import may, require
from careloop.interaction import service as interaction_service
from careloop.interaction.schemas import ContactCreate
from careloop.portal import contacts, forms
from careloop.portal.web import Page, PageContext, page, read_form
from careloop.referral import service as referral_service
from careloop.referral.enums import Channel, Severity, Urgency
from careloop.referral.schemas import ReferralCheckRead, ReferralCreate, ReferralRead

router = APIRouter(include_in_schema=False)

CODE_RESULTS = 15


def form_values(
    ctx: PageContext,
    form: Mapping[str, str],
    *,
    errors: Mapping[str, str] | None = None,
    warnings: Mapping[str, str] | None = None,
    check: ReferralCheckRead | None = None,
    blocked: bool = False,
) -> dict[str, Any]:
    referrer = ctx.actor.role is Role.referring_clinician
    values = dict(form)
    values.setdefault("channel", Channel.portal.value if referrer else Channel.phone.value)
    values.setdefault("urgency", Urgency.routine.value)
    values.setdefault("caller.kind", "referrer")
    values.setdefault("items.0.code_system", "HCPCS")
    values.setdefault("items.0.quantity", "1")
    return {
        "form": values,
        "errors": dict(errors or {}),
        "warnings": dict(warnings or {}),
        "check": check,
        "blocked": blocked,
        "referrer": referrer,
        "channels": [c.value for c in Channel],
        "urgencies": [u.value for u in Urgency],
        "diagnosis_rows": range(forms.DIAGNOSIS_ROWS),
        "item_rows": range(forms.ITEM_ROWS),
        # A fresh key per form shown: a double click or a reload replays, never duplicates.
        "idempotency_key": form.get("idempotency_key") or secrets.token_urlsafe(16),
        # The faxed-order page shows the same form beside the fax (portal.faxes).
        "fax": None,
        "action": "/referrals/new",
        "no_caller": False,
        **contacts.caller_values(ctx),
    }


@router.get("/referrals/new")
async def new_referral(request: Request) -> Response:
    def work(ctx: PageContext) -> Page:
        require(ctx.actor, "referral:create")
        return Page("intake/form.html", form_values(ctx, {}))

    return await page(request, work)


def _findings_by_field(
    parsed: forms.ParsedForm, check: ReferralCheckRead
) -> tuple[dict[str, str], dict[str, str]]:
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    for finding in check.findings:
        target = errors if finding.severity is Severity.error else warnings
        name = parsed.form_field(finding.field)
        target[name] = f"{target[name]} {finding.message}" if name in target else finding.message
    return errors, warnings


def check_form(
    ctx: PageContext, form: Mapping[str, str]
) -> tuple[ReferralCreate | None, dict[str, str], dict[str, str], ReferralCheckRead | None]:
    """Shape first (wrong types, missing name): then the intake checklist, as the API's
    validate_only runs it."""
    parsed = forms.parse(form, zone=ctx.settings.display_time_zone)
    draft, shape = forms.validate(ReferralCreate, parsed)
    if draft is None:
        return None, shape, {}, None
    check = referral_service.check_referral(ctx.session, ctx.actor, draft, clock=ctx.clock)
    errors, warnings = _findings_by_field(parsed, check)
    return draft, errors, warnings, check


@router.post("/referrals/check")
async def check_referral(request: Request) -> Response:
    """The live check: every field's message as an out-of-band swap (empty ones clear
    what was shown before), and a summary of the deadlines the referral would get."""
    form = await read_form(request)

    def work(ctx: PageContext) -> Page:
        _, errors, warnings, check = check_form(ctx, form)
        return Page(
            "intake/_check.html",
            {
                "fields": forms.ALL_FIELDS,
                "errors": errors,
                "warnings": warnings,
                "check": check,
            },
        )

    return await page(request, work, form=form)


@router.post("/referrals/new")
async def submit_referral(request: Request) -> Response:
    form = await read_form(request)

    def work(ctx: PageContext) -> Page:
        draft, errors, warnings, check = check_form(ctx, form)
        caller: ContactCreate | None = None
        caller_errors: dict[str, str] = {}
        if draft is not None and ctx.actor.role is not Role.referring_clinician:
            caller, caller_errors = contacts.caller_contact(
                form, draft.channel.value, ctx.clock.now()
            )
        errors = {**errors, **caller_errors}
        submit_anyway = form.get("submit_anyway") == "yes" and check is not None
        if draft is None or caller_errors or (errors and not submit_anyway):
            values = form_values(
                ctx, form, errors=errors, warnings=warnings, check=check, blocked=True
            )
            return Page("intake/form.html", values, status=422)
        submission = referral_service.submit_referral(
            ctx.session,
            ctx.actor,
            draft,
            clock=ctx.clock,
            idempotency_key=f"portal:{form.get('idempotency_key', '')[:60]}"
            if form.get("idempotency_key")
            else None,
        )
        case = ReferralRead.model_validate_json(submission.body)
        if caller is not None and not submission.replayed:
            # The call that brought the order in, on record and on the new case.
            interaction_service.log_contact(
                ctx.session, ctx.actor, caller, clock=ctx.clock, case_number=case.case_number
            )
        return Page(
            "intake/submitted.html",
            {
                "case": case,
                "may_acknowledge": may(ctx.actor, "referral:acknowledge"),
                "replayed": submission.replayed,
            },
            status=201,
        )

    return await page(request, work, form=form)


# ---- code pickers --------------------------------------------------------------------------


def _query(request: Request) -> str:
    """The search text: ``q``, or the value of the input htmx sent (named by its field)."""
    q = request.query_params.get("q")
    if q is None:
        q = next((v for k, v in request.query_params.items() if k != "system"), "")
    return q.strip()[:60]


def _code_results(system: str, q: str) -> list[tuple[str, str]]:
    if system == "hcpcs":
        return [(i.code, i.description) for i in search_hcpcs(q, limit=CODE_RESULTS)]
    return search_icd10(q, limit=CODE_RESULTS)


@router.get("/codes/{system}")
async def code_search(
    request: Request, system: str, q: Annotated[str | None, Query(max_length=60)] = None
) -> Response:
    """Search ICD-10-CM (billable codes) or the HCPCS table by code or words: as
    ``<option>`` elements for a datalist (htmx), or as a page of its own."""
    if system not in ("icd10", "hcpcs"):
        return HTMLResponse("Unknown code set", status_code=404)
    text = _query(request)
    results = _code_results(system, text) if text else []
    fragment = bool(request.headers.get("hx-request"))

    def work(ctx: PageContext) -> Page:
        values = {"system": system, "q": text, "results": results}
        return Page("intake/_code_options.html" if fragment else "intake/codes.html", values)

    return await page(request, work)
