"""Staff console: the work queue (one row per case) with its filters, sort orders and
views, the KPI charts (home page), claim and release of a case's work, and finding a
case by number, member name and birth date, or order id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from careloop.core.pagination import PageRequest
from careloop.identity.permissions import may
from careloop.portal import charts
from careloop.portal.web import Page, PageContext, Redirect, page, read_form
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus, Urgency
from careloop.referral.schemas import ReferralFilter
from careloop.report import rules as report_rules
from careloop.report import service as report_service
from careloop.report.service import Dashboard, WeekFigures
from careloop.workqueue import rules as workqueue_rules
from careloop.workqueue import service as workqueue_service
from careloop.workqueue.schemas import CaseFilter

router = APIRouter(include_in_schema=False)

QUEUE_PAGE_SIZE = 50
SEARCH_PAGE_SIZE = 25
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]


VIEWS = {"supervisor": 2, "manager": 3}


@router.get("/staff")
async def work_queue(
    request: Request,
    team: Annotated[str | None, Query(max_length=30)] = None,
    status: Annotated[str | None, Query(max_length=40)] = None,
    urgency: Annotated[str | None, Query(max_length=20)] = None,
    payer: Annotated[str | None, Query(max_length=40)] = None,
    mine: bool = False,
    view: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> Response:
    chosen_team = team if team in workqueue_rules.TEAMS else None
    chosen_view = view if view in VIEWS else None
    chosen_sort = sort if sort in workqueue_rules.SORTS else workqueue_rules.DEFAULT_SORT
    case_filter = CaseFilter(
        referral_status=status if status in ReferralStatus.__members__ else None,
        urgency=urgency if urgency in Urgency.__members__ else None,
        payer_code=(payer or "").strip().upper() or None,
    )
    filters = {
        "team": chosen_team or "",
        "status": case_filter.referral_status or "",
        "urgency": case_filter.urgency or "",
        "payer": case_filter.payer_code or "",
        "mine": "true" if mine else "",
        "view": chosen_view or "",
        "sort": chosen_sort if chosen_sort != workqueue_rules.DEFAULT_SORT else "",
    }

    def work(ctx: PageContext) -> Page:
        queue = workqueue_service.list_queue(
            ctx.session,
            ctx.actor,
            team=chosen_team,
            mine=mine,
            level=VIEWS.get(chosen_view or ""),
            sort=chosen_sort,
            limit=QUEUE_PAGE_SIZE,
            offset=offset,
            clock=ctx.clock,
            case_filter=case_filter,
        )
        dashboard = report_service.staff_dashboard(
            ctx.session, ctx.actor, clock=ctx.clock, zone=ctx.settings.display_time_zone
        )
        return Page(
            "staff/queue.html",
            {
                "queue": queue,
                "filters": filters,
                "link": lambda **changes: _queue_link(filters, changes),
                "sorts": workqueue_rules.SORTS,
                "teams": workqueue_rules.TEAMS,
                "statuses": list(ReferralStatus),
                "urgencies": list(Urgency),
                "offset": offset,
                "page_size": QUEUE_PAGE_SIZE,
                "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
                "may_acknowledge": may(ctx.actor, "referral:acknowledge"),
                "late_words": workqueue_rules.late_words,
                **_charts(dashboard),
            },
        )

    return await page(request, work)


def _queue_link(filters: dict[str, str], changes: dict[str, object]) -> str:
    """The queue's address with these filters changed (sort and view links keep the rest;
    any change goes back to the first page)."""
    values = {**filters, **{k: "" if v is None else str(v) for k, v in changes.items()}}
    query = urlencode({k: v for k, v in values.items() if v})
    return "/staff" + (f"?{query}" if query else "")


def _percent(rate: report_rules.Rate) -> str:
    if rate.value is None:
        return "nothing to count"
    return f"{round(rate.value * 100)} % ({rate.hits} of {rate.counted})"


def _bars(
    dashboard: Dashboard, rate_of: Callable[[WeekFigures], report_rules.Rate]
) -> list[charts.Bar]:
    return [
        charts.Bar(w.starts_on.strftime("%d %b"), rate_of(w).value, _percent(rate_of(w)))
        for w in dashboard.weeks
    ]


def _contact_tiles(dashboard: Dashboard) -> dict[str, str]:
    """First-contact resolution and handling time in plain words (report.rules)."""
    weeks = round(report_rules.CONTACT_PERIOD / timedelta(weeks=1))
    figures = dashboard.contacts
    fcr = figures.first_contact_resolution if figures else report_rules.Rate(0, 0)
    overall = figures.handling.get("") if figures else None
    by_queue = sorted((k, v) for k, v in (figures.handling if figures else {}).items() if k)
    return {
        "fcr_figure": f"{round(fcr.value * 100)} %" if fcr.value is not None else "—",
        "fcr_label": f"of {fcr.counted} inbound contacts resolved first time "
        f"(no repeat within 7 days), last {weeks} weeks"
        if fcr.counted
        else f"first-contact resolution: no inbound contact to count in the last {weeks} weeks",
        "aht_figure": report_rules.duration_words(overall.mean)
        if overall and overall.mean is not None
        else "—",
        "aht_label": f"average handling time of {overall.count} contacts, last {weeks} weeks"
        if overall
        else f"average handling time: no contact logged in the last {weeks} weeks",
        "aht_queues": " · ".join(
            f"{team.replace('_', ' ').capitalize()} {report_rules.duration_words(h.mean)}"
            for team, h in by_queue
            if h.mean is not None
        ),
    }


def _charts(dashboard: Dashboard) -> dict[str, Any]:
    """The KPI charts, their window and targets worded from report.rules."""
    ack_hours = round(report_rules.ACK_WITHIN / timedelta(hours=1))
    return {
        **_contact_tiles(dashboard),
        "dashboard": dashboard,
        "promises_kept": (
            "none yet"
            if dashboard.promises_kept.value is None
            else f"{round(dashboard.promises_kept.value * 100)} %"
        ),
        "ack_hours": ack_hours,
        "ack_target": round(report_rules.ACK_TARGET * 100),
        "on_time_target": round(report_rules.ON_TIME_TARGET * 100),
        "ack_chart": charts.rate_chart(
            "chart-ack",
            f"Acknowledged within {ack_hours} hours, by week (%)",
            _bars(dashboard, lambda w: w.ack_within_24h),
            target=report_rules.ACK_TARGET,
        ),
        "on_time_chart": charts.rate_chart(
            "chart-on-time",
            "Delivered or started on time, by week (%)",
            _bars(dashboard, lambda w: w.on_time),
            target=report_rules.ON_TIME_TARGET,
        ),
    }


def _back(form: dict[str, str]) -> str:
    back = form.get("back", "/staff")
    return back if back.startswith("/") and not back.startswith("//") else "/staff"


@router.post("/staff/queue/{item_id}/claim")
async def claim(request: Request, item_id: ItemId) -> Response:
    """Claim the case's work: every unclaimed open item of the row's case."""
    form = await read_form(request)

    def work(ctx: PageContext) -> Redirect:
        workqueue_service.claim_item(
            ctx.session, ctx.actor, item_id, clock=ctx.clock, whole_case=True
        )
        return Redirect(_back(form))

    return await page(request, work, form=form)


@router.post("/staff/queue/{item_id}/release")
async def release(request: Request, item_id: ItemId) -> Response:
    """Give back what you hold of the row's case (a supervisor: what its holder has)."""
    form = await read_form(request)

    def work(ctx: PageContext) -> Redirect:
        workqueue_service.release_item(
            ctx.session, ctx.actor, item_id, clock=ctx.clock, whole_case=True
        )
        return Redirect(_back(form))

    return await page(request, work, form=form)


@router.get("/staff/search")
async def search(
    request: Request,
    q: Annotated[str | None, Query(max_length=100)] = None,
    birth_date: Annotated[str | None, Query(max_length=10)] = None,
    external_id: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    born = _date_or_none(birth_date)
    asked = bool((q or "").strip() or born or (external_id or "").strip())
    flt = ReferralFilter(
        q=(q or "").strip() or None,
        member_birth_date=born,
        external_id=(external_id or "").strip() or None,
    )

    def work(ctx: PageContext) -> Page:
        results = None
        if asked:
            results = referral_service.list_referrals(
                ctx.session,
                ctx.actor,
                flt,
                PageRequest(limit=SEARCH_PAGE_SIZE, offset=0),
                clock=ctx.clock,
            )
        values = {
            "q": q or "",
            "birth_date": birth_date or "",
            "external_id": external_id or "",
            "results": results,
            "birth_date_error": "Use the form YYYY-MM-DD" if birth_date and not born else None,
        }
        return Page("staff/search.html", values)

    return await page(request, work)


def _date_or_none(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
