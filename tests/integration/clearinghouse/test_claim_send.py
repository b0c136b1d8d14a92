"""Claims through real clearinghouse folders (837P out, 999 and 835 back): a delivered
case's claim leaves once as a file pyx12 finds 0 errors in, however often (or however
concurrently) the send runs; the sandbox payer acknowledges it with pyx12's 999 and
remits it with an 835 that posts through the claim domain (paid at the expected amount,
or denied with a CARC and a work item); a malformed 999 or 835 changes nothing."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from careloop.claim import delivery, x837
from careloop.claim import status as claim_status
from careloop.claim.models import Claim, ClaimPosting, Remittance
from careloop.clearinghouse import records, simulator, tasks
from careloop.clearinghouse.exchange import FolderExchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus
from careloop.clearinghouse.service import CLEARINGHOUSE_ACTOR
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral.models import ReferralEvent
from careloop.scheduling.models import Appointment
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockKind, ClockStatus
from careloop.workqueue.models import WorkItem
from tests.integration.auto_claim_path import delivered
from tests.integration.care_path.test_care_path import OXYGEN
from tests.integration.care_path.test_care_path import Path as CarePath

CONFIG = ClearinghouseConfig()
#: E1390 rented: 173.18 is paid by the sandbox payer, 173.17 (an odd cent) denied.
EVEN = {"fee_schedule": {"E1390-RR": "173.18"}}


def _billed(database: Database, clock: FixedClock, claims: dict[str, object] | None) -> str:
    """A delivered oxygen case and its claim (the worker's job, done here)."""
    with database.unit_of_work() as s:
        path = CarePath(s, clock, payer_rules={"claims": claims} if claims else None)
        number = delivered(path, OXYGEN, "E1390", 1)
        appointment = s.scalars(select(Appointment.id)).one()
        assert delivery.bill_appointment(s, appointment, clock=clock) is not None
    return number


def _claim(database: Database) -> Claim:
    with database.unit_of_work() as s:
        return s.scalars(select(Claim)).one()


def _words(database: Database, case_number: str, clock: FixedClock) -> str:
    with database.unit_of_work() as s:
        [view] = claim_status.list_claims(s, CLEARINGHOUSE_ACTOR, case_number, clock=clock)
        return view.status_words


def _exchange(database: Database, folder: Path, clock: FixedClock) -> list[records.Received]:
    return tasks.exchange_once(database, FolderExchange(folder), clock=clock, config=CONFIG)


def _sent(database: Database, folder: Path, clock: FixedClock) -> Path:
    """Send the claim and hand it over; the 837P file in the outbound folder."""
    [sent] = tasks.send_claims(database, clock=clock, config=CONFIG).sent
    assert sent.transaction == "837"
    assert _exchange(database, folder, clock) == []
    return folder / "outbound" / sent.file_name


def test_a_delivered_claim_goes_out_once_and_its_835_pays_it(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    case_number = _billed(database, clock, EVEN)
    assert _words(database, case_number, clock) == "Ready to send"
    assert _claim(database).sent_at is None

    file = _sent(database, tmp_path, clock)
    text = file.read_text(encoding="ascii")
    claim = _claim(database)
    assert x837.validate(text) == []
    assert f"CLM*{claim.claim_number}*173.18*" in text
    assert (claim.status, claim.sent_at) == ("sent", clock.now())
    assert _words(database, case_number, clock) == "Sent to the payer"
    # Sent once: a second pass (and a send by number) finds nothing to send.
    again = tasks.send_claims(database, clock=clock, config=CONFIG)
    assert (again.sent, again.refused) == ([], [])
    by_number = tasks.send_claims(
        database, clock=clock, config=CONFIG, claim_number=claim.claim_number
    )
    assert by_number.sent == []
    assert by_number.refused[0][1].code == "claim_already_sent"
    assert len(list((tmp_path / "outbound").glob("837-*.x12"))) == 1

    # The payer: a 999 first (pyx12's verdict), the 835 on its next pass.
    assert simulator.run_once(database, tmp_path, clock=clock, config=CONFIG) == 1
    [ack] = _exchange(database, tmp_path, clock)
    assert (ack.transaction, ack.status) == ("999", ExchangeStatus.applied)
    assert ack.detail == f"claim {claim.claim_number}: acknowledged"
    assert _words(database, case_number, clock) == "Accepted by the payer"
    assert simulator.run_once(database, tmp_path, clock=clock, config=CONFIG) == 1
    [remit] = _exchange(database, tmp_path, clock)
    assert (remit.transaction, remit.status, remit.detail) == (
        "835",
        ExchangeStatus.applied,
        "1 claim(s) posted, 0 denied",
    )
    assert _words(database, case_number, clock) == "Paid"
    with database.unit_of_work() as s:
        paid = s.scalars(select(Claim)).one()
        assert (paid.paid_cents, paid.expected_cents) == (17318, 17318)
        posting = s.scalars(select(ClaimPosting)).one()
        assert (posting.denied, posting.variance_cents) == (False, 0)
        filing = s.scalars(select(ClockRow).where(ClockRow.kind == ClockKind.timely_filing)).one()
        assert filing.status is ClockStatus.met
        said = s.scalars(select(ReferralEvent.type).where(ReferralEvent.type.like("claim.%"))).all()
        assert said == ["claim.prepared", "claim.sent", "claim.accepted"]
    # Nothing more to answer, nothing read twice.
    assert simulator.run_once(database, tmp_path, clock=clock, config=CONFIG) == 0
    assert _exchange(database, tmp_path, clock) == []


def test_a_claim_charged_an_odd_cent_is_denied_with_a_work_item(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    case_number = _billed(database, clock, None)  # E1390 at 173.17
    _sent(database, tmp_path, clock)
    for _ in range(2):
        simulator.run_once(database, tmp_path, clock=clock, config=CONFIG)
        _exchange(database, tmp_path, clock)
    assert _words(database, case_number, clock) == "Denied"
    with database.unit_of_work() as s:
        claim = s.scalars(select(Claim)).one()
        posting = s.scalars(select(ClaimPosting)).one()
        assert posting.denied
        assert posting.adjustments == [{"group": "CO", "reason": "16", "cents": 17317}]
        item = s.scalars(select(WorkItem).where(WorkItem.kind == "claim_denied")).one()
        assert item.title.startswith(f"Claim {claim.claim_number} denied (reason codes CO-16")


def test_a_claim_is_asked_about_only_once_it_left(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    _billed(database, clock, {**EVEN, "status_inquiry_days": 20})
    clock.advance(timedelta(days=40))
    assert tasks.ask_claim_status(database, clock=clock, config=CONFIG) == []
    _sent(database, tmp_path, clock)  # its 20 days count from now
    clock.advance(timedelta(days=19))
    assert tasks.ask_claim_status(database, clock=clock, config=CONFIG) == []
    clock.advance(timedelta(days=1))
    assert len(tasks.ask_claim_status(database, clock=clock, config=CONFIG)) == 1


def test_a_claim_whose_837_no_longer_passes_pyx12_is_not_sent(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    case_number = _billed(database, clock, EVEN)
    with database.unit_of_work() as s:
        claim = s.scalars(select(Claim)).one()
        claim.x12 = re.sub(r"DMG\*D8\*(\d{8})", "DMG*D8*1945012", claim.x12)
    done = tasks.send_claims(database, clock=clock, config=CONFIG)
    assert done.sent == []
    [(number, error)] = done.refused
    assert number == claim.claim_number
    assert error.code == "claim_refused"
    assert [(e.field, "invalid date" in e.message) for e in error.errors] == [("DMG", True)]
    assert _exchange(database, tmp_path, clock) == []
    assert list((tmp_path / "outbound").glob("*.x12")) == []
    assert _words(database, case_number, clock) == "Ready to send"
    # Asked again (the next pass), it is still not sent and still one work item.
    assert tasks.send_claims(database, clock=clock, config=CONFIG).sent == []
    with database.unit_of_work() as s:
        [item] = s.scalars(select(WorkItem).where(WorkItem.kind == "claim_refused")).all()
        assert "837P no longer passes the checks" in item.title
        assert s.scalar(select(func.count()).select_from(X12Exchange)) == 0


def test_a_rejecting_999_asks_a_person_to_correct_the_claim(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    case_number = _billed(database, clock, EVEN)
    _sent(database, tmp_path, clock)
    simulator.run_once(database, tmp_path, clock=clock, config=CONFIG)
    [good] = (tmp_path / "inbound").glob("999-*.x12")
    rejecting = (
        good.read_text().replace("IK5*A~", "IK5*R*5~").replace("AK9*A*1*1*1~", "AK9*R*1*1*0~")
    )
    good.write_text(rejecting)
    [read] = _exchange(database, tmp_path, clock)
    assert read.detail.endswith("rejected: the payer rejected the file")
    assert _words(database, case_number, clock) == (
        "Rejected by the payer: correct it and prepare it again"
    )
    with database.unit_of_work() as s:
        item = s.scalars(select(WorkItem).where(WorkItem.kind == "claim_status")).one()
        assert "was rejected by the payer" in item.title


def test_a_malformed_999_or_835_changes_nothing(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    case_number = _billed(database, clock, EVEN)
    _sent(database, tmp_path, clock)
    simulator.run_once(database, tmp_path, clock=clock, config=CONFIG)
    [good] = (tmp_path / "inbound").glob("999-*.x12")
    text = good.read_text()
    # No AK9: the payer's verdict is missing.
    broken = text.replace("AK9*A*1*1*1~\n", "")
    broken = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) - 1}*", broken)
    good.write_text(broken)
    [rejected] = _exchange(database, tmp_path, clock)
    assert rejected.status is ExchangeStatus.rejected
    assert "a 999 needs AK9" in rejected.detail
    assert _words(database, case_number, clock) == "Sent to the payer"

    # The real 999, then an 835 with a date pyx12 refuses: nothing posted.
    (tmp_path / "inbound" / "999-again.x12").write_text(
        re.sub(r"\*00501\*(\d{9})\*", "*00501*000007777*", text).replace(
            re.search(r"IEA\*1\*\d{9}", text).group(0),  # type: ignore[union-attr]
            "IEA*1*000007777",
        )
    )
    assert [r.status for r in _exchange(database, tmp_path, clock)] == [ExchangeStatus.applied]
    assert _words(database, case_number, clock) == "Accepted by the payer"
    simulator.run_once(database, tmp_path, clock=clock, config=CONFIG)
    [remit] = (tmp_path / "inbound").glob("835-*.x12")
    remit.write_text(re.sub(r"DTM\*405\*\d{8}", "DTM*405*2026133", remit.read_text()))
    [bad] = _exchange(database, tmp_path, clock)
    assert (bad.transaction, bad.status) == ("835", ExchangeStatus.rejected)
    assert "DTM" in bad.detail
    assert bad.acknowledgment is not None  # a 999 naming the segment goes back
    assert _words(database, case_number, clock) == "Accepted by the payer"
    with database.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Remittance)) == 0
        assert s.scalar(select(func.count()).select_from(ClaimPosting)) == 0
        assert s.scalars(select(Claim.paid_cents)).one() == 0


def test_concurrent_sends_send_a_claim_once(
    committed_database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    _billed(committed_database, clock, EVEN)
    start = threading.Barrier(2)
    results: list[tasks.ClaimsSent] = []

    def send() -> None:
        start.wait()
        results.append(tasks.send_claims(committed_database, clock=clock, config=CONFIG))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r.sent) for r in results) == [0, 1]
    assert all(r.refused == [] for r in results)
    with committed_database.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(X12Exchange)) == 1
        assert s.scalars(select(Claim.status)).one() == "queued"
