"""Payers' files as a clearinghouse really drops them, against a real database and real
folders: TA1 segments ahead of the answer's group, an answer from a payer the request
never went to, a 278 the payer refused unreviewed (AAA), and bytes that are not ASCII,
through the folder and over HTTP. Each is applied whole or refused whole."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from careloop.clearinghouse import service, simulator, tasks, x270, x278
from careloop.clearinghouse.envelope import Party, read_interchange
from careloop.clearinghouse.exchange import FolderExchange, HttpExchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.rules import Action, ClearinghouseConfig, ExchangeStatus
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.eligibility.models import EligibilityCheck
from careloop.portal.presenters import event_words
from careloop.prior_auth import service as prior_auth
from careloop.prior_auth.rules import AuthorizationStatus
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import ReferralEvent
from tests.integration.clearinghouse.test_exchange import (
    ACTOR,
    _case,
    _case_row,
    _drop_response,
    _pending_answer,
)

CONFIG = ClearinghouseConfig()


def _approval(folder: Path, request: x278.ReviewRequest) -> str:
    start = request.services[0].start
    return _drop_response(
        folder,
        request,
        action=Action.certified,
        certification_number="AUTH77",
        message=None,
        valid_from=start,
        valid_to=start + timedelta(days=89),
    )


def _drop(folder: Path, text: str, name: str = "278-answer.x12") -> None:
    (folder / "inbound" / name).write_bytes(text.encode("latin-1"))


def _auth_status(database: Database, clock: FixedClock, number: str) -> AuthorizationStatus:
    with database.unit_of_work() as s:
        [auth] = prior_auth.list_authorizations(s, ACTOR, number, clock=clock).items
        return auth.status


def test_ta1_segments_ahead_of_an_answer_are_applied_with_it_once(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    with database.unit_of_work() as s:
        inquiry = service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=CONFIG)
    _, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    answer = _approval(tmp_path, request)
    # X12.6: the payer's TA1 on CareLoop's 270 interchange rides ahead of its 278 group.
    ta1 = f"TA1*{inquiry.control_number}*261124*1400*R*024~\n"
    _drop(tmp_path, answer.replace("~\nGS*", f"~\n{ta1}GS*", 1))

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert (result.transaction, result.status) == ("278", ExchangeStatus.applied), result.detail
    assert "the interchange's content is invalid" in result.detail
    assert result.acknowledgment is None
    assert _auth_status(database, clock, number) is AuthorizationStatus.approved
    with database.unit_of_work() as s:
        sent = s.get(X12Exchange, inquiry.exchange_id)
        assert sent is not None and sent.status is ExchangeStatus.rejected
        assert sent.error and "note 024" in sent.error
        rows = len(s.scalars(select(X12Exchange)).all())

    # The same file dropped again changes nothing.
    again = next((tmp_path / "inbound" / "processed").glob("*.x12"))
    (tmp_path / "inbound" / "again.x12").write_bytes(again.read_bytes())
    [dup] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    assert dup.duplicate
    with database.unit_of_work() as s:
        assert len(s.scalars(select(X12Exchange)).all()) == rows


def test_a_refused_group_takes_the_ta1s_ahead_of_it_back_and_is_answered_by_a_999(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    with database.unit_of_work() as s:
        inquiry = service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=CONFIG)
    _, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    answer = _approval(tmp_path, request).replace("HCR*A1*", "HCR*ZZ*", 1)
    ta1 = f"TA1*{inquiry.control_number}*261124*1400*R*024~\n"
    _drop(tmp_path, answer.replace("~\nGS*", f"~\n{ta1}GS*", 1))

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert result.status is ExchangeStatus.rejected
    assert "HCR01 'ZZ' is not a review action" in result.detail
    assert result.acknowledgment is not None and result.acknowledgment.startswith("999-")
    assert "IK3*HCR*" in (tmp_path / "outbound" / result.acknowledgment).read_text()
    assert _auth_status(database, clock, number) is AuthorizationStatus.requested
    with database.unit_of_work() as s:
        sent = s.get(X12Exchange, inquiry.exchange_id)
        assert sent is not None and sent.status is ExchangeStatus.sent


def test_an_answer_from_a_payer_the_request_never_went_to_changes_nothing(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    _, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    answer = _approval(tmp_path, request)
    foreign = answer.replace("*ZZ*NEHP           *", "*ZZ*OTHERPAY       *", 1)
    _drop(tmp_path, foreign.replace("GS*HI*NEHP*", "GS*HI*OTHERPAY*", 1))

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert (result.status, result.case_number) == (ExchangeStatus.ignored, None)
    assert "no request CareLoop sent to OTHERPAY" in result.detail
    assert _auth_status(database, clock, number) is AuthorizationStatus.requested

    # The payer it went to answers it.
    _drop(tmp_path, answer)
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    assert result.status is ExchangeStatus.applied
    assert _auth_status(database, clock, number) is AuthorizationStatus.approved


def test_a_278_the_payer_refused_unreviewed_tells_the_case_what_to_correct(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    sent, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    # AAA*N**75*C in 2010C: subscriber not found; X217 returns no loop below it.
    refused = _drop_response(
        tmp_path,
        request,
        action=None,
        message=None,
        rejections=(x278.Rejection("22", "75", "C"),),
    )
    assert "AAA*N**75*C~" in refused and "HL*4*" not in refused

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert (result.transaction, result.status) == ("278", ExchangeStatus.applied), result.detail
    assert result.case_number == number
    assert result.acknowledgment is None
    assert list((tmp_path / "outbound").glob("999-*.x12")) == []
    assert _auth_status(database, clock, number) is AuthorizationStatus.requested
    with database.unit_of_work() as s:
        row = s.get(X12Exchange, sent.exchange_id)
        assert row is not None and row.status is ExchangeStatus.rejected
        assert row.error == (
            "the payer refused the request without reviewing it: "
            "the payer has no such subscriber (about the member, code 75)"
        )
        case = _case_row(s, number)
        [said] = s.scalars(
            select(ReferralEvent).where(
                ReferralEvent.referral_id == case.id,
                ReferralEvent.type == "x12.review_request_refused",
            )
        ).all()
        sentence, _ = event_words(said.type, said.data, "America/New_York")
    assert sentence == (
        "New England Health Plan sent the prior authorisation request back unreviewed: "
        "the payer has no such "
        "subscriber (about the member, code 75). Correct it and send it again"
    )


def test_a_byte_that_is_not_ascii_rejects_the_answer_with_a_999_naming_the_element(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    _, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    answer = _approval(tmp_path, request)
    _drop(tmp_path, answer.replace("NM1*IL*1*HALE*", "NM1*IL*1*HAL\xc9*", 1))

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert result.status is ExchangeStatus.rejected
    assert result.detail == (
        "segment NM1 at position 10, element 3: a byte that is not ASCII in NM103: "
        "X12 carries printable ASCII characters only"
    )
    assert result.acknowledgment is not None
    assert (
        "~\nIK3*NM1*8**8~\nIK4*3**6~\n"
        in (tmp_path / "outbound" / result.acknowledgment).read_text()
    )
    assert _auth_status(database, clock, number) is AuthorizationStatus.requested


@pytest.fixture
def payer_writing_latin1(database: Database, clock: FixedClock) -> Iterator[str]:
    """A real-time payer on 127.0.0.1 whose 271 carries a Latin-1 byte in a name."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            text = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
            with database.unit_of_work() as s:
                reply = simulator.answer(s, text, clock=clock, config=CONFIG)
            answer = reply[1] if reply else ""  # a 999 back from CareLoop: no answer
            body = answer.replace("*HALE*", "*HAL\xc9*", 1).encode("latin-1")
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


