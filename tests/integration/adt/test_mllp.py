"""The hospital's admission and discharge feed end to end: a real MLLP listener on a free
127.0.0.1 port, a real MLLP client (python-hl7's asyncio streams, or a plain socket with
the 0x0b ... 0x1c 0x0d framing), the real database (SQLite or PostgreSQL, see --db)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import socket
import unicodedata
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7.mllp import open_hl7_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.adt.listener import ListenerThread
from careloop.adt.models import AdtMessage
from careloop.core.actor import Actor, Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral import service
from careloop.referral.models import Referral, ReferralEvent
from careloop.referral.schemas import CancelIn
from careloop.sla.models import Clock, ClockKind, ClockStatus
from careloop.workqueue.models import WorkItem
from tests.factories.identity import make_user
from tests.factories.names import names
from tests.factories.referral import make_payer, referral_draft

ZONE = "America/New_York"
EXAMPLES = itertools.count()
HOSPITAL = "HARTFORD-GEN"


@pytest.fixture
def feed(database: Database, clock: FixedClock) -> Iterator[int]:
    listener = ListenerThread(database, clock=clock, zone=ZONE)
    port = listener.start()
    yield port
    listener.stop()


@pytest.fixture
def intake(session: Session, clock: FixedClock) -> Actor:
    make_payer(session, clock=clock)
    actor, _ = make_user(session, clock=clock, role=Role.intake_agent, name="Priya Shah")
    return actor


def submit(
    session: Session,
    actor: Actor,
    clock: FixedClock,
    *,
    first: str,
    last: str,
    born: date,
    mrn: str | None = None,
    n: int = 1,
    **overrides: Any,
) -> Referral:
    draft = referral_draft(
        clock.now(),
        external_id=f"ORD-{n}",
        member__first_name=first,
        member__last_name=last,
        member__birth_date=born.isoformat(),
        **(
            {"member__hospital_mrn": {"value": mrn, "assigning_authority": HOSPITAL}} if mrn else {}
        ),
        **overrides,
    )
    number = service.submit_referral(session, actor, draft, clock=clock).case_number
    session.flush()
    return session.scalars(select(Referral).where(Referral.case_number == number)).one()


def adt(
    event: str,
    control_id: str,
    *,
    family: str,
    given: str,
    born: date,
    mrn: str = "",
    pv1_45: str = "",
    pv2_9: str = "",
    structure: str | None = None,
    pid: bool = True,
    evn: bool = True,
) -> str:
    def esc(text: str) -> str:
        return (
            text.replace("\\", "\\E\\")
            .replace("|", "\\F\\")
            .replace("^", "\\S\\")
            .replace("&", "\\T\\")
            .replace("~", "\\R\\")
        )

    kind = structure or ("ADT_A03" if event == "A03" else "ADT_A01")
    segments = [
        f"MSH|^~\\&|EPIC|{HOSPITAL}|CARELOOP|CARELOOP|20260305120000||ADT^{event}^{kind}"
        f"|{control_id}|P|2.5.1|||||||UNICODE UTF-8",
    ]
    if evn:
        segments.append(f"EVN|{event}|20260305120000")
    if pid:
        ident = f"{mrn}^^^{HOSPITAL}^MR" if mrn else ""
        segments.append(f"PID|1||{ident}||{esc(family)}^{esc(given)}||{born:%Y%m%d}|F")
    segments.append("PV1|1|I|W^389^1" + "|" * 42 + pv1_45)
    if pv2_9:
        segments.append("PV2" + "|" * 9 + pv2_9)
    return "\r".join(segments)


def send(port: int, *messages: str) -> list[hl7.Message]:
    """A plain socket with the MLLP framing; each answer read before the next message."""
    answers = []
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        for message in messages:
            sock.sendall(b"\x0b" + message.encode("utf-8") + b"\x1c\x0d")
            buffer = b""
            while not buffer.endswith(b"\x1c\x0d"):
                chunk = sock.recv(65536)
                assert chunk, "the listener hung up"
                buffer += chunk
            assert buffer.startswith(b"\x0b")
            answers.append(hl7.parse(buffer[1:-2].decode("utf-8")))
    return answers


def send_with_hl7_client(port: int, message: str) -> hl7.Message:
    """python-hl7's own MLLP client, as an integration engine would use it."""

    async def exchange() -> hl7.Message:
        reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
        try:
            writer.writemessage(hl7.parse(message))
            await writer.drain()
            return await asyncio.wait_for(reader.readmessage(), 20)
        finally:
            writer.close()

    # In a thread of its own: an earlier test in the same worker may have left an event
    # loop running in this one, where asyncio.run refuses to start.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, exchange()).result()


