"""The hospital's admission and discharge feed (HL7 v2 ADT over MLLP): which messages
count, which fields are read, how a message finds its case, and the acknowledgement.

Pure: parsing with python-hl7, the structure check with hl7apy, no database.

- A01 (admit), A03 (discharge), A08 (update of the patient's information) are read;
  every other message type is refused (AR).
- A discharge (PV1-45, the discharge date and time; on an A03 without it, EVN-6, when
  the event occurred) or an expected discharge (PV2-9) is the date the case takes as
  ``discharge_at``. A message with neither changes nothing and is acknowledged.
- Times without an offset are in the hospital's own time zone (the feed's setting).
- The patient is found by the hospital's medical record number with its assigning
  authority (PID-3; in 2.1, whose PID-3 carries no authority, the sending facility's
  own number), then by name and birth date folded as duplicate detection folds
  them (``referral.rules.duplicate_key``); anything less certain is a person's work.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import hl7
from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import ChildNotFound, UnsupportedVersion
from hl7apy.parser import parse_message

from careloop.referral.rules import duplicate_key, fold_name

#: The trigger events the feed reads, and what each is in plain words.
EVENTS = {"A01": "admission", "A03": "discharge", "A08": "update"}

#: Structures hl7apy checks when the header names none (A08 shares A01's).
STRUCTURES = {"A01": "ADT_A01", "A03": "ADT_A03", "A08": "ADT_A01"}

#: The version checked when the message's own is one hl7apy does not know.
DEFAULT_VERSION = "2.5.1"

#: Who answers: MSH-3 and MSH-4 of every acknowledgement.
APPLICATION = "CARELOOP"
FACILITY = "CARELOOP"

#: A person looks at an uncertain match within this time, sooner when the discharge is
#: nearer (the project's own proposal: DOMAIN.md §4 escalates a discharge under 24 h
#: at once, so an hour to find the case leaves room to act).
REVIEW_WITHIN = timedelta(hours=1)


class AckCode(StrEnum):
    accepted = "AA"
    error = "AE"
    rejected = "AR"


class MatchKind(StrEnum):
    certain = "certain"
    uncertain = "uncertain"
    none = "none"


class Refused(Exception):  # noqa: N818 - the answer's name, not a failure of ours
    """The message is answered with a NAK: ``code`` AE or AR, ``text`` in plain words,
    ``where`` the field (ERR-2, e.g. ``PV1-45``) and ``hl7_error`` the HL7 table 0357 code."""

    def __init__(
        self,
        code: AckCode,
        text: str,
        *,
        where: str = "",
        hl7_error: str = "207",
        header: Header | None = None,
    ):
        super().__init__(text)
        self.code, self.text, self.where, self.hl7_error = code, text, where, hl7_error
        #: The header read so far, so that the NAK names the message's control id.
        self.header = header


# ---- reading the message ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    sender: str
    control_id: str
    event: str
    version: str
    sending_application: str
    sending_facility: str


@dataclass(frozen=True, slots=True)
class Discharge:
    at: datetime
    #: PV2-9: the hospital expects it; otherwise it happened (PV1-45, EVN-6).
    expected: bool
    #: Only a day was given (the time is taken as the start of that day, the earlier).
    date_only: bool


@dataclass(frozen=True, slots=True)
class Patient:
    identifiers: tuple[tuple[str, str], ...]
    family: str
    given: str
    birth_date: date | None
    sex: str | None


@dataclass(frozen=True, slots=True)
class AdtMessage:
    header: Header
    patient: Patient
    discharge: Discharge | None


def _field(message: hl7.Message, key: str) -> str:
    try:
        return str(message.unescape(str(message[key])))
    except (KeyError, IndexError):
        return ""


def parse(text: str) -> hl7.Message:
    """The message as python-hl7 reads it; AR when it is not an HL7 v2 message at all."""
    cleaned = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    if not cleaned.startswith("MSH"):
        raise Refused(
            AckCode.rejected, "This is not an HL7 message: it must begin with MSH.", where="MSH"
        )
    try:
        return hl7.parse(cleaned)
    except Exception as exc:  # python-hl7 raises several kinds on a broken message
        raise Refused(
            AckCode.rejected, "The message could not be read as HL7.", where="MSH", hl7_error="100"
        ) from exc


def read_header(message: hl7.Message) -> Header:
    """MSH: who sent it, its control id (MSH-10), its event and version; refuses (AR) a
    message type the feed does not read."""
    control_id = _field(message, "MSH.F10")
    if not control_id:
        raise Refused(
            AckCode.rejected,
            "The message has no control id (MSH-10).",
            where="MSH-10",
            hl7_error="101",
        )
    kind, event = _field(message, "MSH.F9.R1.C1"), _field(message, "MSH.F9.R1.C2")
    application, facility = _field(message, "MSH.F3.R1.C1"), _field(message, "MSH.F4.R1.C1")
    header = Header(
        sender=f"{application}|{facility}"[:120],
        control_id=control_id[:60],
        event=event,
        version=_field(message, "MSH.F12.R1.C1") or DEFAULT_VERSION,
        sending_application=application,
        sending_facility=facility,
    )
    if kind != "ADT":
        raise Refused(
            AckCode.rejected,
            f"Unknown message type {kind or '(none)'}: this feed reads ADT messages only.",
            where="MSH-9",
            hl7_error="200",
            header=header,
        )
    if event not in EVENTS:
        raise Refused(
            AckCode.rejected,
            f"Unknown message type ADT {event or '(no event)'}: this feed reads A01 "
            "(admission), A03 (discharge) and A08 (update).",
            where="MSH-9",
            hl7_error="201",
            header=header,
        )
    return header


def check_structure(text: str, header: Header) -> None:
    """The segments in the order the standard gives for the event (hl7apy, strict), at
    the message's own version (2.1 against 2.2's tables, ``_CHECKED_AS``) or, for one
    hl7apy does not know (or none), 2.5.1; fields past the last one the version defines
    are left out of the check."""
    cleaned = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    version = header.version if header.version in _KNOWN_VERSIONS else DEFAULT_VERSION
    version = _CHECKED_AS.get(version, version)
    # Written out even when it is the message's own: an empty MSH-12 is read as 2.5.1.
    cleaned = _within_version(_with_version(cleaned, version), version)
    if version not in _TWO_PART_TYPES:
        cleaned = _with_structure(cleaned, STRUCTURES[header.event])
    else:
        # Two-part versions name no structure (a feed may still send ADT^A03^ADT_A03,
        # which hl7apy refuses there): hl7apy checks A08 as the A01 it shares.
        shared = STRUCTURES[header.event].removeprefix("ADT_")
        cleaned = _with_msh_field(cleaned, 9, lambda _value, sep: f"ADT{sep}{shared}")
    try:
        parsed = parse_message(cleaned, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        parsed.validate()
    except Exception as exc:  # hl7apy names each broken rule with its own exception
        reason, where, hl7_error = _located(exc)
        raise Refused(
            AckCode.error,
            f"The message's structure is not a valid ADT {header.event}: {reason}",
            where=where,
            hl7_error=hl7_error,
        ) from exc


_KNOWN_VERSIONS = frozenset(
    {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"}
)


#: hl7apy's 2.1 tables require the time stamp's degree of precision (``TS_2``), which
#: no feed sends: a 2.1 message is checked against 2.2's, which differ from 2.1's only by
#: fields added at a segment's end and PID-3's facility, and PID-3 is read by the 2.1
#: rule itself (``_identifiers``).
_CHECKED_AS = {"2.1": "2.2"}

#: Versions whose message type (MSH-9) has two parts, without the structure.
_TWO_PART_TYPES = frozenset({"2.1", "2.2", "2.3"})


@cache
def _field_count(segment: str, version: str) -> int | None:
    """How many fields ``version`` defines for ``segment`` (None: hl7apy knows no such
    segment there, e.g. a Z segment)."""
    try:
        return len(load_reference(segment, "Segment", version)[1])
    except (ChildNotFound, KeyError):
        return None


def _within_version(text: str, version: str) -> str:
    """The message without the fields past the last one ``version`` defines for each
    segment. Later versions add fields at a segment's end and real feeds send them on
    older messages (MSH-18, the character set, on a 2.2 message): a field the version
    does not define has no meaning to check there, and is no reason to refuse."""
    first = text.partition("\r")[0]
    separator = first[3] if len(first) > 3 else "|"
    lines = []
    for line in text.split("\r"):
        parts = line.split(separator)
        count = _field_count(parts[0], version)
        # MSH-1 is the separator itself: MSH's first part after the name is MSH-2.
        keep = None if count is None else count if parts[0] == "MSH" else count + 1
        lines.append(separator.join(parts[:keep]) if keep is not None else line)
    return "\r".join(lines)


def _with_msh_field(text: str, index: int, change: Callable[[str, str], str]) -> str:
    """The message with MSH-``index`` changed (``change`` gets the field and the component
    separator); MSH-1 is the field separator itself."""
    first, _, rest = text.partition("\r")
    separator = first[3] if len(first) > 3 else "|"
    component = first[4] if len(first) > 4 else "^"
    fields = first.split(separator)
    while len(fields) <= index - 1:
        fields.append("")
    fields[index - 1] = change(fields[index - 1], component)
    return separator.join(fields) + ("\r" + rest if rest else "")


def _with_version(text: str, version: str) -> str:
    return _with_msh_field(text, 12, lambda _field, _sep: version)


def _with_structure(text: str, structure: str) -> str:
    """MSH-9 with its structure (``ADT^A08`` -> ``ADT^A08^ADT_A01``): many feeds leave it
    out, and hl7apy needs it to know which structure to check."""

    def add(value: str, sep: str) -> str:
        parts = value.split(sep)
        if len(parts) >= 3 and parts[2]:
            return value
        return sep.join([*parts[:2], *[""] * (2 - len(parts[:2])), structure])

    return _with_msh_field(text, 9, add)


#: hl7apy's words for a required field or segment that is not there.
_MISSING_FIELD = re.compile(r"Missing required child ([A-Z][A-Z0-9]{2})\.\1_(\d+)$")
_MISSING_SEGMENT = re.compile(r"Missing required child [A-Z0-9_]+\.([A-Z][A-Z0-9]{2})$")


def _located(exc: Exception) -> tuple[str, str, str]:
    """hl7apy's reason in plain words, the field or segment it is about (ERR-2) and its
    HL7 table 0357 code: a required field that is empty is 101 at that field, a missing
    segment 100 at that segment; any other broken rule is about the structure MSH-9
    names."""
    text = _plain(exc)
    if isinstance(exc, UnsupportedVersion):
        return "MSH-12 (version) is empty or names no HL7 version.", "MSH-12", "203"
    if empty := _MISSING_FIELD.match(text):
        where = f"{empty[1]}-{empty[2]}"
        return f"{where} is required and is empty.", where, "101"
    if segment := _MISSING_SEGMENT.match(text):
        return f"the {segment[1]} segment is required and is missing.", segment[1], "100"
    return text, "MSH-9", "100"


def _plain(exc: Exception) -> str:
    """hl7apy's reason, without its class names' punctuation."""
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def read_message(message: hl7.Message, header: Header, *, zone: str) -> AdtMessage:
    """The patient and the discharge the message reports; AE on a missing PID or a date
    that is not a date."""
    try:
        message.segment("PID")
    except KeyError:
        raise Refused(
            AckCode.error,
            "The message has no PID segment: it does not say who the patient is.",
            where="PID",
            hl7_error="100",
        ) from None
    return AdtMessage(header, _patient(message, header), _discharge(message, header.event, zone))


def _patient(message: hl7.Message, header: Header) -> Patient:
    born = _field(message, "PID.F7.R1.C1")
    birth_date = None
    if born:
        parsed = parse_timestamp(born[:8], "PID-7", zone="UTC")
        birth_date = parsed.at.date()
    return Patient(
        identifiers=_identifiers(message, header),
        family=_field(message, "PID.F5.R1.C1"),
        given=_field(message, "PID.F5.R1.C2"),
        birth_date=birth_date,
        sex=_field(message, "PID.F8.R1.C1") or None,
    )


def _identifiers(message: hl7.Message, header: Header) -> tuple[tuple[str, str], ...]:
    """The hospital's record numbers with their assigning authority (PID-3, CX.1 and
    CX.4). In 2.1 PID-3 is the sender's own patient id with its check digit (CK:
    number^check digit^scheme), with no authority: the sending facility (MSH-4) numbers
    it; a PID-3 not so written is refused, naming the field."""
    pid3 = message.segment("PID")(3) if len(message.segment("PID")) > 3 else None
    if header.version == "2.1":
        return _v21_identifier(message, pid3, header.sending_facility)
    identifiers: list[tuple[str, str]] = []
    for repetition in pid3 or []:
        value = _component(message, repetition, 1)
        authority = _component(message, repetition, 4)
        if value and authority:
            identifiers.append((value[:40], authority[:40]))
    return tuple(identifiers)


def _v21_identifier(
    message: hl7.Message, pid3: object, facility: str
) -> tuple[tuple[str, str], ...]:
    repetitions = list(pid3 or [])  # type: ignore[call-overload]
    # python-hl7 gives a field without components as a plain string.
    parts = [
        str(message.unescape(r)) if isinstance(r, str) else _component(message, r, i + 1)
        for r in repetitions[:1]
        for i in range(1 if isinstance(r, str) else len(r))
    ]
    if not parts or not parts[0]:
        return ()  # the structure check names the empty required field
    number, check_digit = parts[0], (parts[1] if len(parts) > 1 else "")
    if (
        len(repetitions) > 1
        or len(parts) > 3
        or not number.isdigit()
        or not (check_digit == "" or check_digit.isdigit())
    ):
        raise Refused(
            AckCode.error,
            "PID-3 (patient ID) is not written as HL7 2.1, the version MSH-12 names, "
            "writes it: one patient number in digits with its check digit "
            "(number^check digit^scheme) and no assigning authority. Send the message "
            "with the version it is written in.",
            where="PID-3",
            hl7_error="102",
        )
    return ((number[:40], facility[:40]),) if facility else ()


def _component(message: hl7.Message, repetition: object, index: int) -> str:
    try:
        value = repetition(index)  # type: ignore[operator]
        if not isinstance(value, str):
            value = str(value(1)) if callable(value) else str(value)
    except (IndexError, TypeError):
        return ""
    return str(message.unescape(value))


def _discharge(message: hl7.Message, event: str, zone: str) -> Discharge | None:
    """The discharge the message reports: PV1-45 (it happened), on an A03 without it
    EVN-6; else PV2-9 (expected)."""
    actual = _field(message, "PV1.F45.R1.C1")
    where = "PV1-45"
    if not actual and event == "A03":
        actual, where = _field(message, "EVN.F6.R1.C1"), "EVN-6"
        if not actual:
            raise Refused(
                AckCode.error,
                "The discharge message gives no discharge date and time (PV1-45).",
                where="PV1-45",
                hl7_error="101",
            )
    if actual:
        stamp = parse_timestamp(actual, where, zone=zone)
        return Discharge(stamp.at, expected=False, date_only=stamp.date_only)
    expected = _field(message, "PV2.F9.R1.C1")
    if expected:
        stamp = parse_timestamp(expected, "PV2-9", zone=zone)
        return Discharge(stamp.at, expected=True, date_only=stamp.date_only)
    return None


_STAMP = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?(?:\.\d{1,4})?)?([+-]\d{4})?$"
)

_FIELD_WORDS = {
    "PV1-45": "discharge date and time",
    "PV2-9": "expected discharge date",
    "EVN-6": "event date and time",
    "PID-7": "birth date",
}


@dataclass(frozen=True, slots=True)
class Stamp:
    at: datetime
    date_only: bool


def parse_timestamp(value: str, where: str, *, zone: str) -> Stamp:
    """An HL7 date and time (``YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]``) as an aware instant: with
    no offset it is the hospital's local time (``zone``). AE on anything else."""
    match = _STAMP.match(value.strip())
    bad = Refused(
        AckCode.error,
        f"{where} ({_FIELD_WORDS.get(where, 'date')}) is not a valid HL7 date "
        "(YYYYMMDD, then optionally HHMM and an offset such as -0500).",
        where=where,
        hl7_error="102",
    )
    if match is None:
        raise bad
    year, month, day, hour, minute, second, offset = match.groups()
    try:
        naive = datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
        if offset:
            sign = 1 if offset[0] == "+" else -1
            delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
            if delta >= timedelta(hours=24):
                raise bad
            at = naive.replace(tzinfo=timezone(sign * delta))
        else:
            at = naive.replace(tzinfo=ZoneInfo(zone))
        at = at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad from None
    return Stamp(at, date_only=hour is None)


