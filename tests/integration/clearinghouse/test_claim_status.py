"""Claim status through real clearinghouse folders (005010X212): a claim the payer has
not answered after the contract's days is asked about with a 276, the payer simulator
answers with a 277 (read back whole by x12sdk's models), and the status is recorded on the claim in
plain words; a 277 with an unknown status or a damaged segment changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.claim import delivery
from careloop.claim import status as claim_status
from careloop.claim.models import Claim
from careloop.clearinghouse import claim_status as x12_claim_status
from careloop.clearinghouse import records, service, simulator, tasks, x276
from careloop.clearinghouse.envelope import read_interchange
from careloop.clearinghouse.exchange import FolderExchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral.models import ReferralEvent
from careloop.scheduling.models import Appointment
from careloop.workqueue.models import WorkItem
from tests.integration.auto_claim_path import delivered
from tests.integration.care_path.test_care_path import OXYGEN
from tests.integration.care_path.test_care_path import Path as CarePath

ACTOR = service.CLEARINGHOUSE_ACTOR


def _billed(database: Database, clock: FixedClock, **payer_rules: object) -> tuple[str, str]:
    """A delivered oxygen case and its claim (the worker's job, done here)."""
    with database.unit_of_work() as s:
        path = CarePath(s, clock, payer_rules={"claims": payer_rules} if payer_rules else None)
        number = delivered(path, OXYGEN, "E1390", 1)
        appointment = s.scalars(select(Appointment.id)).one()
        prepared = delivery.bill_appointment(s, appointment, clock=clock)
        assert prepared is not None
    return number, prepared.claim_number


def _round(
    database: Database, folder: Path, clock: FixedClock, config: ClearinghouseConfig
) -> list[records.Received]:
    exchange = FolderExchange(folder)
    tasks.exchange_once(database, exchange, clock=clock, config=config)
    simulator.run_once(database, folder, clock=clock, config=config)
    return tasks.exchange_once(database, exchange, clock=clock, config=config)


def test_an_unanswered_claim_is_asked_about_and_the_277_recorded(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    config = ClearinghouseConfig()
    number, claim_number = _billed(database, clock, status_inquiry_days=20)
    assert len(tasks.send_claims(database, clock=clock, config=config).sent) == 1
    with database.unit_of_work() as s:  # handed over elsewhere: this test reads 277s only
        service.deliver_pending(s, FolderExchange(tmp_path / "claims"), clock=clock)
    clock.advance(timedelta(days=19))
    assert tasks.ask_claim_status(database, clock=clock, config=config) == []
    clock.advance(timedelta(days=1))
    [sent] = tasks.ask_claim_status(database, clock=clock, config=config)
    assert (sent.transaction, sent.case_number) == ("276", number)
    assert tasks.ask_claim_status(database, clock=clock, config=config) == []  # asked already

    [answer] = _round(database, tmp_path, clock, config)
    assert (answer.transaction, answer.status) == ("277", ExchangeStatus.applied)
    assert (
        answer.detail
        == f"claim {claim_number}: Accepted: the payer is processing the claim (status code 20)"
    )
    [request] = (tmp_path / "outbound" / "taken").glob("276-*.x12")
    assert f"REF*EJ*{claim_number}~" in request.read_text()
    [reply] = (tmp_path / "inbound" / "processed").glob("277-*.x12")
    # x12sdk's 005010X212 models read it back whole (pyx12 4.0 indexes no X212 map).
    assert x276.read_answer(reply.read_text(), read_interchange(reply.read_text())).code == "20"
    with database.unit_of_work() as s:
        claim = s.scalars(select(Claim)).one()
        assert (claim.payer_status, claim.payer_status_code) == ("A2", "20")
        assert claim.status_asked_at == clock.now()
        [views] = [claim_status.list_claims(s, ACTOR, number, clock=clock)]
        assert views[0].payer_status_words == (
            "Accepted: the payer is processing the claim (status code 20)"
        )
        event = s.scalars(
            select(ReferralEvent).where(ReferralEvent.type == "claim.payer_status")
        ).one()
        assert event.data["status"].startswith("Accepted")

    # Twenty days on the payer has paid it (the simulator's rule): final, never asked again.
    clock.advance(timedelta(days=20))
    assert len(tasks.ask_claim_status(database, clock=clock, config=config)) == 1
    [paid] = _round(database, tmp_path, clock, config)
    assert paid.detail.endswith("Finalized: paid (status code 65)")
    clock.advance(timedelta(days=60))
    assert tasks.ask_claim_status(database, clock=clock, config=config) == []


def test_a_277_with_an_unknown_status_or_a_damaged_segment_changes_nothing(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    config = ClearinghouseConfig()
    _number, claim_number = _billed(database, clock)
    with database.unit_of_work() as s:
        x12_claim_status.send_status_inquiry(s, ACTOR, claim_number, clock=clock, config=config)
    with database.unit_of_work() as s:
        service.deliver_pending(s, FolderExchange(tmp_path), clock=clock)
    simulator.run_once(database, tmp_path, clock=clock, config=config)
    [good] = (tmp_path / "inbound").glob("277-*.x12")
    text = good.read_text()
    good.unlink()

    unknown = text.replace("STC*A2:20*", "STC*ZZ:20*")
    (tmp_path / "inbound" / "277-unknown.x12").write_text(unknown)
    [kept] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert kept.status is ExchangeStatus.ignored
    assert "STC01 category 'ZZ' is not a claim status category" in kept.detail

    damaged = text.replace("STC*A2:20*", "XYZ*1~\nSTC*A2:20*", 1)
    damaged = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) + 1}*", damaged)
    # Another interchange (its own control number), damaged in its body.
    damaged = re.sub(r"\*00501\*\d{9}\*", "*00501*000009991*", damaged)
    damaged = re.sub(r"IEA\*1\*\d{9}", "IEA*1*000009991", damaged)
    (tmp_path / "inbound" / "277-damaged.x12").write_text(damaged)
    [rejected] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert rejected.status is ExchangeStatus.rejected
    assert rejected.detail == (
        "segment XYZ at position 14: XYZ is not a segment of a 277 claim status response"
    )
    [ack] = (tmp_path / "outbound").glob("999-*.x12")
    assert "IK3*XYZ*12**2~" in ack.read_text()
    with database.unit_of_work() as s:
        claim = s.scalars(select(Claim)).one()
        assert (claim.payer_status, claim.payer_status_at) == (None, None)
        assert (
            s.scalars(select(ReferralEvent).where(ReferralEvent.type == "claim.payer_status")).all()
            == []
        )
        statuses = s.scalars(
            select(X12Exchange.status).where(X12Exchange.transaction == "277")
        ).all()
        assert sorted(statuses) == [ExchangeStatus.ignored, ExchangeStatus.rejected]


def test_a_rejection_asks_a_person_to_correct_the_claim(
    database: Database, clock: FixedClock
) -> None:
    _number, claim_number = _billed(database, clock)
    with database.unit_of_work() as s:
        claim_status.record_payer_status(
            s, ACTOR, claim_number, category="A7", code="21", effective=clock.now().date(),
            source="test", clock=clock,
        )  # fmt: skip
        item = s.scalars(select(WorkItem).where(WorkItem.kind == "claim_status")).one()
        assert item.title == (
            f"Claim {claim_number}: the payer says \u201cRejected: information is invalid; "
            "correct the claim and send it again (status code 21)\u201d. Correct and resubmit "
            "the claim, or appeal the denial."
        )