def test_a_real_time_answer_with_a_byte_that_is_not_ascii_is_rejected_not_resent(
    database: Database, clock: FixedClock, payer_writing_latin1: str
) -> None:
    number = _case(database, clock, prior_auth="")
    with database.unit_of_work() as s:
        inquiry = service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=CONFIG)
    exchange = HttpExchange(payer_writing_latin1)

    results = tasks.exchange_once(database, exchange, clock=clock, config=CONFIG)

    assert [(r.transaction, r.status) for r in results] == [("271", ExchangeStatus.rejected)]
    assert "a byte that is not ASCII" in results[0].detail
    with database.unit_of_work() as s:
        row = s.get(X12Exchange, inquiry.exchange_id)
        assert row is not None and row.status is ExchangeStatus.sent  # handed over once
    assert tasks.exchange_once(database, exchange, clock=clock, config=CONFIG) == []


def test_a_control_number_reused_for_another_file_is_a_ta1_025_and_changes_nothing(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock)
    _, request = _pending_answer(database, clock, number, CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    answer = _approval(tmp_path, request)
    [first] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    assert first.status is ExchangeStatus.applied

    # The same interchange again, line ends changed on the way: the duplicate it is.
    _drop(tmp_path, answer.replace("~\n", "~\r\n"), "again.x12")
    [again] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    assert (again.duplicate, again.acknowledgment) == (True, None)

    # Another interchange under the same ISA13 (a denial): refused with TA1 025.
    denial = answer.replace("HCR*A1*AUTH77~", "HCR*A3**50~")
    for _ in range(2):  # dropped twice: answered once
        _drop(tmp_path, denial, "denial.x12")
        [reused] = tasks.exchange_once(
            database, FolderExchange(tmp_path), clock=clock, config=CONFIG
        )
        assert reused.status is ExchangeStatus.rejected
        assert "ISA13 000000901 already numbered another interchange from NEHP" in reused.detail
    ta1s = list((tmp_path / "outbound").glob("TA1-*.x12"))
    assert len(ta1s) == 1
    assert "*R*025~" in ta1s[0].read_text()
    assert _auth_status(database, clock, number) is AuthorizationStatus.approved


def test_a_file_over_the_size_limit_is_refused_unread_and_named_by_its_size(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    limit = 64 * 1024
    config = ClearinghouseConfig(max_file_bytes=limit)
    number = _case(database, clock)
    _, request = _pending_answer(database, clock, number, config)
    exchange = FolderExchange(tmp_path, max_bytes=limit)
    tasks.exchange_once(database, exchange, clock=clock, config=config)
    answer = _approval(tmp_path, request)
    padding = "MSG*" + "A" * 250 + "~\n"
    huge = answer.replace("DTP*007*", padding * 400 + "DTP*007*", 1)
    _drop(tmp_path, huge)
    size = len(huge.encode())

    for _ in range(2):  # dropped twice: refused once, the second time a duplicate
        [result] = tasks.exchange_once(database, exchange, clock=clock, config=config)
        assert result.status is ExchangeStatus.rejected
        assert result.detail == (
            f"the file is {size:,} bytes; CareLoop reads files up to 65,536 bytes "
            "(CARELOOP_CLEARINGHOUSE_MAX_FILE_BYTES): ask the sender to split it"
        )
        assert result.acknowledgment is None
        assert (tmp_path / "inbound" / "rejected" / "278-answer.x12").exists()
        (tmp_path / "inbound" / "rejected" / "278-answer.x12").rename(
            tmp_path / "inbound" / "278-answer.x12"
        )
    assert [p.name[:3] for p in (tmp_path / "outbound").glob("*.x12")] == ["278"]
    assert _auth_status(database, clock, number) is AuthorizationStatus.requested
    with database.unit_of_work() as s:
        [row] = s.scalars(
            select(X12Exchange).where(X12Exchange.status == ExchangeStatus.rejected)
        ).all()
        assert (row.partner, row.control_number) == ("NEHP", "000000901")
        assert len(row.payload) <= 4096


def _inquiry_answered(
    database: Database, clock: FixedClock, tmp_path: Path, number: str, reject: str
) -> tuple[int, str]:
    """The case's 270 delivered, and the payer's 271 refusing it with AAA03 ``reject``
    in the subscriber's loop (its text)."""
    with database.unit_of_work() as s:
        sent = service.send_eligibility_inquiry(s, ACTOR, number, clock=clock, config=CONFIG)
    tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    text = (tmp_path / "outbound" / sent.file_name).read_text()
    inquiry = x270.read_inquiry(text, read_interchange(text))
    answer = x270.Answer(inquiry.trace, "NEHP", inquiry.member_id, (reject,), ())
    reply = x270.answer_text(
        answer,
        inquiry,
        sender=Party("ZZ", "NEHP"),
        receiver=Party("ZZ", "CARELOOP"),
        control_number=700,
        created=clock.now(),
    )
    return sent.exchange_id, reply


def _payer_level(reply: str) -> str:
    """The same 271 refused at the payer's loop (2100A), with no loop below it."""
    body = reply[: reply.index("HL*2*")] + "AAA*Y**42*R~\n"
    count = body[body.index("ST*") :].count("~") + 1
    return body + f"SE*{count}*0001~\n" + reply[reply.index("GE*") :]


@pytest.mark.parametrize("where", ["subscriber", "payer"])
def test_a_271_saying_the_payer_cannot_answer_now_leaves_eligibility_unverified(
    database: Database, clock: FixedClock, tmp_path: Path, where: str
) -> None:
    # AAA 42 'unable to respond at current time' is no finding about the member: the
    # case must not read 'not found'.
    number = _case(database, clock, prior_auth="")
    sent_id, reply = _inquiry_answered(database, clock, tmp_path, number, "42")
    if where == "payer":
        reply = _payer_level(reply)
        assert "HL*3*" not in reply and "TRN*" not in reply
    _drop(tmp_path, reply, "271-answer.x12")

    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)

    assert (result.transaction, result.status) == ("271", ExchangeStatus.applied), result.detail
    assert result.case_number == number
    about = "the payer" if where == "payer" else "the member"
    reason = f"the payer cannot answer at the moment; send it again later (about {about}, code 42)"
    assert result.detail == f"the payer refused the inquiry without answering it: {reason}"
    assert result.acknowledgment is None
    with database.unit_of_work() as s:
        case = _case_row(s, number)
        assert case.status is ReferralStatus.acknowledged
        assert s.scalars(select(EligibilityCheck)).all() == []
        row = s.get(X12Exchange, sent_id)
        assert row is not None and row.status is ExchangeStatus.rejected
        [said] = s.scalars(
            select(ReferralEvent).where(
                ReferralEvent.referral_id == case.id,
                ReferralEvent.type == "x12.eligibility_inquiry_refused",
            )
        ).all()
        sentence, _ = event_words(said.type, said.data, "America/New_York")
    assert sentence == (
        "New England Health Plan did not answer whether the member's coverage is active: "
        f"{reason}. "
        "Verify eligibility another way, or ask again"
    )


def test_a_271_saying_the_payer_has_no_such_member_still_reads_not_found(
    database: Database, clock: FixedClock, tmp_path: Path
) -> None:
    number = _case(database, clock, prior_auth="")
    _, reply = _inquiry_answered(database, clock, tmp_path, number, "75")
    _drop(tmp_path, reply, "271-answer.x12")
    [result] = tasks.exchange_once(database, FolderExchange(tmp_path), clock=clock, config=CONFIG)
    assert (result.status, result.detail) == (ExchangeStatus.applied, "eligibility not found")
