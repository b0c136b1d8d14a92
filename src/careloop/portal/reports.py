"""The figures a manager reads (the KPI pack as trend charts with their targets, by
payer, provider, service line or team; a provider's scorecard; CSV export) and the
reconciliation reports (the worker's scheduled runs to download, and any report made
on demand as CSV, spreadsheet or PDF). Staff only; figures and case numbers, no member
data."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from careloop.core.errors import FieldError, RuleViolationError
from careloop.portal import charts
from careloop.portal.web import Download, Page, PageContext, page
from careloop.report import reconciliation, render
from careloop.report import rules as report_rules
from careloop.report import service as report_service

router = APIRouter(include_in_schema=False)

RunId = Annotated[int, Path(ge=1, le=2**31 - 1)]
DateText = Annotated[str | None, Query(max_length=10)]
GRAIN_WORDS = {"week": "Week", "month": "Month"}
BY_WORDS = {
    "all": "Every case",
    "payer": "Payer",
    "provider": "Provider",
    "service_line": "Service line",
    "team": "Team (contacts)",
}
FORMAT_WORDS = {"csv": "CSV", "xlsx": "Spreadsheet", "pdf": "PDF"}
#: How far back the page looks when no dates are chosen.
DEFAULT_PERIODS = {"week": 12, "month": 12}


def _day(value: str | None, name: str, problems: list[FieldError]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(FieldError(name, "write the day as year-month-day"))
        return None


def _choices(
    grain: str | None, by: str | None, start: str | None, end: str | None, today: date
) -> tuple[str, str, date, date, list[FieldError]]:
    chosen_grain = grain if grain in report_rules.GRAINS else "month"
    chosen_by = by if by in BY_WORDS else "all"
    problems: list[FieldError] = []
    last = _day(end, "to", problems) or today
    back = DEFAULT_PERIODS[chosen_grain]
    default_first = (
        last - timedelta(weeks=back - 1)
        if chosen_grain == "week"
        else (last.replace(day=1) - timedelta(days=31 * (back - 1))).replace(day=1)
    )
    first = _day(start, "from", problems) or default_first
    if not problems:
        try:
            report_service.check_span(first, last, what="figures", inclusive=True)
        except RuleViolationError as exc:
            problems.extend(exc.errors)
    return chosen_grain, chosen_by, first, last, problems


def _period_label(grain: str, first: date) -> str:
    return first.strftime("%d %b") if grain == "week" else first.strftime("%b %Y")


def _figure(kpi: report_rules.Kpi, value: float | None) -> str:
    if value is None:
        return "none counted"
    if kpi.unit == "rate":
        return f"{round(value * 100)} %"
    if kpi.unit == "hours":
        return f"{value:.1f} h"
    return f"{value:.0f}"


def _target_words(kpi: report_rules.Kpi) -> str:
    if kpi.target is None:
        return ""
    figure = _figure(kpi, kpi.target)
    return f"target {'at least' if kpi.higher_is_better else 'at most'} {figure}"


def _charts(
    pack: report_service.Pack, group: str, keys: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    out = []
    for kpi in report_rules.KPIS:
        if keys is not None and kpi.key not in keys:
            continue
        points = []
        for first in pack.periods:
            figures = pack.figures(first, group) if group else pack.total_figures(first)
            value = kpi.value(figures)
            if kpi.unit != "count" and kpi.counted(figures) == 0:
                value = None
            caption = _figure(kpi, value)
            if kpi.unit != "count" and value is not None:
                caption += f" of {kpi.counted(figures)}"
            points.append(charts.Point(_period_label(pack.grain, first), value, caption))
        latest = next((p.value for p in reversed(points) if p.value is not None), None)
        met = report_rules.meets_target(kpi, latest)
        out.append(
            {
                "svg": charts.trend_chart(
                    f"kpi-{kpi.key.replace('_', '-')}",
                    kpi.title,
                    points,
                    rate=kpi.unit == "rate",
                    target=kpi.target,
                ),
                "title": kpi.title,
                "target": _target_words(kpi),
                "met": met,
            }
        )
    return out


def _contact_charts(pack: report_service.Pack, team: str) -> list[dict[str, Any]]:
    fcr_points, aht_points, promise_points = [], [], []
    for first in pack.periods:
        label = _period_label(pack.grain, first)
        row = next((c for c in pack.contacts if c.period == first and c.team == team), None)
        fcr = row.first_contact_resolution if row else report_rules.Rate(0, 0)
        fcr_points.append(
            charts.Point(
                label,
                fcr.value,
                f"{round(fcr.value * 100)} % of {fcr.counted}"
                if fcr.value is not None
                else "none counted",
            )
        )
        mean = row.handling.mean if row else None
        aht_points.append(
            charts.Point(
                label,
                mean.total_seconds() / 60 if mean is not None else None,
                report_rules.duration_words(mean) if mean is not None else "none counted",
            )
        )
        kept = pack.promises.get(first, report_rules.Rate(0, 0))
        promise_points.append(
            charts.Point(
                label,
                kept.value,
                f"{round(kept.value * 100)} % of {kept.counted}"
                if kept.value is not None
                else "none counted",
            )
        )
    out = [
        {
            "svg": charts.trend_chart("kpi-fcr", "First-contact resolution", fcr_points, rate=True),
            "title": "First-contact resolution",
            "target": "as high as possible",
            "met": None,
        },
        {
            "svg": charts.trend_chart(
                "kpi-aht", "Average handling time (minutes)", aht_points, rate=False
            ),
            "title": "Average handling time (minutes)",
            "target": "",
            "met": None,
        },
    ]
    if not team:
        out.append(
            {
                "svg": charts.trend_chart(
                    "kpi-promises", "Escalation promises kept", promise_points, rate=True
                ),
                "title": "Escalation promises kept",
                "target": "",
                "met": None,
            }
        )
    return out


def _link(path: str, **values: Any) -> str:
    return path + "?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})


@router.get("/staff/figures")
async def figures(
    request: Request,
    grain: Annotated[str | None, Query(max_length=10)] = None,
    by: Annotated[str | None, Query(max_length=20)] = None,
    group: Annotated[str | None, Query(max_length=40)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    def work(ctx: PageContext) -> Page:
        zone = ctx.settings.display_time_zone
        today = ctx.clock.now().astimezone(ZoneInfo(zone)).date()
        chosen_grain, chosen_by, first, last, problems = _choices(grain, by, start, end, today)
        values: dict[str, Any] = {
            "grain": chosen_grain,
            "by": chosen_by,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "grain_words": GRAIN_WORDS,
            "by_words": BY_WORDS,
            "problems": {p.field: p.message for p in problems},
            "charts": [],
            "groups": [],
            "heading": "Figures",
            "scorecard": False,
            "every_link": "",
            "csv_link": "",
            "computed_at": None,
        }
        if problems:
            return Page("staff/figures.html", values, status=422)
        pack = report_service.kpi_pack(
            ctx.session,
            ctx.actor,
            grain=chosen_grain,
            start=first,
            end=last,
            dimension=chosen_by,
            clock=ctx.clock,
            zone=zone,
        )
        groups = pack.keys() if chosen_by not in ("all", "team") else []
        teams = sorted({c.team for c in pack.contacts if c.team})
        chosen_group = group if group and any(k == group for k, _ in groups) else ""
        chosen_team = group if chosen_by == "team" and group in teams else ""
        scorecard = chosen_by == "provider" and bool(chosen_group)
        label = dict(groups).get(chosen_group, "")
        common = {
            "grain": chosen_grain,
            "by": chosen_by,
            "from": first.isoformat(),
            "to": last.isoformat(),
        }
        values.update(
            heading=f"Scorecard: {label}"
            if scorecard
            else (f"Figures: {label}" if label else "Figures"),
            charts=[
                *_charts(pack, chosen_group, report_rules.SCORECARD_KPIS if scorecard else None),
                *([] if chosen_group else _contact_charts(pack, chosen_team)),
            ],
            groups=[
                {
                    "label": name,
                    "link": _link("/staff/figures", **common, group=key),
                    "current": key == chosen_group,
                }
                for key, name in groups
            ]
            + [
                {
                    "label": report_rules.words(report_rules.TEAM_WORDS, t),
                    "link": _link("/staff/figures", **common, group=t),
                    "current": t == chosen_team,
                }
                for t in teams
            ],
            every_link=_link("/staff/figures", **common),
            csv_link=_link("/staff/figures.csv", **common),
            computed_at=pack.computed_at,
            scorecard=scorecard,
        )
        return Page("staff/figures.html", values)

    return await page(request, work)


@router.get("/staff/figures.csv")
async def figures_csv(
    request: Request,
    grain: Annotated[str | None, Query(max_length=10)] = None,
    by: Annotated[str | None, Query(max_length=20)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> Response:
    def work(ctx: PageContext) -> Download:
        zone = ctx.settings.display_time_zone
        today = ctx.clock.now().astimezone(ZoneInfo(zone)).date()
        chosen_grain, chosen_by, first, last, problems = _choices(grain, by, start, end, today)
        if problems:
            raise RuleViolationError("The figures cannot be made.", errors=problems)
        pack = report_service.kpi_pack(
            ctx.session,
            ctx.actor,
            grain=chosen_grain,
            start=first,
            end=last,
            dimension=chosen_by,
            clock=ctx.clock,
            zone=zone,
        )
        body = report_service.pack_csv(pack).encode()
        return Download(body, render.FORMATS["csv"], f"figures-{first}-{last}.csv")

    return await page(request, work)


@router.get("/staff/reports")
async def reports(request: Request) -> Response:
    def work(ctx: PageContext) -> Page:
        runs = reconciliation.list_runs(ctx.session, ctx.actor)
        today = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.display_time_zone)).date()
        return Page(
            "staff/reports.html",
            {
                "runs": runs,
                "formats": FORMAT_WORDS,
                "titles": report_rules.REPORT_TITLES,
                "yesterday": (today - timedelta(days=1)).isoformat(),
                "today": today.isoformat(),
            },
        )

    return await page(request, work)


@router.get("/staff/reports/make")
async def make(
    request: Request,
    # Optional here and checked once signed in: a page answers a stranger with the
    # sign-in page, never with what its form lacks.
    name: Annotated[str, Query(max_length=40)] = "",
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    fmt: Annotated[str, Query(alias="format", max_length=10)] = "csv",
) -> Response:
    def work(ctx: PageContext) -> Download:
        problems: list[FieldError] = []
        if not name:
            problems.append(FieldError("name", "choose a report"))
        first = _day(start, "from", problems)
        after = _day(end, "to", problems)
        if not start:
            problems.append(FieldError("from", "choose the first day"))
        if not end:
            problems.append(FieldError("to", "choose the day after the last"))
        if fmt not in render.FORMATS:
            problems.append(FieldError("format", "choose CSV, spreadsheet or PDF"))
        if problems or first is None or after is None:
            raise RuleViolationError("The report cannot be made.", errors=problems)
        made = reconciliation.make_report(
            ctx.session,
            ctx.actor,
            name,
            start=first,
            end=after,
            clock=ctx.clock,
            zone=ctx.settings.display_time_zone,
        )
        return Download(render.render(made, fmt), render.FORMATS[fmt], f"{name}-{first}.{fmt}")

    return await page(request, work)


@router.get("/staff/reports/{run_id}/download")
async def download(
    request: Request,
    run_id: RunId,
    fmt: Annotated[str, Query(alias="format", max_length=10)] = "csv",
) -> Response:
    def work(ctx: PageContext) -> Download:
        if fmt not in render.FORMATS:
            raise RuleViolationError(
                "The report cannot be written.",
                errors=[FieldError("format", "choose CSV, spreadsheet or PDF")],
            )
        made = reconciliation.get_run(ctx.session, ctx.actor, run_id)
        return Download(
            render.render(made, fmt), render.FORMATS[fmt], f"{made.name}-{run_id}.{fmt}"
        )

    return await page(request, work)