def msa(answer: hl7.Message) -> tuple[str, str, str]:
    return (
        str(answer["MSA.F1"]),
        str(answer["MSA.F2"]),
        str(answer.unescape(str(answer["MSA.F3"]))),
    )


def timeline(session: Session, referral_id: int, type_: str) -> list[ReferralEvent]:
    stmt = select(ReferralEvent).where(
        ReferralEvent.referral_id == referral_id, ReferralEvent.type == type_
    )
    return list(session.scalars(stmt.order_by(ReferralEvent.id)))


def refreshed(session: Session, referral: Referral) -> Referral:
    stmt = (
        select(Referral).where(Referral.id == referral.id).execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestDischargeByRecordNumber:
    def test_discharge_moves_every_open_case_of_the_member_and_a_repeat_changes_nothing(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        born = date(1945, 1, 23)
        first = submit(session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1")
        second = submit(
            session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1", n=2
        )
        closed = submit(
            session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1", n=3
        )
        service.cancel_referral(
            session, intake, closed.case_number, CancelIn(reason="Sent twice"), clock=clock
        )
        session.flush()
        # Thursday 26 November 2026, 14:00 in Hartford (the hospital's own time zone).
        message = adt(
            "A03",
            "MSG-1",
            family="Hale",
            given="Dorothy",
            born=born,
            mrn="M1",
            pv1_45="202611261400",
        )

        answer, again = send(feed, message, message)

        code, control_id, text = msa(answer)
        assert (code, control_id) == ("AA", "MSG-1")
        assert "recorded on 2 open cases" in text
        assert msa(again) == msa(answer)
        discharge = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
        for sent in (first, second):
            case = refreshed(session, sent)
            assert case.discharge_at == discharge
            assert case.service_due_at <= discharge
            events = timeline(session, case.id, "referral.discharge_reported")
            assert len(events) == 1  # the repeat wrote nothing
            assert events[0].data["text"] == (
                "The hospital reported the discharge for 26 November, 14:00"
            )
            assert events[0].actor_label == "Hospital admission and discharge feed"
            watch = session.scalars(
                select(Clock).where(
                    Clock.referral_id == case.id,
                    Clock.kind == ClockKind.discharge,
                    Clock.status == ClockStatus.open,
                )
            ).one()
            assert watch.due_at == discharge - timedelta(hours=24)
        assert refreshed(session, closed).discharge_at is None
        assert count(session, AdtMessage) == 1


class TestMatchByNameAndBirthDate:
    @settings(
        max_examples=8,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(first=names, last=names, how=st.sampled_from(["upper", "lower", "NFD"]))
    def test_expected_discharge_finds_the_case_by_name_in_any_script(
        self,
        session: Session,
        clock: FixedClock,
        intake: Actor,
        feed: int,
        first: str,
        last: str,
        how: str,
    ) -> None:
        n = next(EXAMPLES)  # each example its own member (birth date) and control id
        born = date(1930, 1, 1) + timedelta(days=n)
        case = submit(session, intake, clock, first=first, last=last, born=born, n=n)

        def written(name: str) -> str:
            return unicodedata.normalize("NFD", name) if how == "NFD" else getattr(name, how)()

        # The hospital writes the names its own way; no record number is on the case.
        message = adt(
            "A01",
            f"ADM-{n}",
            family=written(last),
            given=written(first),
            born=born,
            mrn="NEW-7",
            pv2_9="20261127",
        )

        answer = send_with_hl7_client(feed, message)

        code, _, text = msa(answer)
        assert (code, text) == (
            "AA",
            "Accepted: the expected discharge is recorded on 1 open case.",
        )
        case = refreshed(session, case)
        assert case.discharge_at == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
        [event] = timeline(session, case.id, "referral.discharge_reported")
        assert event.data["text"] == "The hospital expects the discharge on 27 November"

    def test_an_update_moves_the_expected_discharge_again(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        born = date(1950, 6, 1)
        case = submit(session, intake, clock, first="Zoë", last="O'Neil", born=born)
        # The hospital's own number is not on the case: the name and birth date find it.
        first = adt(
            "A01",
            "A-1",
            family="ONeil",
            given="Zoe\u0308",
            born=born,
            mrn="H-5",
            pv2_9="202611271000-0500",
        )
        update = adt(
            "A08",
            "A-2",
            family="O'NEIL",
            given="ZOË",
            born=born,
            mrn="H-5",
            pv2_9="202611281000-0500",
        )

        answers = send(feed, first, update)

        assert [msa(a)[0] for a in answers] == ["AA", "AA"]
        case = refreshed(session, case)
        assert case.discharge_at == datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
        events = timeline(session, case.id, "referral.discharge_reported")
        assert [e.data["previous"] for e in events] == [None, "2026-11-27T15:00:00+00:00"]


class TestUncertainMatch:
    def test_a_weak_match_becomes_work_for_a_person_and_changes_no_case(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        born = date(1941, 3, 9)
        case = submit(session, intake, clock, first="Robert", last="Kline", born=born)
        other = submit(session, intake, clock, first="Ann", last="Marsh", born=born, mrn="K-9", n=2)
        nickname = adt(
            "A03", "W-1", family="Kline", given="Bob", born=born, mrn="K-1", pv1_45="202611261400"
        )
        # The record number is Ann Marsh's, but the birth date is not hers.
        wrong_birth = adt(
            "A03",
            "W-2",
            family="Marsh",
            given="Ann",
            born=date(1941, 3, 10),
            mrn="K-9",
            pv1_45="202611261400",
        )

        answers = send(feed, nickname, wrong_birth)

        for answer in answers:
            code, _, text = msa(answer)
            assert code == "AA"
            assert "a coordinator will check it" in text
        for c in (case, other):
            assert refreshed(session, c).discharge_at is None
            assert timeline(session, c.id, "referral.discharge_reported") == []
        items = session.scalars(
            select(WorkItem).where(WorkItem.subject.like("adt:%")).order_by(WorkItem.id)
        ).all()
        assert [i.referral_id for i in items] == [case.id, other.id]
        assert all(i.closed_at is None and i.team == "intake" for i in items)
        assert "one of the names" in items[0].title
        assert "birth date or sex differs" in items[1].title


class TestRefused:
    @pytest.mark.parametrize(
        ("changes", "code", "words", "where"),
        [
            ({"event": "A04"}, "AR", "Unknown message type ADT A04", "MSH^1^9"),
            ({"pid": False}, "AE", "no PID segment", "PID^1"),
            (
                {"pv1_45": "20261340"},
                "AE",
                "PV1-45 (discharge date and time) is not a valid",
                "PV1^1^45",
            ),
            ({"evn": False}, "AE", "the EVN segment is required and is missing", "EVN^1"),
            ({"mrn": ""}, "AE", "PID-3 is required and is empty", "PID^1^3"),
            (
                {"mrn": "NOBODY", "family": "Nobody", "given": "Nemo"},
                "AE",
                "No matching case",
                "PID^1^3",
            ),
        ],
    )
    def test_a_refused_message_gets_a_nak_that_says_why_and_writes_nothing(
        self,
        session: Session,
        clock: FixedClock,
        intake: Actor,
        feed: int,
        changes: dict[str, Any],
        code: str,
        words: str,
        where: str,
    ) -> None:
        born = date(1945, 1, 23)
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1")
        fields: dict[str, Any] = {
            "event": "A03",
            "family": "Hale",
            "given": "Dorothy",
            "born": born,
            "mrn": "M1",
            "pv1_45": "202611261400",
            **changes,
        }
        event = fields.pop("event")
        before = (count(session, ReferralEvent), count(session, WorkItem))

        [answer] = send(feed, adt(event, "BAD-1", **fields))

        got_code, control_id, text = msa(answer)
        assert (got_code, control_id) == (code, "BAD-1")
        assert words in text
        assert str(answer.segment("ERR")[2]) == where
        assert answer.unescape(str(answer["ERR.F8"])) == text
        assert refreshed(session, case).discharge_at is None
        assert (count(session, ReferralEvent), count(session, WorkItem)) == before
        assert count(session, AdtMessage) == 0

    @pytest.mark.parametrize("version", ["2.3", ""])
    def test_a_three_part_message_type_in_an_older_version_or_no_version_is_applied(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int, version: str
    ) -> None:
        # 2.3 names no structure in MSH-9, yet feeds send ADT^A03^ADT_A03; an empty
        # MSH-12 is checked as 2.5.1, as a version hl7apy does not know is.
        born = date(1945, 1, 23)
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1")
        message = adt(
            "A03", "OLD-1", family="Hale", given="Dorothy", born=born, mrn="M1",
            pv1_45="202611261400",
        ).replace("|P|2.5.1|", f"|P|{version}|")  # fmt: skip

        [answer] = send(feed, message)

        assert msa(answer)[:2] == ("AA", "OLD-1"), msa(answer)[2]
        assert refreshed(session, case).discharge_at == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)

    def test_a_field_past_the_last_one_its_version_defines_is_not_a_reason_to_refuse(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        # adt() sends MSH-19 (UNICODE UTF-8); 2.2's MSH ends at MSH-17.
        born = date(1945, 1, 23)
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="M1")
        message = adt(
            "A03", "V22-1", family="Hale", given="Dorothy", born=born, mrn="M1",
            pv1_45="202611261400",
        ).replace("|P|2.5.1|", "|P|2.2|")  # fmt: skip

        [answer] = send(feed, message)

        assert msa(answer)[:2] == ("AA", "V22-1"), msa(answer)[2]
        assert str(answer.segment("MSH")[12]) == "2.2"
        assert refreshed(session, case).discharge_at == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)

    def test_a_2_1_discharge_finds_the_case_by_the_senders_own_patient_id(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        # 2.1's PID-3 is a number with its check digit and no assigning authority: the
        # sending facility (MSH-4) numbers it.
        born = date(1945, 1, 23)
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=born, mrn="120045")
        message = (
            adt(
                "A03", "V21-1", family="Hale", given="Dorothy", born=born, mrn="120045",
                pv1_45="202611261400",
            )
            .replace("|P|2.5.1|", "|P|2.1|")
            .replace(f"120045^^^{HOSPITAL}^MR", "120045^0^M10")
        )  # fmt: skip

        [answer] = send(feed, message)

        assert msa(answer)[:2] == ("AA", "V21-1"), msa(answer)[2]
        assert refreshed(session, case).discharge_at == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)

    def test_bytes_that_are_not_mllp_get_a_nak(self, feed: int) -> None:
        with socket.create_connection(("127.0.0.1", feed), timeout=20) as sock:
            sock.sendall(b"MSH|^~\\&|no start block\x1c\x0d")
            reply = sock.recv(65536)
        answer = hl7.parse(reply[1:-2].decode())
        assert str(answer["MSA.F1"]) == "AR"


def test_a_failure_of_ours_is_a_nak_that_asks_for_the_message_again(
    tmp_path: Path, clock: FixedClock
) -> None:
    """A database without the schema: the message cannot be applied, the hospital is told
    to send it again (AE), and the listener goes on answering."""
    broken = Database.from_url(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    listener = ListenerThread(broken, clock=clock, zone=ZONE)
    port = listener.start()
    try:
        message = adt(
            "A03",
            "ERR-1",
            family="Hale",
            given="Dorothy",
            born=date(1945, 1, 23),
            mrn="M1",
            pv1_45="202611261400",
        )
        answers = send(port, message, message)
    finally:
        listener.stop()
        broken.engine.dispose()
    for answer in answers:
        code, _, text = msa(answer)
        assert code == "AE"
        assert "error on our side; send it again" in text
