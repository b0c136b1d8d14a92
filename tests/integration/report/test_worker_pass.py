"""The worker's pass keeps the case facts up to date as events land and runs each
scheduled report once for its period."""

from __future__ import annotations

from datetime import timedelta

from careloop import worker
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.report import reconciliation
from careloop.report import service as report_service
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"


def test_the_worker_folds_new_events_and_runs_each_schedule_once(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        manager, _ = make_user(session, clock=clock, role=Role.case_manager)
        made = referral_service.submit_referral(
            session, manager, referral_draft(clock.now()), clock=clock
        )
    first = worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)
    assert first["scheduled_reports"] == 3
    assert first["case_facts"] > 0
    again = worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)
    assert (again["scheduled_reports"], again["case_facts"]) == (0, 0)

    clock.advance(timedelta(days=1))  # the next morning: the next daily import
    assert (
        worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)[
            "scheduled_reports"
        ]
        == 1
    )
    with committed_database.unit_of_work() as session:
        runs = reconciliation.list_runs(session, manager)
        facts = report_service.case_facts(session)
    assert [r.name for r in runs].count("daily-import") == 2
    assert [f["status"] for f in facts] == ["received"]
    assert made.case_number
