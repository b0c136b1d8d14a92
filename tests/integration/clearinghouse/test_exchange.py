"""X12 through real clearinghouse folders against a real database: a case's 270 and 278
go out, the payer simulator answers, the 271 and 278 come back into the eligibility
result and the authorisation decision; an answer read twice changes nothing; an
unreadable answer is rejected whole with a 999; the real-time seam over HTTP."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.clearinghouse import records, service, simulator, tasks, x278
from careloop.clearinghouse.envelope import Party, read_interchange, segment, write_ta1
from careloop.clearinghouse.exchange import FolderExchange, HttpExchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import (
    Action,
    ClearinghouseConfig,
    Direction,
    ExchangeStatus,
    simulator_config,
)
from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.eligibility import service as eligibility
from careloop.eligibility.models import EligibilityCheck
from careloop.prior_auth import service as prior_auth
from careloop.prior_auth.rules import AuthorizationStatus, DenialReason
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import AcknowledgeIn
from tests.factories.coverage import make_coverage
from tests.factories.identity import make_user
from tests.factories.referral import make_payer, referral_draft

ACTOR = service.CLEARINGHOUSE_ACTOR


def _case(database: Database, clock: FixedClock, *, prior_auth: str = "E1390") -> str:
    with database.unit_of_work() as s:
        make_payer(s, clock=clock)
        make_coverage(s, clock=clock, prior_auth=prior_auth)
        manager, _ = make_user(s, clock=clock, role=Role.case_manager)
        number = referral_service.submit_referral(
            s, manager, referral_draft(clock.now()), clock=clock
        ).case_number
        referral_service.acknowledge_referral(s, manager, number, AcknowledgeIn(), clock=clock)
    return number


def _round(
    database: Database, folder: Path, clock: FixedClock, config: ClearinghouseConfig
) -> list[records.Received]:
    """What `careloop demo` does each pass: CareLoop's exchange, then the payer's."""
    exchange = FolderExchange(folder)
    results = tasks.exchange_once(database, exchange, clock=clock, config=config)
    simulator.run_once(database, folder, clock=clock, config=config)
    return results + tasks.exchange_once(database, exchange, clock=clock, config=config)


def _case_row(s: Session, number: str) -> Referral:
    return s.scalars(select(Referral).where(Referral.case_number == number)).one()


def _count(s: Session, model: type, **where: object) -> int:
    stmt = select(func.count()).select_from(model).filter_by(**where)
    return int(s.scalar(stmt) or 0)


def test_a_case_gets_eligibility_and_authorisation_from_the_payers_files(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig(auto_review=True)
    with database.unit_of_work() as s:
        sent = service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=config)
    first = _round(database, tmp_path, clock, config)
    assert (tmp_path / "outbound" / "taken" / sent.file_name).exists()
    assert [(r.transaction, r.status) for r in first] == [("271", ExchangeStatus.applied)]
    assert "prior authorisation asked" in first[0].detail
    second = _round(database, tmp_path, clock, config)
    assert [(r.transaction, r.status) for r in second] == [("278", ExchangeStatus.applied)]

    with database.unit_of_work() as s:
        case = _case_row(s, number)
        assert case.status is ReferralStatus.authorized
        check = s.scalars(
            select(EligibilityCheck).where(EligibilityCheck.referral_id == case.id)
        ).one()
        assert check.status.value == "active"
        assert [i["code"] for i in check.items if i["authorization_required"]] == ["E1390"]
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.approved
        assert auth.authorization_number and auth.authorization_number.startswith("AUTH")
        assert [(i.code, i.units_requested, i.units_approved) for i in auth.items] == [
            ("E1390", 1, 1)
        ]
        assert auth.valid_from == case.requested_start
        verified = s.scalars(
            select(ReferralEvent).where(
                ReferralEvent.referral_id == case.id, ReferralEvent.type == "eligibility.verified"
            )
        ).one()
        assert verified.data["source"].startswith("271 from NEHP")
        events, checks = _count(s, ReferralEvent), _count(s, EligibilityCheck)

    # The same 271 dropped again is found by its control number: nothing changes.
    answered = next((tmp_path / "inbound" / "processed").glob("271-*.x12"))
    shutil.copy(answered, tmp_path / "inbound" / answered.name)
    again = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert [(r.transaction, r.duplicate) for r in again] == [("271", True)]
    with database.unit_of_work() as s:
        assert (_count(s, ReferralEvent), _count(s, EligibilityCheck)) == (events, checks)
        assert _count(s, X12Exchange, direction=Direction.inbound) == 2


def test_a_denial_carries_its_reason_and_the_peer_to_peer_contact(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig(
        auto_review=True,
        simulator=simulator_config(
            {"NEHP": {"deny_codes": ["E1390"], "peer_to_peer": "Dr Lee 1-800-555-0111"}}
        ),
    )
    with database.unit_of_work() as s:
        service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=config)
    _round(database, tmp_path, clock, config)
    _round(database, tmp_path, clock, config)
    with database.unit_of_work() as s:
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.denied
        assert auth.denial is not None
        assert auth.denial.reason is DenialReason.not_medically_necessary
        assert auth.denial.peer_to_peer_contact == "DR LEE 1-800-555-0111"
        assert auth.denial.appeal_due_at is not None
        assert _case_row(s, number).status is ReferralStatus.denied


def _pending_answer(
    database: Database, clock: FixedClock, number: str, config: ClearinghouseConfig
) -> tuple[records.Sent, x278.ReviewRequest]:
    with database.unit_of_work() as s:
        agent, _ = make_user(s, clock=clock, role=Role.intake_agent)
        eligibility.verify_eligibility(s, agent, number, clock=clock)
        sent = service.send_review_request(s, ACTOR, number, clock=clock, config=config)
        row = s.get(X12Exchange, sent.exchange_id)
        assert row is not None
    return sent, x278.read_request(read_interchange(row.payload).transactions[0])


def _drop_response(folder: Path, request: x278.ReviewRequest, **changes: object) -> str:
    values: dict[str, object] = {
        "trace": request.trace,
        "payer_trace": "P1",
        "reference": request.reference,
        "created": request.created,
        "parties": request.parties,
        "service_type": request.service_type,
        "action": Action.pended,
        "certification_number": None,
        "reason_code": None,
        "valid_from": None,
        "valid_to": None,
        "message": "Send the oxygen saturation log",
        "contact": None,
        "services": (),
    }
    values.update(changes)
    text = x278.write(
        x278.response_segments(x278.ReviewResponse(**values)),  # type: ignore[arg-type]
        sender=Party("ZZ", "NEHP"),
        receiver=Party("ZZ", "CARELOOP"),
        control_number=901,
        created=request.created,
    )
    FolderExchange(folder)
    (folder / "inbound" / "278-answer.x12").write_text(text)
    return text


def test_a_pended_review_says_what_is_missing(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig()
    _, request = _pending_answer(database, clock, number, config)
    _drop_response(tmp_path, request)
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert (result.transaction, result.status) == ("278", ExchangeStatus.applied)
    with database.unit_of_work() as s:
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.pended
        assert auth.missing_information == "SEND THE OXYGEN SATURATION LOG"


def test_an_unreadable_answer_is_rejected_whole_with_a_999(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig()
    _, request = _pending_answer(database, clock, number, config)
    good = _drop_response(
        tmp_path, request, action=Action.certified, certification_number="A1", message=None
    )
    broken = good.replace("UM*HS*I*", "XYZ*1~\nUM*HS*I*", 1)
    broken = re.sub(r"SE\*(\d+)\*", lambda m: f"SE*{int(m.group(1)) + 1}*", broken)
    (tmp_path / "inbound" / "278-answer.x12").write_text(broken)

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert result.status is ExchangeStatus.rejected
    assert "segment XYZ at position 15" in result.detail
    assert "XYZ is not a segment of loop 2000E" in result.detail
    assert (tmp_path / "inbound" / "rejected" / "278-answer.x12").exists()
    [ack] = (tmp_path / "outbound").glob("999-*.x12")
    assert "IK3*XYZ*13**2~" in ack.read_text()
    with database.unit_of_work() as s:
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.requested
        rejected = s.scalars(
            select(X12Exchange).where(X12Exchange.status == ExchangeStatus.rejected)
        ).one()
        assert rejected.error and "XYZ" in rejected.error

    # A file whose envelope cannot be read names no group to acknowledge: a clear error.
    (tmp_path / "inbound" / "garbage.x12").write_text("ISA*00*not an interchange")
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert (result.status, result.acknowledgment) == (ExchangeStatus.rejected, None)
    assert result.detail == (
        "segment ISA at position 1: the file does not start with a complete ISA segment "
        "(106 characters)"
    )
    assert len(list((tmp_path / "outbound").glob("999-*.x12"))) == 1


def _restyled(text: str, style: str) -> str:
    """The interchange with the separators another clearinghouse might declare in its ISA
    (the element separator its 4th character, the segment terminator the one after ISA16)."""
    segments = [s.strip() for s in text.split("~") if s.strip()]
    if style == "newline":
        return "\n".join(segments) + "\n"
    if style == "tilde-crlf":
        return "~\r\n".join(segments) + "~\r\n"
    return "|".join(s.replace("*", "!").replace("^", "+") for s in segments) + "|"


@pytest.mark.parametrize("style", ["newline", "tilde-crlf", "bar"])
def test_an_answer_with_the_separators_its_isa_declares_is_read(
    database: Database, clock: FixedClock, tmp_path: Path, style: str
) -> None:
    number = _case(database, clock, prior_auth="")
    config = ClearinghouseConfig()
    with database.unit_of_work() as s:
        service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=config)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    simulator.run_once(database, tmp_path, clock=clock, config=config)
    [answer] = (tmp_path / "inbound").glob("271-*.x12")
    answer.write_bytes(_restyled(answer.read_text(), style).encode("ascii"))

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert (result.transaction, result.status) == ("271", ExchangeStatus.applied), result.detail
    with database.unit_of_work() as s:
        assert _case_row(s, number).status is ReferralStatus.eligibility_verified


def test_envelope_faults_are_answered_by_a_ta1_or_the_999s_ak9_and_nothing_applies(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig()
    _, request = _pending_answer(database, clock, number, config)
    good = _drop_response(
        tmp_path, request, action=Action.certified, certification_number="A1", message=None
    )
    isa_date_time = re.search(r"\*(\d{6})\*(\d{4})\*\^\*00501\*", good)
    assert isa_date_time is not None
    date, time = isa_date_time.groups()

    # The interchange's trailer does not pair with its header: a TA1, no 999.
    (tmp_path / "inbound" / "278-answer.x12").write_text(
        good.replace("IEA*1*000000901", "IEA*1*000000902")
    )
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert result.status is ExchangeStatus.rejected
    assert result.acknowledgment is not None and result.acknowledgment.startswith("TA1-NEHP-")
    ta1 = (tmp_path / "outbound" / result.acknowledgment).read_text()
    assert f"~\nTA1*000000901*{date}*{time}*R*001~\nIEA*0*" in ta1
    assert "GS*" not in ta1
    assert list((tmp_path / "outbound").glob("999-*.x12")) == []

    # The group's trailer does not pair with its header: a 999 whose AK9 says so.
    other = good.replace("*00501*000000901*", "*00501*000000903*").replace(
        "IEA*1*000000901", "IEA*1*000000903"
    )
    (tmp_path / "inbound" / "278-answer.x12").write_text(other.replace("GE*1*901", "GE*1*904"))
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert result.status is ExchangeStatus.rejected
    [reply] = (tmp_path / "outbound").glob("999-*.x12")
    assert "~\nAK1*HI*901*005010X217~\nAK9*R*1*1*0*4~\n" in reply.read_text()
    assert "IK3" not in reply.read_text()

    with database.unit_of_work() as s:
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.requested


@pytest.fixture
def payer_over_http(database: Database, clock: FixedClock) -> Iterator[str]:
    """A real HTTP listener on 127.0.0.1 answering as the sandbox payer at once."""
    config = ClearinghouseConfig()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            text = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
            with database.unit_of_work() as s:
                reply = simulator.answer(s, text, clock=clock, config=config)
            body = (reply[1] if reply else "").encode("ascii")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/x12"
    server.shutdown()
    thread.join(timeout=5)


def test_a_real_time_exchange_answers_the_270_at_once(
    database: Database, clock: FixedClock, payer_over_http: str
) -> None:
    number = _case(database, clock, prior_auth="")
    config = ClearinghouseConfig()
    with database.unit_of_work() as s:
        service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=config)
    results = tasks.exchange_once(
        database, HttpExchange(payer_over_http), clock=clock, config=config
    )
    assert [(r.transaction, r.status) for r in results] == [("271", ExchangeStatus.applied)]
    with database.unit_of_work() as s:
        assert _case_row(s, number).status is ReferralStatus.eligibility_verified


class _Passes(threading.Event):
    """A stop event that stops the sandbox after ``n`` passes (no sleeping)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def wait(self, timeout: float | None = None) -> bool:
        self.left -= 1
        if self.left <= 0:
            self.set()
        return self.is_set()


