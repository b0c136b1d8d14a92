"""The staff dashboard's snapshot: computed by the worker's pass with the rules of
report/rules.py, read back by the page, recomputed once stale."""

from __future__ import annotations

from datetime import timedelta

from careloop import worker
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.report import service as report_service
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"


def test_worker_keeps_a_snapshot_the_page_reads(
    committed_database: Database, clock: FixedClock
) -> None:
    with committed_database.unit_of_work() as session:
        make_payer(session, clock=clock)
        manager, _ = make_user(session, clock=clock, role=Role.case_manager)
        referral_service.submit_referral(session, manager, referral_draft(clock.now()), clock=clock)
    first = worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)
    assert first["reports"] == 1
    assert worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)["reports"] == 0

    with committed_database.unit_of_work() as session:
        referral_service.submit_referral(
            session, manager, referral_draft(clock.now(), external_id="B"), clock=clock
        )
        shown = report_service.staff_dashboard(session, manager, clock=clock, zone=ZONE)
        live = report_service.compute_dashboard(session, clock=clock, zone=ZONE)
    # The page shows the snapshot (one referral), not the live count (two).
    assert (shown.received_today, live.received_today) == (1, 2)
    assert shown.computed_at == clock.now()
    assert [w.received for w in shown.weeks][-1] == 1

    clock.advance(timedelta(minutes=6))
    assert worker.run_until_idle(committed_database, clock=clock, report_zone=ZONE)["reports"] == 1
    with committed_database.unit_of_work() as session:
        again = report_service.staff_dashboard(session, manager, clock=clock, zone=ZONE)
    assert again.received_today == 2
    assert again == report_service.Dashboard.from_json(again.as_json())