# ---- finding the case -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """What matching reads of an open case."""

    referral_id: int
    first_name: str
    last_name: str
    birth_date: date
    sex: str | None
    hospital_mrn: str | None
    hospital_mrn_authority: str | None


@dataclass(frozen=True, slots=True)
class Match:
    kind: MatchKind
    referral_ids: tuple[int, ...] = ()
    #: Why a match is uncertain, in plain words (the work item's title says it).
    reason: str = ""
    candidates: tuple[int, ...] = field(default=())


_SEX = {"F": "female", "M": "male", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}


def _sex_differs(patient: Patient, case: Candidate) -> bool:
    told = _SEX.get((patient.sex or "").upper())
    known = {"female", "male"}
    return told in known and case.sex in known and told != case.sex


def match(patient: Patient, candidates: Sequence[Candidate]) -> Match:
    """Which open cases the message is about.

    Certain: the hospital's record number with its assigning authority, on cases whose
    birth date agrees; else the same folded name and birth date on cases that carry no
    other number from the same hospital, all of one person. Uncertain (a person decides):
    a record number whose birth date or sex disagrees, a name and birth date shared by
    people the hospital numbers apart, or the same birth date with only one of the two
    names alike. None: nothing of the kind is open.
    """
    ids = set(patient.identifiers)
    by_number = [c for c in candidates if (c.hospital_mrn, c.hospital_mrn_authority) in ids]
    if by_number:
        disagree = [
            c
            for c in by_number
            if (patient.birth_date and c.birth_date != patient.birth_date)
            or _sex_differs(patient, c)
        ]
        if disagree:
            return _uncertain(
                by_number, "the hospital's record number matches but the birth date or sex differs"
            )
        return Match(MatchKind.certain, tuple(sorted(c.referral_id for c in by_number)))
    if patient.birth_date is None or not patient.family or not patient.given:
        return Match(MatchKind.none)
    key = duplicate_key(patient.given, patient.family, patient.birth_date)
    same = [c for c in candidates if duplicate_key(c.first_name, c.last_name, c.birth_date) == key]
    if same:
        return _by_name(patient, same)
    family, given = fold_name(patient.family), fold_name(patient.given)
    near = [
        c
        for c in candidates
        if c.birth_date == patient.birth_date
        and (fold_name(c.last_name) == family or fold_name(c.first_name) == given)
    ]
    if near:
        return _uncertain(near, "only the birth date and one of the names match")
    return Match(MatchKind.none)


