"""What the coordinator sees after the hospital's feed moves a discharge: the work
queue's row for the case (its due time, the discharge flag), not only the case's
columns. A real MLLP listener, the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.referral import service as referral_service
from careloop.referral.models import Referral
from careloop.referral.schemas import AcknowledgeIn
from careloop.workqueue import service as workqueue
from careloop.workqueue.schemas import QueueCaseRead
from tests.integration.adt.test_mllp import adt, feed, intake, msa, refreshed, send, submit

__all__ = ["feed", "intake"]  # fixtures, used by name

BORN = date(1945, 1, 23)


def queue_row(session: Session, clock: FixedClock, case: Referral) -> QueueCaseRead:
    """The case's row as a supervisor reads the queue."""
    supervisor = Actor(
        user_id=None, role=Role.supervisor, organization_id=None, display_name="Ines Ortiz"
    )
    session.expire_all()
    page = workqueue.list_queue(session, supervisor, clock=clock, team=None, mine=False)
    [row] = [r for r in page.cases if r.case_number == case.case_number]
    return row


def acknowledged_case(session: Session, clock: FixedClock, intake: Actor) -> Referral:
    case = submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
    referral_service.acknowledge_referral(
        session, intake, case.case_number, AcknowledgeIn(), clock=clock
    )
    session.flush()
    return case


def message(event: str, control_id: str, **dates: str) -> str:
    return adt(event, control_id, family="Hale", given="Dorothy", born=BORN, mrn="M1", **dates)


def test_an_expected_discharge_never_makes_the_work_due_after_the_service_start(
    session: Session, clock: FixedClock, intake: Actor, feed: int
) -> None:
    case = acknowledged_case(session, clock, intake)
    service_due = refreshed(session, case).service_due_at
    assert service_due == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)

    # Expected 28 November, 10:00 in New York: the watch (a day before) is 27 November
    # 15:00 UTC, an hour after the service start the work must secure.
    [answer] = send(feed, message("A01", "Q-1", pv2_9="202611281000"))

    assert msa(answer)[0] == "AA"
    row = queue_row(session, clock, case)
    assert row.discharge_dependent
    assert row.item.due_at == service_due

    # Discharged sooner (25 November, 20:00): the watch, a day before, comes first.
    [answer] = send(feed, message("A03", "Q-2", pv1_45="202611252000"))

    assert msa(answer)[0] == "AA"
    assert queue_row(session, clock, case).item.due_at == datetime(2026, 11, 25, 1, tzinfo=UTC)


def test_an_update_after_the_discharge_does_not_move_it_back_a_new_admission_does(
    session: Session, clock: FixedClock, intake: Actor, feed: int
) -> None:
    case = acknowledged_case(session, clock, intake)
    discharged = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    later = "202612101000"  # 10 December, expected

    reported, stale = send(
        feed,
        message("A03", "U-1", pv1_45="202611252000"),
        message("A08", "U-2", pv2_9=later),
    )

    assert msa(reported)[0] == "AA"
    code, _, text = msa(stale)
    assert code == "AA"
    assert "already reported the discharge" in text
    assert refreshed(session, case).discharge_at == discharged
    assert queue_row(session, clock, case).item.due_at == datetime(2026, 11, 25, 1, tzinfo=UTC)

    # Readmitted: a new stay's expected discharge is the news.
    [readmitted] = send(feed, message("A01", "U-3", pv2_9=later))

    assert msa(readmitted)[0] == "AA"
    assert refreshed(session, case).discharge_at == datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
