"""Faxed orders in the portal (intake): the faxes waiting to be checked, an upload form
for a fax that came some other way, and for each fax its draft referral beside the page
images (or the text read from its text layer): what was read, from where, how sure; the
agent corrects the referral form and submits it, checked like any referral."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from careloop.core.errors import DomainError, FieldError, RuleViolationError
from careloop.document import faxes as fax_service
from careloop.document import service as document_service
from careloop.document.faxes import FaxDraftRead
from careloop.document.store import Staged
from careloop.identity.permissions import may, require
from careloop.portal import intake, presenters
from careloop.portal.web import Download, Form, Page, PageContext, Redirect, page, read_form
from careloop.referral import refusals
from careloop.referral.schemas import ReferralRead
from careloop.web.upload import MAX_FIELDS, limits_of, store_of

router = APIRouter(include_in_schema=False)

FaxId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PageNumber = Annotated[int, Path(ge=1, le=500)]

#: The page path whose POST body is a file upload (web.middleware's upload limit).
UPLOAD_PATHS = [r"/faxes"]

_SOURCES = {"inbox": "Fax inbox", "upload": "Uploaded"}

#: What each field read is called beside the fax (the referral form's own labels).
_LABELS = {
    "member.first_name": "First name",
    "member.last_name": "Last name",
    "member.birth_date": "Date of birth",
    "member.phone": "Phone",
    "member.address.line1": "Street address",
    "member.address.city": "City",
    "member.address.state": "State",
    "member.address.zip": "ZIP",
    "coverage.payer_id": "Payer code",
    "coverage.member_id": "Member id on the card",
    "ordering_provider.npi": "Ordering clinician's NPI",
    "ordering_provider.name": "Ordering clinician",
    "requested_start": "Requested start",
    "signed_order.signed_on": "Order signed on",
}


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    parts = name.split(".")
    if parts[0] in ("diagnoses", "items") and parts[1].isdigit():
        what = "Diagnosis" if parts[0] == "diagnoses" else "Item"
        suffix = " quantity" if parts[-1] == "quantity" else ""
        return f"{what} {int(parts[1]) + 1}{suffix}"
    return presenters.field_words(name).capitalize()


@router.get("/faxes")
async def fax_list(request: Request) -> Response:
    def work(ctx: PageContext) -> Page:
        return Page("faxes/list.html", _list_values(ctx, {}))

    return await page(request, work)


def _list_values(ctx: PageContext, errors: dict[str, str]) -> dict[str, Any]:
    listed = fax_service.list_faxes(ctx.session, ctx.actor)
    return {
        "faxes": [
            {
                "read": f,
                "source": _SOURCES.get(f.source, "Received"),
                "fields": len(f.fields),
                "how": "read from its text" if f.method == "text layer" else "read by OCR",
            }
            for f in listed
        ],
        "errors": errors,
    }


@router.post("/faxes")
async def upload_fax(request: Request) -> Response:
    """A fax uploaded by an agent: read at once, then its draft page."""
    form = await request.form(max_files=1, max_fields=MAX_FIELDS, max_part_size=64_000)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    upload = next(
        (v for k, v in form.multi_items() if k == "file" and isinstance(v, UploadFile)), None
    )
    store = store_of(request)
    limits = limits_of(request.app.state.settings)
    staged: list[Staged] = []
    made: list[int] = []

    def work(ctx: PageContext) -> Page | Redirect:
        require(ctx.actor, "fax:manage")
        try:
            if upload is None or not upload.size:
                raise RuleViolationError("No file was chosen.")
            received = document_service.receive(store, upload.file, upload.content_type, limits)
        except DomainError as exc:
            if upload is None or not upload.size:
                return Page("faxes/list.html", _list_values(ctx, {"file": exc.detail}), status=422)
            # A file refused at the door: kept with the page's transaction (it commits).
            refusals.record(
                ctx.session, ctx.actor, "fax", [("file", exc.code)], clock=ctx.clock,
                rolled_back=False,
            )  # fmt: skip
            return Page("faxes/list.html", _list_values(ctx, {"file": exc.detail}), status=422)
        staged.append(received.staged)
        reading = fax_service.read_staged(store, received)
        fax = fax_service.record_fax(
            ctx.session, ctx.actor, received, reading, source="upload", clock=ctx.clock
        )
        made.append(fax.id)
        return Redirect(f"/faxes/{fax.id}")

    try:
        response = await page(request, work, form=fields)
    finally:
        await form.close()
    if made and response.status_code == 303:
        await run_in_threadpool(store.promote, staged[0])
    elif staged:
        store.discard(staged[0])
    return response


def _draft_values(
    ctx: PageContext,
    fax: FaxDraftRead,
    form: Form,
    *,
    errors: dict[str, str] | None = None,
    warnings: dict[str, str] | None = None,
    check: Any = None,
    blocked: bool = False,
) -> dict[str, Any]:
    values = intake.form_values(
        ctx, form, errors=errors, warnings=warnings, check=check, blocked=blocked
    )
    read_rows = [
        {
            "what": _label(name),
            "value": f.value,
            "where": f"page {f.page}, line {f.line}",
            "sure": f.sureness,
            "doubt": f.confidence < 0.85,
        }
        for name, f in sorted(fax.fields.items(), key=lambda kv: (kv[1].page, kv[1].line))
    ]
    values.update(
        fax={
            "read": fax,
            "rows": read_rows,
            "images": fax.method != "text layer",
            "page_numbers": list(range(1, fax.pages + 1)),
            "text": [(p, n, t) for p, n, t in fax.lines],
        },
        action=f"/faxes/{fax.id}",
        no_caller=True,
    )
    return values


@router.get("/faxes/{fax_id}")
async def fax_draft(request: Request, fax_id: FaxId) -> Response:
    def work(ctx: PageContext) -> Page:
        fax = fax_service.get_fax(ctx.session, ctx.actor, fax_id, clock=ctx.clock)
        if fax.status != "open" and fax.case_number:
            return Page("faxes/done.html", {"fax": fax})
        form = fax_service.draft_form(fax)
        # The checks run on what was read, so the agent sees at once what to correct.
        _, errors, warnings, check = intake.check_form(ctx, form)
        return Page(
            "intake/form.html",
            _draft_values(ctx, fax, form, errors=errors, warnings=warnings, check=check),
        )

    return await page(request, work)


@router.get("/faxes/{fax_id}/pages/{page_number}")
async def fax_page(request: Request, fax_id: FaxId, page_number: PageNumber) -> Response:
    store = store_of(request)

    def work(ctx: PageContext) -> Download:
        fax = fax_service.get_fax(ctx.session, ctx.actor, fax_id, clock=ctx.clock)
        image = fax_service.fax_page_png(store, fax, page_number)
        if image is None:
            raise fax_service.FaxNotFoundError("This fax has no such page.")
        return Download(image, "image/png", f"fax-{fax_id}-page-{page_number}.png")

    return await page(request, work)


@router.post("/faxes/{fax_id}")
async def submit_fax(request: Request, fax_id: FaxId) -> Response:
    """The corrected draft becomes a referral, checked as every referral is."""
    form = await read_form(request)

    def work(ctx: PageContext) -> Page:
        fax = fax_service.get_fax(ctx.session, ctx.actor, fax_id, clock=ctx.clock)
        draft, errors, warnings, check = intake.check_form(ctx, form)
        submit_anyway = form.get("submit_anyway") == "yes" and check is not None
        if draft is None or (errors and not submit_anyway):
            values = _draft_values(
                ctx, fax, form, errors=errors, warnings=warnings, check=check, blocked=True
            )
            return Page("intake/form.html", values, status=422)
        done = fax_service.submit_fax(ctx.session, ctx.actor, fax_id, draft, clock=ctx.clock)
        case = ReferralRead.model_validate_json(done.body)
        return Page(
            "intake/submitted.html",
            {
                "case": case,
                "may_acknowledge": may(ctx.actor, "referral:acknowledge"),
                "replayed": False,
            },
            status=201,
        )

    return await page(request, work, form=form)


def refused_file(message: str) -> RuleViolationError:
    return RuleViolationError(message, errors=[FieldError("file", message)])
