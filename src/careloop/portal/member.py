"""The member page: my case in plain language (received, approved, who is coming), the
case number and the phone number to call, and nothing internal (no findings, no codes,
no staff notes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careloop.core.pagination import PageRequest
from careloop.portal import presenters
from careloop.portal.web import Page, PageContext, page
from careloop.referral import service as referral_service
from careloop.referral.schemas import ReferralFilter, ReferralRead, TimelineRead
from careloop.scheduling import service as scheduling_service

router = APIRouter(include_in_schema=False)

#: How many of the member's cases the page lists (newest first).
CASES_SHOWN = 5


def _who_is_coming(timeline: TimelineRead) -> str | None:
    """The provider that accepted the case, from its timeline (the newest acceptance)."""
    for event in reversed(timeline.events):
        if event.type == "offer.accepted":
            provider = event.data.get("provider")
            return str(provider) if provider else None
    return None


#: Statuses at which the care is approved (authorised, or needing no authorisation and
#: already offered to providers).
_APPROVED = frozenset(
    {"authorized", "offered", "accepted", "scheduled", "missed", "fulfilled", "closed"}
)


def _steps(case: ReferralRead) -> list[tuple[str, bool]]:
    """The milestones a member cares about, and whether each is reached."""
    status = case.status.value
    approved = status in _APPROVED
    placed = status in {"accepted", "scheduled", "missed", "fulfilled", "closed"}
    return [
        ("Order received", True),
        ("Approved", approved),
        ("Provider found", placed),
        ("Visit or delivery booked", status in {"scheduled", "fulfilled", "closed"}),
        ("Delivered or started", status in {"fulfilled", "closed"}),
    ]


def _case_view(ctx: PageContext, case_number: str) -> dict[str, Any]:
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    timeline = referral_service.get_timeline(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    visit = scheduling_service.upcoming_visit(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    return {
        # Only a booked window is news to the member; a missed or done one is said by
        # the status words.
        "visit": visit if visit is not None and visit.status == "scheduled" else None,
        "case_number": case.case_number,
        "first_name": case.member.first_name,
        "status_text": presenters.member_words(case.status),
        "received_at": case.created_at,
        "time_zone": case.time_zone,
        "steps": _steps(case),
        "provider": _who_is_coming(timeline),
        "requested_start": case.requested_start,
        "case_manager": case.case_manager.name if case.case_manager else None,
    }


@router.get("/member")
async def my_case(request: Request) -> Response:
    def work(ctx: PageContext) -> Page:
        mine = referral_service.list_referrals(
            ctx.session,
            ctx.actor,
            ReferralFilter(),
            PageRequest(limit=CASES_SHOWN, offset=0),
            clock=ctx.clock,
        )
        cases = [_case_view(ctx, item.case_number) for item in mine.items]
        return Page(
            "member/case.html",
            {"cases": cases, "help_phone": ctx.settings.member_help_phone},
        )

    return await page(request, work)
