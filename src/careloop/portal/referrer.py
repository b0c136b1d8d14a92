"""Referrer pages: our organisation's referrals with their status in plain words, and
for each what is missing and how to send it (the supply-information form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from careloop.core.pagination import PageRequest
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