def _by_name(patient: Patient, same: list[Candidate]) -> Match:
    authorities = {authority for _, authority in patient.identifiers}
    numbered_apart = [
        c for c in same if c.hospital_mrn_authority in authorities and c.hospital_mrn is not None
    ]
    if numbered_apart:
        return _uncertain(
            same, "the name and birth date match a case the hospital numbers as another patient"
        )
    numbers: dict[str, set[str]] = {}
    for c in same:
        if c.hospital_mrn and c.hospital_mrn_authority:
            numbers.setdefault(c.hospital_mrn_authority, set()).add(c.hospital_mrn)
    if any(len(values) > 1 for values in numbers.values()):
        return _uncertain(same, "the name and birth date belong to more than one patient")
    if any(_sex_differs(patient, c) for c in same):
        return _uncertain(same, "the name and birth date match but the sex differs")
    return Match(MatchKind.certain, tuple(sorted(c.referral_id for c in same)))


def _uncertain(cases: Sequence[Candidate], reason: str) -> Match:
    ids = tuple(sorted(c.referral_id for c in cases))
    return Match(MatchKind.uncertain, reason=reason, candidates=ids)


def review_due(now: datetime, discharge_at: datetime) -> datetime:
    """When a person must have matched an uncertain report: within the hour, or by the
    discharge if it comes sooner (never before now)."""
    return max(now, min(now + REVIEW_WITHIN, discharge_at))


