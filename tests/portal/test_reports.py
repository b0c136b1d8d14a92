"""The figures page (trend charts with their targets, split by payer, a provider's
scorecard, CSV) and the reports page (the worker's scheduled runs to download as CSV,
spreadsheet or PDF; any report on demand), as staff use them; others are refused."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.grievance import service as grievance_service
from careloop.grievance.rules import Party, Subject
from careloop.grievance.schemas import GrievanceCreate
from careloop.referral import moves
from careloop.referral.models import Referral
from careloop.report import reconciliation
from careloop.report import service as report_service
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.portal.conftest import People, sign_in
from tests.portal.test_pages import assert_safe_html, submit

ZONE = "America/New_York"


def test_figures_by_payer_with_targets_csv_and_a_refused_date(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    submit(session, people.hartford, clock, external_id="FIG-1")
    clock.advance(timedelta(days=2))
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    session.flush()
    sign_in(browser, people.intake, clock)

    page = browser.get("/staff/figures?grain=week&by=payer")
    assert page.status_code == 200, page.text
    assert_safe_html(page.text)
    assert "Acknowledged within 24 hours" in page.text
    assert 'class="target"' in page.text  # the target drawn on the chart
    assert "target at most 8 %" in page.text  # clarification, from rules.py
    link = re.search(r'href="([^"]*group=[^"]*)">New England Health Plan<', page.text)
    assert link is not None
    one = browser.get(link.group(1).replace("&amp;", "&"))
    assert "<h1>Figures: New England Health Plan</h1>" in one.text

    exported = browser.get("/staff/figures.csv?grain=week")
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0].startswith("period starting,group,figure,value")
    assert "Referrals needing clarification" in exported.text

    refused = browser.get("/staff/figures?from=2026-13-01")
    assert refused.status_code == 422
    assert "write the day as year-month-day" in refused.text


def test_scheduled_runs_download_in_every_format_and_on_demand(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    case_number = submit(session, people.hartford, clock, external_id="REP-1")
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    sign_in(browser, people.intake, clock)
    assert "No report has been made on schedule yet." in browser.get("/staff/reports").text

    ran = reconciliation.run_due_reports(session, clock=clock, zone=ZONE)
    assert sorted(ran) == ["daily-import", "denial-audit", "open-referrals"]
    assert reconciliation.run_due_reports(session, clock=clock, zone=ZONE) == []  # once
    session.flush()
    listing = browser.get("/staff/reports")
    assert "Daily referral import" in listing.text and "Denial audit" in listing.text
    runs = re.findall(r'href="(/staff/reports/\d+/download\?format=(\w+))"', listing.text)
    assert {fmt for _, fmt in runs} == {"csv", "xlsx", "pdf"}
    starts = {"csv": b"Daily referral import", "xlsx": b"PK", "pdf": b"%PDF"}
    daily = [path for path, _ in runs]
    for path in daily[:3]:
        got = browser.get(path)
        assert got.status_code == 200
        fmt = path.rsplit("=", 1)[1]
        assert got.content.startswith(starts[fmt]) or fmt == "csv"

    today = clock.now().date()
    made = browser.get(
        f"/staff/reports/make?name=open-referrals&from={today}&to={today + timedelta(days=1)}"
        "&format=csv"
    )
    assert made.status_code == 200
    assert case_number in made.text
    assert "Received, waiting to be acknowledged" in made.text  # status in plain words
    assert browser.get("/staff/reports/999999/download?format=csv").status_code == 404
    wrong = browser.get(f"/staff/reports/make?name=nothing&from={today}&to={today}")
    assert wrong.status_code == 422


def test_a_referrer_may_not_read_the_figures_or_the_reports(
    browser: TestClient, people: People, clock: FixedClock
) -> None:
    sign_in(browser, people.hartford, clock)
    assert browser.get("/staff/figures").status_code == 403
    assert browser.get("/staff/reports").status_code == 403


def test_a_providers_scorecard_shows_its_complaints_and_the_pack_its_new_figures(
    browser: TestClient, people: People, session: Session, clock: FixedClock
) -> None:
    admin, _ = make_user(session, clock=clock, role=Role.admin, email="admin@hub.test")
    provider = make_provider(session, clock=clock, admin=admin, name="Valley Home Medical")
    number = submit(session, people.hartford, clock, external_id="CARD-1")
    referral = session.scalars(select(Referral).where(Referral.case_number == number)).one()
    moves.event(
        session,
        people.manager.actor,
        referral,
        "offer.accepted",
        now=clock.now(),
        provider_id=provider.id,
    )
    grievance_service.open_grievance(
        session,
        people.manager.actor,
        number,
        GrievanceCreate(
            subject=Subject.provider_quality,
            details="Nobody came on the day promised.",
            provider_id=provider.id,
            raised_by=Party.member,
            raised_by_name="Dorothy Hale",
        ),
        clock=clock,
    )
    clock.advance(timedelta(days=1))
    report_service.refresh_facts(session, clock=clock, zone=ZONE)
    session.flush()
    sign_in(browser, people.manager, clock)

    every = browser.get("/staff/figures?grain=month")
    assert every.status_code == 200
    for title in (
        "Time to acknowledgement (hours, median)",
        "Time to service start (hours, 90th percentile)",
        "Claims that missed their filing window",
        "Complaints about the provider&#39;s care",
    ):
        assert title in every.text, title
    assert "target at most 24.0 h" in every.text  # the median's target, DOMAIN.md §4
    by_provider = browser.get("/staff/figures?grain=month&by=provider")
    link = re.search(r'href="([^"]*group=[^"]*)">Valley Home Medical<', by_provider.text)
    assert link is not None
    card = browser.get(link.group(1).replace("&amp;", "&"))
    assert "<h1>Scorecard: Valley Home Medical</h1>" in card.text
    assert "denials and complaints about the care of this provider" in card.text
    assert "Complaints about the provider&#39;s care found justified" in card.text
    assert "will show here once" not in card.text
    for text in (every.text, card.text):  # plain words: no field names
        assert "grievances_substantiated" not in text and "filing_missed" not in text
    exported = browser.get("/staff/figures.csv?grain=month&by=provider").text
    line = next(
        row
        for row in exported.splitlines()
        if "Valley Home Medical" in row and "Complaints about the provider's care," in row
    )
    assert ",1.0000,1," in line
