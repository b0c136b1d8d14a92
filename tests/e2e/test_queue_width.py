"""The staff work queue on a laptop (1280 x 900): how late a row is and whose queue holds
it (the supervisor's, the operations manager's), the member's name, what to do, the
case's status and the row's buttons are read without hovering: nothing of any cell is
cut off (text may wrap onto a second line) and nothing passes the table's right edge.
Screenshots go to test-artifacts/ to be looked at."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.matching import service as matching_service
from careloop.matching.schemas import OfferCreate
from careloop.referral import service as referral_service
from careloop.referral.schemas import CancelIn
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.rules import MissedReason
from careloop.scheduling.rules import Outcome as VisitOutcome
from careloop.scheduling.schemas import OutcomeIn, ScheduleIn
from careloop.worker import climb_ladder
from tests.e2e.conftest import World, shot, sign_in
from tests.factories.coverage import make_ready
from tests.factories.identity import make_user
from tests.factories.network import make_provider
from tests.factories.referral import referral_draft

LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
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


_CLIPPED = r"""(number) => {
  const table = document.querySelector('#work-queue');
  const edge = table.getBoundingClientRect().right;
  const rows = [...table.querySelectorAll('tr')]
    .filter(r => number === null ? true : r.textContent.includes(number));
  const out = [];
  for (const row of rows) {
    const name = (row.querySelector('td.case') || row).textContent.trim().slice(0, 30)
      .replace(/\s+/g, ' ');
    row.querySelectorAll('td, th').forEach((cell, i) => {
      const right = cell.getBoundingClientRect().right;
      const where = `${name}, cell ${i + 1} (${cell.className || 'no class'})`;
      if (cell.scrollWidth > cell.clientWidth)
        out.push(`${where}: content ${cell.scrollWidth} > ${cell.clientWidth} px`);
      if (right > edge + 0.5) out.push(`${where}: ends at ${right} > table ${edge}`);
      for (const part of cell.querySelectorAll('*')) {
        const box = part.getBoundingClientRect();
        if (box.width === 0 || part.closest('.sr-only')) continue;  // read aloud, not shown
        if (box.right > right + 0.5)
          out.push(`${where}: "${part.textContent.trim()}" ends at ${box.right} > ${right}`);
        if (part.scrollWidth > part.clientWidth && getComputedStyle(part).overflow !== 'visible')
          out.push(`${where}: "${part.textContent.trim()}" cut at ${part.clientWidth} px`);
      }
    });
  }
  return out;
}"""


def _clipped(page: Page, case: str | None = None) -> list[str]:
    """What of the queue's rows (of one case's, when named) is cut off: a cell's content
    wider than the cell, a part of it whose right edge passes the cell's, or a cell
    passing the table's right edge."""
    found: list[str] = page.evaluate(_CLIPPED, case)
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


@pytest.fixture(scope="module")
def missed_case(world: World) -> Iterator[str]:
    """A case whose first delivery was missed yesterday (its provider, Brightway Home
    Care, accepted it; the member was not home), so that the queue holds the longest
    status there is ("missed", being rescheduled). Cancelled afterwards."""
    start = datetime.now(UTC) - timedelta(days=1)
    database = Database.from_url(world.database_url)
    try:
        with database.unit_of_work() as session:
            clock = FixedClock(start)
            agent, _ = make_user(
                session, clock=clock, role=Role.intake_agent, email="missed@e2e.test"
            )
            admin, _ = make_user(
                session, clock=clock, role=Role.supervisor, email="missed-admin@e2e.test"
            )
            brightway = make_provider(session, clock=clock, admin=admin, name="Brightway Home Care")
            number = referral_service.submit_referral(
                session, agent, referral_draft(clock.now(), external_id="E2E-MISSED"), clock=clock
            ).case_number
            make_ready(session, agent, number, clock=clock)
            offer = matching_service.offer_referral(
                session, agent, number, OfferCreate(provider_id=brightway.id), clock=clock
            )
            assert offer is not None
            matching_service.accept_offer(session, brightway.staff, offer.id, clock=clock)
            booked = scheduling_service.schedule(
                session,
                brightway.staff,
                number,
                ScheduleIn(
                    window_start=start + timedelta(hours=2),
                    window_end=start + timedelta(hours=4),
                ),
                clock=clock,
            )
            scheduling_service.record_outcome(
                session,
                brightway.staff,
                booked.id,
                OutcomeIn(outcome=VisitOutcome.missed, reason=MissedReason.member_not_home),
                clock=FixedClock(start + timedelta(hours=5)),
            )
        yield number
        with database.unit_of_work() as session:
            referral_service.cancel_referral(
                session,
                agent,
                number,
                CancelIn(reason="Test case"),
                clock=FixedClock(datetime.now(UTC)),
            )
    finally:
        database.engine.dispose()