def test_the_demo_sandbox_asks_waiting_cases_and_the_payer_answers(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig(auto_review=True)
    [asked] = tasks.ask_payers(database, clock=clock, config=config)
    assert asked.case_number == number
    assert tasks.ask_payers(database, clock=clock, config=config) == []  # asked once
    tasks.run_sandbox(database, tmp_path, clock=clock, config=config, stop=_Passes(4))
    with database.unit_of_work() as s:
        assert _case_row(s, number).status is ReferralStatus.authorized
        kinds = s.scalars(select(X12Exchange.transaction).order_by(X12Exchange.id)).all()
        assert kinds == ["270", "271", "278", "278"]


def _partner_ta1(folder: Path, control: str, code: str, note: str, clock: FixedClock) -> None:
    """The payer's interchange acknowledgment of CareLoop's interchange ``control``."""
    ta1 = segment("TA1", control, clock.now().strftime("%y%m%d"), "1200", code, note)
    text = write_ta1(
        ta1,
        sender=Party("ZZ", "NEHP"),
        receiver=Party("ZZ", "CARELOOP"),
        control_number=950 + len(list((folder / "inbound" / "processed").glob("*"))),
        created=clock.now(),
    )
    (folder / "inbound" / f"TA1-NEHP-{control}-{code}.x12").write_text(text)


@pytest.mark.parametrize(
    ("code", "note", "status", "words"),
    [
        ("A", "000", ExchangeStatus.sent, "accepted"),
        ("R", "024", ExchangeStatus.rejected, "note 024: the interchange's content is invalid"),
    ],
)
def test_a_partners_ta1_is_recorded_on_the_interchange_it_names_and_never_answered(
    database: Database,
    clock: FixedClock,
    tmp_path: Path,
    code: str,
    note: str,
    status: ExchangeStatus,
    words: str,
) -> None:
    number = _case(database, clock)
    config = ClearinghouseConfig()
    sent, _ = _pending_answer(database, clock, number, config)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    before = sorted(p.name for p in (tmp_path / "outbound").glob("*.x12"))
    _partner_ta1(tmp_path, sent.control_number, code, note, clock)

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)

    assert (result.transaction, result.status) == ("TA1", ExchangeStatus.applied), result.detail
    assert words in result.detail
    assert result.acknowledgment is None
    assert sorted(p.name for p in (tmp_path / "outbound").glob("*.x12")) == before
    with database.unit_of_work() as s:
        request = s.get(X12Exchange, sent.exchange_id)
        assert request is not None and request.status is status
        assert (request.error is None) == (code == "A")
        [ta1] = s.scalars(select(X12Exchange).where(X12Exchange.transaction == "TA1")).all()
        assert (ta1.direction, ta1.answers_id) == (Direction.inbound, sent.exchange_id)
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        assert auth.status is AuthorizationStatus.requested

    # The same TA1 read again changes nothing.
    _partner_ta1(tmp_path, sent.control_number, code, note, clock)
    shutil.copy(
        next((tmp_path / "inbound" / "processed").glob("TA1-*.x12")),
        tmp_path / "inbound" / "again.x12",
    )
    results = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert any(r.duplicate for r in results)


def test_a_ta1_dropped_back_from_the_outbound_folder_is_read_not_answered(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    # CareLoop's own TA1 (for an interchange whose trailer did not pair with its header)
    # dropped into inbound/: an acknowledgment of an interchange CareLoop never sent.
    number = _case(database, clock)
    config = ClearinghouseConfig()
    _, request = _pending_answer(database, clock, number, config)
    good = _drop_response(
        tmp_path, request, action=Action.certified, certification_number="A1", message=None
    )
    (tmp_path / "inbound" / "278-answer.x12").write_text(
        good.replace("IEA*1*000000901", "IEA*1*000000902")
    )
    [rejected] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)
    assert rejected.acknowledgment is not None
    shutil.move(tmp_path / "outbound" / rejected.acknowledgment, tmp_path / "inbound")

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=config)

    assert "GS expected here" not in result.detail
    assert (result.transaction, result.status) == ("TA1", ExchangeStatus.ignored), result.detail
    assert "no interchange CareLoop sent" in result.detail
    assert result.acknowledgment is None
    assert list((tmp_path / "outbound").glob("999-*.x12")) == []
