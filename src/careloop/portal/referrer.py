"""Referrer pages: our organisation's referrals with their status in plain words, and
for each what is missing and how to send it (the supply-information form)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from careloop.core.pagination import PageRequest
from careloop.identity.permissions import may
from careloop.portal import contacts, document_panel, escalation_panel, presenters
from careloop.portal.web import Page, PageContext, page
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus
from careloop.referral.schemas import ReferralFilter

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/referrer")
async def our_referrals(
    request: Request,
    waiting: bool = False,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """The newest referrals first; ``waiting`` shows only those waiting for us."""
    flt = ReferralFilter(status=(ReferralStatus.needs_clarification,) if waiting else ())

    def work(ctx: PageContext) -> Page:
        referrals = referral_service.list_referrals(
            ctx.session,
            ctx.actor,
            flt,
            PageRequest(limit=PAGE_SIZE, offset=offset),
            clock=ctx.clock,
        )
        values = {
            "referrals": referrals,
            "waiting": waiting,
            "offset": offset,
            "page_size": PAGE_SIZE,
        }
        return Page("referrer/list.html", values)

    return await page(request, work)


def case_values(ctx: PageContext, case_number: str) -> dict[str, Any]:
    """The referrer's view of one case: where it is, who the provider is and when they
    come, what is missing and how to send it, and the milestones meant for the referrer
    (never offers to other providers, declines, internal notes or contacts)."""
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    timeline = referral_service.get_timeline(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    zone = case.time_zone
    provider: str | None = None
    window: str | None = None
    milestones: list[tuple[datetime, str]] = []
    for e in timeline.events:
        data = dict(e.data)
        if e.type == "offer.accepted":
            provider = str(data.get("provider") or "") or None
        elif e.type in {"offer.made", "offer.declined", "offer.expired"}:
            provider = None
        if e.type == "appointment.scheduled" and data.get("sequence", 1) == 1:
            start, end = data.get("window_start"), data.get("window_end")
            if start and end:
                window = presenters.window_words(
                    datetime.fromisoformat(str(start)), datetime.fromisoformat(str(end)), zone
                )
        if e.type in presenters.REFERRER_EVENTS:
            milestones.append((e.at, presenters.referrer_event_words(e.type, data, zone)))
    status = case.status.value
    open_case = status not in ("cancelled", "closed")
    notices = [f.message for f in case.findings if f.severity != "error" and open_case]
    missing = [
        (presenters.field_words(f.field), f.message)
        for f in case.findings
        if f.severity == "error" and open_case
    ]
    notes = [
        n for n in contacts.notes_of(ctx, case_number) if n.from_intake or n.visibility == "shared"
    ]
    return {
        "case": case,
        "status_text": presenters.status_words(status),
        "provider": provider,
        "window": window,
        "missing": missing,
        "notices": notices,
        "booked": status in ("scheduled", "fulfilled", "closed") and window is not None,
        "milestones": list(reversed(milestones)),
        "notes": notes,
        "may_note": may(ctx.actor, "note:write") and open_case,
        "staff": False,
        **escalation_panel.panel_values(ctx, case),
        **document_panel.panel_values(ctx, case),
        "form": {},
        "errors": {},
        "problem": None,
        "done": None,
    }


def case_page(ctx: PageContext, case_number: str, done: str | None) -> Page:
    values = case_values(ctx, case_number)
    values["done"] = done
    return Page("referrer/case.html", values)
