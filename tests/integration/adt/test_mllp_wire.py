"""The feed as an interface engine meets it on the wire: a real MLLP listener on a free
127.0.0.1 port, plain sockets that frame (or fail to frame) messages, the real database.

Each answer is read back at the message's own HL7 version; the listener answers every
message, closes on a client that is silent or slow, and stays up for the next one.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta

import hl7
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from careloop.adt.listener import Limits, ListenerThread
from careloop.adt.models import AdtMessage
from careloop.core.actor import Actor
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.referral.models import ReferralEvent
from tests.factories.names import names
from tests.integration.adt.test_mllp import (
    HOSPITAL,
    ZONE,
    adt,
    count,
    feed,
    intake,
    msa,
    refreshed,
    send,
    submit,
)

__all__ = ["feed", "intake"]  # fixtures, used by name

BORN = date(1945, 1, 23)
FRAME = b"\x0b%s\x1c\x0d"


def discharge(control_id: str, *, mrn: str = "M1", version: str = "2.5.1") -> str:
    message = adt(
        "A03", control_id, family="Hale", given="Dorothy", born=BORN, mrn=mrn,
        pv1_45="202611261400",
    )  # fmt: skip
    if version != "2.5.1":
        message = message.replace("|P|2.5.1|", f"|P|{version}|")
    if version in ("2.1", "2.2", "2.3"):
        message = message.replace("ADT^A03^ADT_A03", "ADT^A03")
    return message


def answers_on(sock: socket.socket, n: int) -> list[hl7.Message]:
    """The next ``n`` framed answers on ``sock``."""
    buffer, got = b"", []
    while len(got) < n:
        chunk = sock.recv(65536)
        assert chunk, "the listener hung up"
        buffer += chunk
        while b"\x1c\x0d" in buffer:
            block, _, buffer = buffer.partition(b"\x1c\x0d")
            assert block.startswith(b"\x0b")
            got.append(hl7.parse(block[1:].decode("utf-8")))
    return got


def closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the listener closes ``sock`` within ``seconds``, and what it sent first."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


@pytest.fixture
def quick_feed(database: Database, clock: FixedClock) -> Iterator[int]:
    """A listener that gives up on silent or slow clients within a second, and serves
    three connections at once."""
    limits = Limits(first_byte=0.5, idle=0.5, frame=0.5, write=1.0, connections=3)
    listener = ListenerThread(database, clock=clock, zone=ZONE, limits=limits)
    port = listener.start()
    yield port
    listener.stop()


class TestCheckDigitAndErrorLocation:
    @pytest.mark.parametrize(
        ("version", "pid_3", "err"),
        [
            ("2.1", "120045^3^M10", ("1", "PID^1^3^102&Data type error&HL70357")),
            ("2.3", f"120045^3^M10^{HOSPITAL}^MR", ("1", "PID^1^3^102&Data type error&HL70357")),
            ("2.5.1", f"120045^3^M10^{HOSPITAL}^MR", ("2", "PID^1^3^1^2")),
        ],
    )
    def test_a_check_digit_that_disagrees_is_refused_and_located_as_the_version_locates(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int, version: str,
        pid_3: str, err: tuple[str, str],
    ) -> None:  # fmt: skip
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="120045")
        message = discharge("CK-1", mrn="120045", version=version)
        message = message.replace(f"120045^^^{HOSPITAL}^MR", pid_3)

        [answer] = send(feed, message, message.replace("120045^3^", "120045^0^"))[:1]

        code, control_id, text = msa(answer)
        assert (code, control_id) == ("AE", "CK-1")
        assert "check digit does not agree" in text
        field, location = err
        assert str(answer.segment("ERR")[int(field)]) == location
        assert refreshed(session, case).discharge_at is not None  # the corrected one

    def test_the_corrected_message_is_applied_the_wrong_one_wrote_nothing(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="120045")
        wrong = discharge("CK-2", mrn="120045").replace(
            f"120045^^^{HOSPITAL}^MR", f"120045^3^M10^{HOSPITAL}^MR"
        )
        events = count(session, ReferralEvent)

        [answer] = send(feed, wrong)

        assert msa(answer)[0] == "AE"
        assert refreshed(session, case).discharge_at is None
        assert (count(session, ReferralEvent), count(session, AdtMessage)) == (events, 0)

    @pytest.mark.parametrize(
        ("version", "field", "location"),
        [
            ("2.3", 1, "PID^1^1^102&Data type error&HL70357"),
            ("2.5.1", 2, "PID^1^1"),
        ],
    )
    def test_a_field_not_of_its_type_is_named_not_msh_9(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int, version: str,
        field: int, location: str,
    ) -> None:  # fmt: skip
        submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
        message = discharge("DT-1", version=version).replace("PID|1|", "PID|X|")

        [answer] = send(feed, message)

        code, _, text = msa(answer)
        assert code == "AE"
        assert "PID-1 is not a valid sequence number" in text
        assert str(answer.segment("ERR")[field]) == location
        assert count(session, AdtMessage) == 0


class TestFraming:
    def test_two_messages_in_one_write_and_one_split_across_writes_are_each_answered(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
        first, second, third = (discharge(f"F-{n}").encode() for n in (1, 2, 3))
        with socket.create_connection(("127.0.0.1", feed), timeout=20) as sock:
            sock.sendall(FRAME % first + FRAME % second)
            framed = FRAME % third
            for piece in (framed[:1], framed[1:40], framed[40:-1], framed[-1:]):
                sock.sendall(piece)
                time.sleep(0.05)
            answers = answers_on(sock, 3)
        assert [msa(a)[:2] for a in answers] == [("AA", "F-1"), ("AA", "F-2"), ("AA", "F-3")]

    def test_a_client_that_sends_nothing_is_closed_and_others_are_answered_meanwhile(
        self, session: Session, clock: FixedClock, intake: Actor, quick_feed: int
    ) -> None:
        submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
        with socket.create_connection(("127.0.0.1", quick_feed), timeout=20) as silent:
            [answer] = send(quick_feed, discharge("Q-1"))
            assert msa(answer)[:2] == ("AA", "Q-1")
            closed, sent = closed_within(silent, 5)
        assert closed and sent == b""

    def test_a_message_without_its_end_block_is_refused_once_it_is_late(
        self, quick_feed: int
    ) -> None:
        with socket.create_connection(("127.0.0.1", quick_feed), timeout=20) as sock:
            sock.sendall(b"\x0b" + discharge("E-1").encode())  # no 0x1c 0x0d
            closed, sent = closed_within(sock, 5)
        assert closed
        answer = hl7.parse(sent[1:-2].decode())
        assert msa(answer)[0] == "AR"
        assert "did not arrive whole" in msa(answer)[2]
        [again] = send(quick_feed, discharge("E-2"))  # still listening
        assert msa(again)[1] == "E-2"

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(garbage=st.binary(min_size=1, max_size=3000), framed=st.booleans())
    def test_binary_garbage_gets_a_nak_and_the_listener_stays_up(
        self, feed: int, garbage: bytes, framed: bool
    ) -> None:
        data = FRAME % garbage.replace(b"\x1c\x0d", b"") if framed else garbage
        with socket.create_connection(("127.0.0.1", feed), timeout=20) as sock:
            sock.sendall(data + (b"" if framed else b"\x1c\x0d"))
            sock.shutdown(socket.SHUT_WR)
            _, sent = closed_within(sock, 10)
        if sent:  # nothing when the garbage is an unfinished frame the client gave up on
            assert msa(hl7.parse(sent[1:].split(b"\x1c\x0d")[0].decode()))[0] in ("AR", "AE")
        [answer] = send(feed, discharge("G-1"))
        assert msa(answer)[1] == "G-1"

    def test_a_ten_megabyte_message_is_refused_and_the_listener_stays_up(self, feed: int) -> None:
        huge = discharge("BIG-1").replace("Hale^", "H" * 10_000_000 + "^").encode()
        with socket.create_connection(("127.0.0.1", feed), timeout=20) as sock:
            # The listener may stop reading and hang up before the last byte: it has
            # seen enough.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(FRAME % huge)
            closed, sent = closed_within(sock, 10)
        assert closed
        if sent:
            assert msa(hl7.parse(sent[1:-2].decode()))[0] == "AR"
        [answer] = send(feed, discharge("BIG-2"))
        assert msa(answer)[1] == "BIG-2"

    def test_many_clients_at_once_are_each_answered_with_their_own_control_id(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int
    ) -> None:
        submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
        results: dict[str, tuple[str, str, str]] = {}

        def client(n: int) -> None:
            [answer] = send(feed, discharge(f"MANY-{n}"))
            results[f"MANY-{n}"] = msa(answer)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(results) == sorted(f"MANY-{n}" for n in range(24))
        assert all(code == "AA" and results[cid][1] == cid for cid, (code, _, _) in results.items())
        assert count(session, AdtMessage) == 24

    def test_one_connection_more_than_the_listener_serves_is_closed_at_once(
        self, quick_feed: int
    ) -> None:
        held = [socket.create_connection(("127.0.0.1", quick_feed), timeout=20) for _ in range(3)]
        try:
            time.sleep(0.1)
            with socket.create_connection(("127.0.0.1", quick_feed), timeout=20) as extra:
                closed, _ = closed_within(extra, 0.4)  # before the silent ones time out
            assert closed
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        [answer] = send(quick_feed, discharge("AFTER-1"))
        assert msa(answer)[1] == "AFTER-1"


NAMES_SEEN = itertools.count()


class TestNamesWithDelimiters:
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        first=names,
        last=st.tuples(names, st.sampled_from(["|", "^", "&", "~", "\\"]), names).map("".join),
    )
    @example(first="Анна", last="Дом\\F\\ик")
    @example(first="Zoë", last="O^Neil&Co~\\x")
    def test_a_name_written_with_hl7_escapes_finds_its_case(
        self, session: Session, clock: FixedClock, intake: Actor, feed: int, first: str, last: str
    ) -> None:
        n = next(NAMES_SEEN)
        born = date(1920, 1, 1) + timedelta(days=n)
        case = submit(session, intake, clock, first=first, last=last, born=born, n=1000 + n)
        # The hospital's own number is not on the case: the escaped name must read back.
        message = adt(
            "A01", f"ESC-{n}", family=last, given=first, born=born, mrn="NEW-1",
            pv2_9="20261127",
        )  # fmt: skip

        [answer] = send(feed, message)

        assert msa(answer)[:2] == ("AA", f"ESC-{n}"), msa(answer)[2]
        assert refreshed(session, case).discharge_at is not None


class TestAnotherHospitalsMessages:
    def test_a_feed_set_up_for_one_hospital_refuses_another_hospitals_messages(
        self, session: Session, clock: FixedClock, intake: Actor, database: Database
    ) -> None:
        case = submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
        listener = ListenerThread(
            database, clock=clock, zone=ZONE, facilities=frozenset({HOSPITAL})
        )
        port = listener.start()
        try:
            # St Mary's sends a message with Hartford's own record number on it.
            theirs = discharge("SM-1").replace(f"|EPIC|{HOSPITAL}|", "|EPIC|ST-MARYS|", 1)
            [refused] = send(port, theirs)
            assert refreshed(session, case).discharge_at is None
            [applied] = send(port, discharge("HG-1"))
        finally:
            listener.stop()

        code, control_id, text = msa(refused)
        assert (code, control_id) == ("AR", "SM-1")
        assert "sending facility in MSH-4" in text
        assert str(refused.segment("ERR")[2]) == "MSH^1^4"
        assert msa(applied)[:2] == ("AA", "HG-1")
        assert count(session, AdtMessage) == 1


def test_a_line_break_after_the_end_block_does_not_end_the_conversation(
    session: Session, clock: FixedClock, intake: Actor, feed: int
) -> None:
    # Some engines end a frame with 0x1c 0x0d 0x0a.
    submit(session, intake, clock, first="Dorothy", last="Hale", born=BORN, mrn="M1")
    with socket.create_connection(("127.0.0.1", feed), timeout=20) as sock:
        sock.sendall(FRAME % discharge("LF-1").encode() + b"\n")
        sock.sendall(FRAME % discharge("LF-2").encode() + b"\r\n")
        answers = answers_on(sock, 2)
    assert [msa(a)[:2] for a in answers] == [("AA", "LF-1"), ("AA", "LF-2")]
