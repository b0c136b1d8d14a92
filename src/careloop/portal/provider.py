"""Provider pages: offers waiting for our answer with their deadline, accept or decline
with a coded reason, the referrals we accepted with where their delivery or visit stands
(each links to its case page, where it is scheduled, moved, and its outcome recorded:
delivered with serial numbers, visit done, or missed), the due resupplies, and our
onboarding checklist with the credentials about to expire."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from careloop.core.errors import FieldError, RuleViolationError
from careloop.matching import service as matching_service
from careloop.matching.models import DeclineReason, OfferStatus
from careloop.matching.schemas import DeclineIn
from careloop.network import service as network_service
from careloop.portal import moveforms, presenters
from careloop.portal.web import Page, PageContext, Redirect, form_text_error, page, read_form
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.rules import AppointmentStatus

router = APIRouter(include_in_schema=False)

OfferId = Annotated[int, Path(ge=1, le=2**31 - 1)]
LIST_SIZE = 50

DECLINE_LABELS = {
    DeclineReason.out_of_service_area.value: "Outside our service area",
    DeclineReason.no_capacity.value: "No capacity for the requested start",
    DeclineReason.payer_not_accepted.value: "We do not take this payer",
    DeclineReason.clinical_complexity.value: "Clinically too complex for us",
    DeclineReason.other.value: "Other (say why in the note)",
}

_DONE = {
    "accepted": "Accepted. The case is now in your accepted referrals.",
    "declined": "Declined. The referral goes to the next provider.",
}


def _provider_values(ctx: PageContext) -> dict[str, Any]:
    ours = network_service.list_providers(
        ctx.session, ctx.actor, limit=1, offset=0, offerable_only=False, clock=ctx.clock
    )
    if not ours.items:
        return {"provider": None}
    provider = network_service.get_provider(
        ctx.session, ctx.actor, ours.items[0].id, clock=ctx.clock
    )
    return {"provider": provider}


@router.get("/provider")
async def provider_home(request: Request, done: str | None = None) -> Response:
    def work(ctx: PageContext) -> Page:
        return Page("provider/home.html", _home_values(ctx, done))

    return await page(request, work)


def _home_values(ctx: PageContext, done: str | None) -> dict[str, Any]:
    """The offers waiting, the referrals accepted and the resupplies due (no form sent)."""

    def offers(status: OfferStatus) -> Any:
        return matching_service.list_offers(
            ctx.session,
            ctx.actor,
            status=status,
            case_number=None,
            limit=LIST_SIZE,
            offset=0,
            clock=ctx.clock,
        )

    waiting, accepted = offers(OfferStatus.pending), offers(OfferStatus.accepted)
    first_visits = scheduling_service.find_appointments(
        ctx.session,
        ctx.actor,
        case_numbers=[o.case.case_number for o in accepted.items],
        first_only=True,
        limit=LIST_SIZE,
        clock=ctx.clock,
    ).items
    resupplies = scheduling_service.find_appointments(
        ctx.session,
        ctx.actor,
        statuses=[AppointmentStatus.due],
        limit=LIST_SIZE,
        clock=ctx.clock,
    ).items
    return {
        "waiting": sorted(waiting.items, key=lambda o: o.respond_by),
        "accepted": accepted,
        # The start of service of each accepted case, and the resupplies to book.
        "first_visit": {a.case_number: a for a in first_visits},
        "resupplies": resupplies,
        "decline_labels": DECLINE_LABELS,
        "done": _DONE.get(done or ""),
        "form": {},
        "errors": {},
        "problem": None,
        **_provider_values(ctx),
    }


@router.post("/provider/offers/{offer_id}/accept")
async def accept(request: Request, offer_id: OfferId) -> Response:
    form = await read_form(request)

    def work(ctx: PageContext) -> Redirect:
        matching_service.accept_offer(ctx.session, ctx.actor, offer_id, clock=ctx.clock)
        return Redirect("/provider?done=accepted")

    return await page(request, work, form=form)


@router.post("/provider/offers/{offer_id}/decline")
async def decline(request: Request, offer_id: OfferId) -> Response:
    """Decline with a coded reason and, for 'other', a note: kept whole or refused beside
    its field on the offer (a note over the limit was once cut to its first 500
    characters without a word); nothing of a refused decline is kept."""
    form = await read_form(request)
    reason = form.get("reason", "")
    note = form.get("note", "").strip() or None

    def work(ctx: PageContext) -> Page | Redirect:
        try:
            with ctx.session.begin_nested():
                if (unclean := form_text_error(form)) is not None:
                    raise unclean
                if reason not in DECLINE_LABELS:
                    raise RuleViolationError(
                        "Choose why the offer is declined.",
                        errors=[FieldError("reason", "choose why the offer is declined")],
                    )
                body = moveforms.parse(DeclineIn, {"reason": reason, "note": note})
                matching_service.decline_offer(
                    ctx.session, ctx.actor, offer_id, body, clock=ctx.clock
                )
        except RuleViolationError as exc:
            return _decline_refused(ctx, offer_id, form, exc)
        return Redirect("/provider?done=declined")

    return await page(request, work, form=form, checks_text=True)


def _decline_refused(
    ctx: PageContext, offer_id: int, form: dict[str, str], exc: RuleViolationError
) -> Page:
    """The provider's page again, the offer's decline form holding what was typed and
    each message beside its field (``decline_<offer>.reason``, ``.note``)."""
    prefix = f"decline_{offer_id}"
    found = list(exc.errors) or ([FieldError(exc.field, exc.detail)] if exc.field else [])
    errors = moveforms.field_errors(prefix, found, {})
    problem = {
        "prefix": prefix,
        "title": presenters.title_words(exc.title),
        "detail": exc.detail,
        "conflict": False,
        "allowed": [],
        "messages": list(errors.items()),
    }
    typed = {f"{prefix}.{name}": form.get(name, "") for name in ("reason", "note")}
    values = _home_values(ctx, None) | {"form": typed, "errors": errors, "problem": problem}
    return Page("provider/home.html", values, status=422)
