"""The feed as an interface engine meets it on the wire: a real MLLP listener on a free
127.0.0.1 port, plain sockets that frame (or fail to frame) messages, the real database.

Each answer is read back at the message's own HL7 version; the listener answers every
message, closes on a client that is silent or slow, and stays up for the next one.
"""

from __future__ import annotations

import socket
from datetime import date

import hl7
import pytest
from sqlalchemy.orm import Session

from careloop.adt.models import AdtMessage
from careloop.core.actor import Actor
from careloop.core.clock import FixedClock
from careloop.referral.models import ReferralEvent
from tests.integration.adt.test_mllp import (
    HOSPITAL,
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
