"""The feed's pure rules: reading dates and fields, the match, the acknowledgement."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import hl7
import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.adt import answer as ack_text
from careloop.adt import rules, structure
from careloop.adt.answer import Location
from careloop.adt.rules import AckCode, Candidate, MatchKind, Patient, Refused
from tests.factories.names import names

BORN = date(1945, 1, 23)
NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)


def case(
    referral_id: int,
    first: str = "Dorothy",
    last: str = "Hale",
    born: date = BORN,
    *,
    mrn: str | None = None,
    authority: str | None = "GEN",
    sex: str | None = "female",
) -> Candidate:
    return Candidate(referral_id, first, last, born, sex, mrn, authority if mrn else None)


def patient(
    first: str = "Dorothy",
    last: str = "Hale",
    born: date | None = BORN,
    *,
    ids: tuple[tuple[str, str], ...] = (("M1", "GEN"),),
    sex: str | None = "F",
) -> Patient:
    return Patient(ids, last, first, born, sex)


class TestTimestamps:
    @pytest.mark.parametrize(
        ("value", "expected", "date_only"),
        [
            ("202611261400", datetime(2026, 11, 26, 19, 0, tzinfo=UTC), False),
            ("20261126140000.1234", datetime(2026, 11, 26, 19, 0, tzinfo=UTC), False),
            ("202611261400+0100", datetime(2026, 11, 26, 13, 0, tzinfo=UTC), False),
            ("20261126", datetime(2026, 11, 26, 5, 0, tzinfo=UTC), True),
            # The clocks go back on 1 November in New York: 01:30 is read once, as EDT.
            ("202611010130", datetime(2026, 11, 1, 5, 30, tzinfo=UTC), False),
        ],
    )
    def test_reads_hl7_times_in_the_hospitals_zone_when_no_offset_is_given(
        self, value: str, expected: datetime, date_only: bool
    ) -> None:
        stamp = rules.parse_timestamp(value, "PV1-45", zone="America/New_York")
        assert (stamp.at, stamp.date_only) == (expected, date_only)

    @pytest.mark.parametrize(
        "value", ["2026-11-26", "20261301", "20260230", "2026112", "202611261400+2500", "", "x"]
    )
    def test_refuses_what_is_not_an_hl7_date_naming_the_field(self, value: str) -> None:
        with pytest.raises(Refused) as refused:
            rules.parse_timestamp(value, "PV2-9", zone="America/New_York")
        assert refused.value.code is AckCode.error
        assert refused.value.where == "PV2-9"
        assert refused.value.text.startswith("PV2-9 (expected discharge date) is not a valid")


class TestMatch:
    def test_the_record_number_is_certain_and_finds_every_open_case_of_the_member(self) -> None:
        found = rules.match(patient(), [case(1, mrn="M1"), case(2, mrn="M1"), case(3, "Ann")])
        assert (found.kind, found.referral_ids) == (MatchKind.certain, (1, 2))

    def test_the_same_number_from_another_hospital_is_not_the_patient(self) -> None:
        found = rules.match(
            patient(first="Nemo", last="Nobody"), [case(1, mrn="M1", authority="OTHER")]
        )
        assert found.kind is MatchKind.none

    def test_a_record_number_whose_birth_date_differs_is_uncertain(self) -> None:
        found = rules.match(patient(), [case(1, born=date(1945, 1, 24), mrn="M1")])
        assert (found.kind, found.candidates) == (MatchKind.uncertain, (1,))

    def test_a_name_matched_case_the_hospital_numbers_as_someone_else_is_uncertain(self) -> None:
        found = rules.match(patient(), [case(1, mrn="M2")])
        assert found.kind is MatchKind.uncertain

    def test_a_name_and_birth_date_shared_by_two_numbered_patients_is_uncertain(self) -> None:
        found = rules.match(
            patient(ids=()),
            [case(1, mrn="A", authority="X"), case(2, mrn="B", authority="X")],
        )
        assert found.kind is MatchKind.uncertain

    def test_the_same_name_and_birth_date_but_another_sex_is_uncertain(self) -> None:
        found = rules.match(patient(ids=(), sex="M"), [case(1)])
        assert found.kind is MatchKind.uncertain

    def test_only_one_name_and_the_birth_date_is_uncertain_never_certain(self) -> None:
        found = rules.match(patient(first="Dot"), [case(1)])
        assert (found.kind, found.candidates) == (MatchKind.uncertain, (1,))

    def test_nothing_alike_is_no_match(self) -> None:
        assert rules.match(patient(), [case(1, "Ann", "Marsh")]).kind is MatchKind.none
        assert rules.match(patient(born=None, ids=()), [case(1)]).kind is MatchKind.none

    @given(first=names, last=names, form=st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
    def test_names_in_any_script_match_however_the_hospital_writes_them(
        self, first: str, last: str, form: str
    ) -> None:
        written = patient(
            unicodedata.normalize(form, first.casefold()),
            " " + unicodedata.normalize(form, last) + " ",
            ids=(),
        )
        found = rules.match(written, [case(7, first, last)])
        assert (found.kind, found.referral_ids) == (MatchKind.certain, (7,))

    @given(first=names, last=names, other=names)
    def test_another_first_name_is_never_certain(self, first: str, last: str, other: str) -> None:
        found = rules.match(patient(other, last, ids=()), [case(7, first, last)])
        if rules.fold_name(other) != rules.fold_name(first):
            assert found.kind is MatchKind.uncertain


class TestMessage:
    A03 = "\r".join(
        [
            "MSH|^~\\&|EPIC|GEN|CARELOOP|CARELOOP|20260305120000||ADT^A03^ADT_A03|C-1|P|2.5.1",
            "EVN|A03|20260305120000",
            "PID|1||M1^^^GEN^MR~X9^^^OTHER^MR||O\\S\\Neil^Zoë||19450123|F",
            "PV1|1|I" + "|" * 43 + "202611261400",
        ]
    )

    def test_reads_the_patient_and_the_discharge(self) -> None:
        parsed = rules.parse(self.A03)
        header = rules.read_header(parsed)
        message = rules.read_message(parsed, header, zone="America/New_York")
        structure.check_structure(self.A03, header)
        assert (header.sender, header.control_id, header.event) == ("EPIC|GEN", "C-1", "A03")
        assert message.patient == Patient(
            (("M1", "GEN"), ("X9", "OTHER")), "O^Neil", "Zoë", BORN, "F"
        )
        assert message.discharge == rules.Discharge(
            datetime(2026, 11, 26, 19, 0, tzinfo=UTC), expected=False, date_only=False
        )

    def test_a_discharge_without_its_time_is_refused(self) -> None:
        text = self.A03.rsplit("|", 1)[0] + "|"
        parsed = rules.parse(text)
        with pytest.raises(Refused, match="no discharge date and time"):
            rules.read_message(parsed, rules.read_header(parsed), zone="UTC")

    @pytest.mark.parametrize("version", ["2.9", ""])
    def test_a_version_hl7apy_does_not_know_or_none_is_checked_as_2_5_1(self, version: str) -> None:
        text = self.A03.replace("|P|2.5.1", f"|P|{version}")
        header = rules.read_header(rules.parse(text))
        structure.check_structure(text, header)
        assert header.version == (version or "2.5.1")

    @pytest.mark.parametrize(
        "event, msh_9", [("A03", "ADT^A03^ADT_A03"), ("A08", "ADT^A08^ADT_A01")]
    )
    @pytest.mark.parametrize("version", ["2.2", "2.3"])
    def test_a_structure_in_msh_9_is_taken_in_versions_that_name_none(
        self, event: str, msh_9: str, version: str
    ) -> None:
        text = (
            self.A03.replace("ADT^A03^ADT_A03", msh_9)
            .replace("EVN|A03", f"EVN|{event}")
            .replace("|P|2.5.1", f"|P|{version}")
        )
        structure.check_structure(text, rules.read_header(rules.parse(text)))

    @pytest.mark.parametrize("version", ["2.2", "2.3", "2.3.1", "2.4", "2.5.1", "2.6"])
    def test_an_update_without_its_structure_in_msh_9_is_checked_as_the_a01_it_shares(
        self, version: str
    ) -> None:
        text = (
            self.A03.replace("ADT^A03^ADT_A03", "ADT^A08")
            .replace("EVN|A03", "EVN|A08")
            .replace("|P|2.5.1", f"|P|{version}")
        )
        structure.check_structure(text, rules.read_header(rules.parse(text)))

    @pytest.mark.parametrize("version", ["2.2", "2.3"])
    def test_fields_past_the_last_one_the_version_defines_are_not_a_reason_to_refuse(
        self, version: str
    ) -> None:
        # MSH-18 (character set) came with 2.3; PID-30 with 2.4: real feeds send both.
        text = self.A03.replace("|P|2.5.1", f"|P|{version}||||||UNICODE UTF-8").replace(
            "|F\r", "|F" + "|" * 22 + "N\r"
        )
        assert rules.read_header(rules.parse(text)).version == version
        structure.check_structure(text, rules.read_header(rules.parse(text)))

    A03_V21 = "\r".join(
        [
            "MSH|^~\\&|EPIC|GEN|CARELOOP|CARELOOP|20260305120000||ADT^A03|C-1|P|2.1"
            "||||||UNICODE UTF-8",
            "EVN|A03|20260305120000",
            "PID|1||12345^5^M10||O\\S\\Neil^Zoë||19450123|F",
            "PV1|1|I" + "|" * 43 + "202611261400",
        ]
    )

    @pytest.mark.parametrize("pid_3", ["12345^5^M10", "12345"])
    def test_in_2_1_the_record_number_is_pid_3_numbered_by_the_sending_facility(
        self, pid_3: str
    ) -> None:
        # 2.1's PID-3 is the hospital's own patient id with its check digit (CK): no
        # assigning authority, so the number is the sender's (MSH-4).
        text = self.A03_V21.replace("12345^5^M10", pid_3)
        parsed = rules.parse(text)
        header = rules.read_header(parsed)
        message = rules.read_message(parsed, header, zone="UTC")
        structure.check_structure(text, header)
        assert message.patient.identifiers == (("12345", "GEN"),)

    @pytest.mark.parametrize("pid_3", ["M1^^^GEN^MR~X9^^^OTHER^MR", "M1", "12345^5^M10~6^1"])
    def test_in_2_1_a_pid_3_written_as_later_versions_write_it_is_refused_in_plain_words(
        self, pid_3: str
    ) -> None:
        text = self.A03.replace("|P|2.5.1", "|P|2.1").replace("M1^^^GEN^MR~X9^^^OTHER^MR", pid_3)
        parsed = rules.parse(text)
        with pytest.raises(Refused) as refused:
            rules.read_message(parsed, rules.read_header(parsed), zone="UTC")
        assert (refused.value.where, refused.value.hl7_error) == ("PID-3", "102")
        assert refused.value.code is AckCode.error
        assert "PID-3 (patient ID)" in refused.value.text
        assert "HL7 2.1" in refused.value.text
        assert "NM" not in refused.value.text

    def test_a_segment_repeated_where_the_standard_allows_one_is_refused(self) -> None:
        lines = self.A03.split("\r")
        text = "\r".join([*lines, lines[3]])
        with pytest.raises(Refused, match="structure is not a valid ADT A03"):
            structure.check_structure(text, rules.read_header(rules.parse(text)))

    @pytest.mark.parametrize(
        "change, where, hl7_error, words",
        [
            (("M1^^^GEN^MR~X9^^^OTHER^MR", ""), "PID-3", "101", "PID-3 is required"),
            (("20260305120000||ADT", "||ADT"), "MSH-7", "101", "MSH-7 is required"),
            (("EVN|A03|20260305120000\r", ""), "EVN", "100", "EVN segment is required"),
        ],
    )
    def test_a_structure_error_names_the_field_or_segment_it_is_about(
        self, change: tuple[str, str], where: str, hl7_error: str, words: str
    ) -> None:
        text = self.A03.replace(*change)
        with pytest.raises(Refused) as refused:
            structure.check_structure(text, rules.read_header(rules.parse(text)))
        assert (refused.value.where, refused.value.hl7_error) == (where, hl7_error)
        assert words in refused.value.text

    def test_what_is_not_hl7_is_rejected(self) -> None:
        with pytest.raises(Refused) as refused:
            rules.parse("hello")
        assert refused.value.code is AckCode.rejected


class TestAck:
    def test_a_nak_says_why_in_msa_3_and_err_with_the_delimiters_escaped(self) -> None:
        header = rules.Header("EPIC|GEN", "C-1", "A03", "2.5.1", "EPIC", "GEN")
        text = ack_text.ack(
            header,
            AckCode.error,
            "PV1-45 | bad ^ date",
            now=NOW,
            control_id="CL1",
            where=Location("PV1", 45),
            hl7_error="102",
        )
        answer = hl7.parse(text)
        assert str(answer.segment("MSH")[9]) == "ACK^A03^ACK"
        assert str(answer.segment("MSH")[5]) == "EPIC"
        assert [str(answer[f"MSA.F{n}"]) for n in (1, 2)] == ["AE", "C-1"]
        assert answer.unescape(str(answer["MSA.F3"])) == "PV1-45 | bad ^ date"
        err = answer.segment("ERR")
        assert str(err[2]) == "PV1^1^45"
        assert str(err[3]) == "102^Data type error^HL70357"
        assert answer.unescape(str(err[8])) == "PV1-45 | bad ^ date"

    def test_an_unsupported_version_is_named_as_hl7_table_0357_names_it(self) -> None:
        nak = ack_text.ack(
            rules.read_header(rules.parse(TestMessage.A03)),
            AckCode.error,
            "MSH-12 (version) is empty or names no HL7 version.",
            now=NOW,
            control_id="CL1",
            where=Location("MSH", 12),
            hl7_error="203",
        )
        err = next(s for s in nak.split("\r") if s.startswith("ERR"))
        assert "|MSH^1^12|203^Unsupported version id^HL70357|" in err

    def test_an_ack_has_no_err(self) -> None:
        text = ack_text.ack(None, AckCode.accepted, "ok", now=NOW, control_id="CL1")
        assert "ERR" not in text
        assert text.endswith("\r")

    def test_the_review_is_due_within_the_hour_or_by_the_discharge(self) -> None:
        soon = datetime(2026, 11, 24, 14, 20, tzinfo=UTC)
        assert rules.review_due(NOW, soon) == soon
        assert rules.review_due(NOW, datetime(2026, 12, 1, tzinfo=UTC)).hour == 15
        assert rules.review_due(NOW, datetime(2026, 11, 1, tzinfo=UTC)) == NOW
