"""The feed's answer as each HL7 version writes it, where a broken rule is, and the
check digits HL7 gives an algorithm for (pure; hl7apy reads our answers back)."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message, parse_segment
from hypothesis import given
from hypothesis import strategies as st

from careloop.adt import rules, structure
from careloop.adt.answer import AckCode, Header, Location, ack
from careloop.adt.checkdigit import mod10, mod11
from careloop.adt.errors import Refused

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
VERSIONS = sorted(structure.KNOWN_VERSIONS, key=lambda v: tuple(int(p) for p in v.split(".")))

A03 = "\r".join(
    [
        "MSH|^~\\&|EPIC|GEN|CARELOOP|CARELOOP|20260305120000||ADT^A03^ADT_A03|C-1|P|2.5.1",
        "EVN|A03|20260305120000",
        "PID|1||M1^^^GEN^MR~X9^^^OTHER^MR||Hale^Dorothy||19450123|F",
        "PV1|1|I" + "|" * 43 + "202611261400",
    ]
)


def refused(text: str) -> Refused:
    parsed = rules.parse(text)
    header = rules.read_header(parsed)
    with pytest.raises(Refused) as caught:
        rules.read_message(parsed, header, zone="UTC")
        structure.check_structure(text, header)
    return caught.value


class TestCheckDigit:
    def test_the_worked_examples_of_the_standard(self) -> None:
        # HL7 v2 chapter 2, CK/CX: Mod10 of 12345 is 5, of 401 0, of 9999 4, of
        # 99999999 8; Mod11 of 1234567 is 4.
        assert [mod10(n) for n in ("12345", "401", "9999", "99999999")] == [5, 0, 4, 8]
        assert mod11("1234567") == 4

    @given(
        number=st.text(st.sampled_from("0123456789"), min_size=4, max_size=12),
        scheme=st.sampled_from(["M10", "M11"]),
        version=st.sampled_from(["2.1", "2.2", "2.3", "2.3.1", "2.5.1", "2.8"]),
        wrong=st.integers(1, 9),
    )
    def test_a_declared_scheme_is_verified_in_every_version(
        self, number: str, scheme: str, version: str, wrong: int
    ) -> None:
        right = (mod10 if scheme == "M10" else mod11)(number)
        pid_3 = f"{number}^{{}}^{scheme}" + ("" if version == "2.1" else "^GEN^MR")
        text = A03.replace("|P|2.5.1", f"|P|{version}").replace("M1^^^GEN^MR~X9^^^OTHER^MR", pid_3)
        good = text.replace("{}", str(right))
        parsed = rules.parse(good)
        message = rules.read_message(parsed, rules.read_header(parsed), zone="UTC")
        assert message.patient.identifiers == ((number, "GEN"),)

        bad = refused(text.replace("{}", str((right + wrong) % 10)))
        assert bad.code is AckCode.error
        assert (bad.location, bad.hl7_error) == (Location("PID", 3, 1, 1, 2), "102")
        assert "check digit does not agree" in bad.text
        assert number not in bad.text  # the number is the patient's: never quoted

    @pytest.mark.parametrize(
        "pid_3, words",
        [
            ("M1^^^GEN^MR~120045^3^M10^GEN^MR", "check digit does not agree"),
            ("M1^^^GEN^MR~A120045^0^M10^GEN^MR", "needs a number in digits"),
            ("M1^^^GEN^MR~120045^^M11^GEN^MR", "gives no check digit"),
        ],
    )
    def test_the_nak_names_the_repetition_that_is_wrong(self, pid_3: str, words: str) -> None:
        bad = refused(A03.replace("M1^^^GEN^MR~X9^^^OTHER^MR", pid_3))
        assert bad.location == Location("PID", 3, 1, 2, 2)
        assert bad.text.startswith("PID-3 (repetition 2) (patient identifier) is not valid")
        assert words in bad.text

    @pytest.mark.parametrize(
        "pid_3", ["120045^7^ISO^GEN^MR", "120045^7^NPI^GEN^MR", "120045^7^^GEN^MR"]
    )
    def test_a_scheme_without_an_algorithm_of_hl7s_or_none_is_not_verified(
        self, pid_3: str
    ) -> None:
        text = A03.replace("M1^^^GEN^MR~X9^^^OTHER^MR", pid_3)
        parsed = rules.parse(text)
        message = rules.read_message(parsed, rules.read_header(parsed), zone="UTC")
        assert message.patient.identifiers == (("120045", "GEN"),)


class TestWhereTheStructureIsBroken:
    @pytest.mark.parametrize(
        "change, where, words",
        [
            (
                ("EVN|A03|20260305120000", "EVN|A03|2026XX"),
                Location("EVN", 2, repetition=1, component=1),  # TS.1, the time itself
                "EVN-2 is not a valid date and time",
            ),
            (("PID|1|", "PID|X|"), Location("PID", 1), "PID-1 is not a valid sequence number"),
            (("|19450123|", "|19450123~19450124|"), Location("PID", 7, repetition=2), "PID-7"),
            (
                ("Hale^", "H" * 300 + "^"),
                Location("PID", 5, repetition=1, component=1),
                "PID-5 is longer than HL7 2.5.1",
            ),
            (("EVN|A03|", "EVN|A03^X|"), Location("EVN", 1), "EVN-1 has more parts"),
            (
                ("X9^^^OTHER^MR", "X9^^^OTHER^MR^^20261399"),
                Location("PID", 3, repetition=2, component=7),
                "PID-3 (repetition 2) is not a valid date",
            ),
            (
                ("20260305120000||ADT", "2026-03-05||ADT"),
                Location("MSH", 7, repetition=1, component=1),
                "MSH-7 is not a valid date and time",
            ),
        ],
    )
    def test_a_field_not_of_its_type_is_named_with_its_segment_sequence_and_position(
        self, change: tuple[str, str], where: Location, words: str
    ) -> None:
        text = A03.replace(*change)
        with pytest.raises(Refused) as caught:
            structure.check_structure(text, rules.read_header(rules.parse(text)))
        assert (caught.value.location, caught.value.hl7_error) == (where, "102")
        assert words in caught.value.text
        # hl7apy's own reason quotes the value; ours never does (it may be PHI).
        for value in ("2026XX", "19450124", "HHHHHHHH", "20261399", "2026-03-05"):
            assert value not in caught.value.text

    def test_the_second_of_a_segment_allowed_once_is_named(self) -> None:
        lines = A03.split("\r")
        text = "\r".join([*lines[:3], lines[2].replace("Hale", "Marsh"), lines[3]])
        with pytest.raises(Refused) as caught:
            structure.check_structure(text, rules.read_header(rules.parse(text)))
        assert caught.value.location == Location("PID", sequence=2)
        assert caught.value.hl7_error == "100"
        assert "Marsh" not in caught.value.text


def _read_back(text: str, version: str) -> None:
    """hl7apy (strict) reads our answer at its own version: the whole message where it
    knows the ACK structure (2.3.1 on), segment by segment before (2.1 on 2.2's tables,
    which differ only by a time stamp's precision)."""
    text = text.strip("\r")
    if tuple(int(p) for p in version.split(".")) >= (2, 3, 1):
        parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()
        return
    for segment in text.split("\r"):
        parse_segment(
            segment, version="2.2" if version == "2.1" else version,
            validation_level=VALIDATION_LEVEL.STRICT,
        )  # fmt: skip


class TestAnswerInEachVersion:
    @pytest.mark.parametrize("version", VERSIONS)
    @pytest.mark.parametrize("code", list(AckCode))
    def test_hl7apy_reads_our_answer_at_the_messages_version(
        self, version: str, code: AckCode
    ) -> None:
        header = Header("EPIC|GEN", "C-1", "A03", version, "EPIC", "GEN")
        text = ack(
            header,
            code,
            "PID-3 (patient identifier) is not valid: its check digit does not agree.",
            now=NOW,
            control_id="CL1",
            where=Location("PID", 3, repetition=1, component=2),
            hl7_error="102",
        )
        _read_back(text, version)
        answer = hl7.parse(text)
        assert str(answer.segment("MSH")[12]) == version
        assert [str(answer[f"MSA.F{n}"]) for n in (1, 2)] == [code.value, "C-1"]

    @pytest.mark.parametrize(
        "version, msh_9, err",
        [
            ("2.1", "ACK^A03", "ERR|PID^1^3^102&Data type error&HL70357"),
            ("2.3", "ACK^A03", "ERR|PID^1^3^102&Data type error&HL70357"),
            ("2.4", "ACK^A03^ACK", "ERR|PID^1^3^102&Data type error&HL70357"),
            ("2.5", "ACK^A03^ACK", "ERR||PID^1^3^1^2|102^Data type error^HL70357|E||||"),
            ("2.8", "ACK^A03^ACK", "ERR||PID^1^3^1^2|102^Data type error^HL70357|E||||"),
        ],
    )
    def test_the_error_is_where_the_version_puts_it(
        self, version: str, msh_9: str, err: str
    ) -> None:
        header = Header("EPIC|GEN", "C-1", "A03", version, "EPIC", "GEN")
        words = "PID-3 is not valid."
        text = ack(
            header,
            AckCode.error,
            words,
            now=NOW,
            control_id="CL1",
            where=Location("PID", 3, repetition=1, component=2),
            hl7_error="102",
        )
        msh, msa, error = text.strip("\r").split("\r")
        assert msh.split("|")[8] == msh_9
        # MSA-3 was withdrawn in 2.7: the words are ERR-8's from 2.5 on.
        assert msa == ("MSA|AE|C-1" if version >= "2.7" else f"MSA|AE|C-1|{words}")
        assert error == err + (words if version >= "2.5" else "")

    def test_a_segment_is_located_at_its_sequence(self) -> None:
        header = Header("EPIC|GEN", "C-1", "A03", "2.5.1", "EPIC", "GEN")
        text = ack(
            header, AckCode.error, "x", now=NOW, control_id="CL1", where=Location("PID", sequence=2)
        )
        assert "ERR||PID^2|" in text