def test_every_cell_of_the_queue_is_read_whole_on_a_laptop(
    page: Page, world: World, long_late: tuple[str, str], missed_case: str
) -> None:
    page.set_viewport_size(LAPTOP)
    sign_in(page, world.intake)
    page.goto("/staff")
    rows = page.locator("#work-queue tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3
    # The longest status there is: a missed delivery or visit, being rescheduled.
    missed = page.locator("#work-queue tbody tr", has=page.get_by_role("link", name=missed_case))
    expect(missed).to_be_visible()
    assert missed.evaluate("r => r.getBoundingClientRect().height") <= 48, missed.inner_text()
    expect(page.locator("#work-queue td.actions button", has_text="Claim").first).to_be_visible()
    clipped = _clipped(page)
    assert clipped == [], "\n".join(clipped)
    heights = rows.evaluate_all("rows => rows.map(r => r.getBoundingClientRect().height)")
    assert max(heights) <= 48, heights  # two lines of text (or two buttons) at most
    shot(page, "queue-laptop-every-cell")


@pytest.fixture(scope="module")
def discharge_cases(world: World) -> Iterator[tuple[str, str]]:
    """Two cases a hospital discharge waits on, received now: one marked discharge-urgent,
    one urgent with a discharge time. Cancelled afterwards, so that the other stories'
    queue is as it was."""
    clock = FixedClock(datetime.now(UTC))
    tomorrow = (clock.now() + timedelta(days=1)).isoformat()
    database = Database.from_url(world.database_url)
    try:
        with database.unit_of_work() as session:
            agent, _ = make_user(
                session, clock=clock, role=Role.intake_agent, email="discharge@e2e.test"
            )
            numbers = tuple(
                referral_service.submit_referral(
                    session,
                    agent,
                    referral_draft(
                        clock.now(),
                        external_id=f"E2E-DISCHARGE-{urgency}",
                        urgency=urgency,
                        discharge_at=tomorrow,
                    ),
                    clock=clock,
                ).case_number
                for urgency in ("discharge", "urgent")
            )
        yield numbers[0], numbers[1]
        with database.unit_of_work() as session:
            for number in numbers:
                referral_service.cancel_referral(
                    session,
                    agent,
                    number,
                    CancelIn(reason="Test case"),
                    clock=FixedClock(datetime.now(UTC)),
                )
    finally:
        database.engine.dispose()


def test_a_discharge_waiting_on_a_case_is_said_once_and_read_whole_on_a_laptop(
    page: Page, world: World, discharge_cases: tuple[str, str]
) -> None:
    """The urgency cell of a discharge-urgent case once read "Discharge Discharge waits",
    two tags wider than the cell, over the status beside it."""
    discharge_urgent, urgent = discharge_cases
    page.set_viewport_size(LAPTOP)
    sign_in(page, world.intake)
    page.goto("/staff")
    for case, words in ((discharge_urgent, "Discharge"), (urgent, "Urgent Discharge")):
        row = page.locator("#work-queue tbody tr", has=page.get_by_role("link", name=case))
        expect(row).to_be_visible()
        assert _clipped(page, case) == [], (case, _clipped(page, case))
        expect(row.locator("td").nth(4)).to_have_text(words)  # the urgency column
    expect(page.locator("#work-queue caption")).to_contain_text(
        "Discharge: a hospital discharge waits on the case"
    )
    shot(page, "queue-laptop-discharge-rows")