def review_title(event: str, reason: str) -> str:
    what = "discharge" if event == "A03" else "expected discharge"
    return f"Find the case for the hospital's {what} report: {reason}"[:300]


# ---- answering --------------------------------------------------------------------------

_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """Text for an HL7 field: the delimiters written as HL7 escapes; no line breaks."""
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return " ".join(text.split())


def ack(
    header: Header | None,
    code: AckCode,
    text: str,
    *,
    now: datetime,
    control_id: str,
    where: str = "",
    hl7_error: str = "",
) -> str:
    """The acknowledgement (ACK) for a message: MSA-1 the code, MSA-2 the message's
    control id, MSA-3 the reason in plain words; a NAK adds an ERR segment with the
    field (ERR-2), the HL7 error code (ERR-3, table 0357) and the words again (ERR-8)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    to_app = escape(header.sending_application) if header else ""
    to_fac = escape(header.sending_facility) if header else ""
    event = header.event if header else ""
    version = header.version if header else DEFAULT_VERSION
    their_id = escape(header.control_id) if header else ""
    segments = [
        f"MSH|^~\\&|{APPLICATION}|{FACILITY}|{to_app}|{to_fac}|{stamp}||ACK^{escape(event)}^ACK"
        f"|{escape(control_id)}|P|{escape(version)}",
        f"MSA|{code.value}|{their_id}|{escape(text)}",
    ]
    if code is not AckCode.accepted:
        error = hl7_error or "207"
        name = escape(_ERROR_NAMES.get(error, _ERROR_NAMES["207"]))
        location = escape(where).replace("-", "^") if where else ""
        segments.append(f"ERR||{location}|{error}^{name}^HL70357|E||||{escape(text)}")
    return "\r".join(segments) + "\r"


_ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}
