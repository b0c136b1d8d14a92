"""The staff work queue on a laptop (1280 x 900): how late a row is and whose queue holds
it (the supervisor's, the operations manager's) are read without hovering: nothing of
the Due cell is cut off. A screenshot goes to test-artifacts/ to be looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service as referral_service
from careloop.referral.schemas import CancelIn
from careloop.worker import climb_ladder
from tests.e2e.conftest import World, shot, sign_in
from tests.factories.identity import make_user
from tests.factories.referral import referral_draft

LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def long_late(world: World) -> Iterator[tuple[str, str]]:
    """Two cases left unacknowledged for weeks: one climbed to the operations manager
    (about 18 days late), one to the supervisor (about 10). Received and climbed in the
    past, when nothing else of the stories was due; cancelled afterwards, so that the
    other stories' queue is as it was."""
    start = datetime.now(UTC) - timedelta(days=19)
    database = Database.from_url(world.database_url)
    try:
        with database.unit_of_work() as session:
            clock = FixedClock(start)
            agent, _ = make_user(
                session, clock=clock, role=Role.intake_agent, email="late@e2e.test"
            )
            first = referral_service.submit_referral(
                session, agent, referral_draft(clock.now(), external_id="E2E-LATE-1"), clock=clock
            ).case_number
        climb_ladder(database, clock=FixedClock(start + timedelta(days=4)))
        climb_ladder(database, clock=FixedClock(start + timedelta(days=8)))
        with database.unit_of_work() as session:
            clock = FixedClock(start + timedelta(days=8))
            second = referral_service.submit_referral(
                session, agent, referral_draft(clock.now(), external_id="E2E-LATE-2"), clock=clock
            ).case_number
        climb_ladder(database, clock=FixedClock(start + timedelta(days=12)))
        yield first, second
        with database.unit_of_work() as session:
            for number in (first, second):
                referral_service.cancel_referral(
                    session,
                    agent,
                    number,
                    CancelIn(reason="Test case"),
                    clock=FixedClock(datetime.now(UTC)),
                )
    finally:
        database.engine.dispose()


def _clipped(page: Page, case: str) -> list[str]:
    """What of the case's Due cell is cut off: the cell's content wider than the cell, or
    a part of it whose right edge passes the cell's."""
    found: list[str] = page.evaluate(
        """(number) => {
          const row = [...document.querySelectorAll('#work-queue tbody tr')]
            .find(r => r.textContent.includes(number));
          const cell = row.querySelector('td.when');
          const edge = cell.getBoundingClientRect().right;
          const out = [];
          if (cell.scrollWidth > cell.clientWidth)
            out.push(`cell ${cell.scrollWidth} > ${cell.clientWidth}`);
          for (const part of cell.querySelectorAll('*')) {
            const right = part.getBoundingClientRect().right;
            if (right > edge + 0.5) out.push(`${part.textContent} ends at ${right} > ${edge}`);
          }
          return out;
        }""",
        case,
    )
    return found


def test_how_late_and_whose_queue_are_read_whole_on_a_laptop(
    page: Page, world: World, long_late: tuple[str, str]
) -> None:
    manager_case, supervisor_case = long_late
    page.set_viewport_size(LAPTOP)
    sign_in(page, world.intake)
    page.goto("/staff")
    for case, late, queue in (
        (manager_case, r"overdue by 1[78] d", "Operations manager"),
        (supervisor_case, r"overdue by (9|10) d", "Supervisor"),
    ):
        row = page.locator("#work-queue tbody tr", has=page.get_by_role("link", name=case))
        expect(row.locator("td.when")).to_contain_text(queue)
        expect(row.locator("td.when .due")).to_have_text(re.compile(late))
        assert _clipped(page, case) == [], (case, _clipped(page, case))
    shot(page, "queue-laptop-late-rows")
