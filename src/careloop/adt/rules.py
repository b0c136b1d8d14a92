"""The hospital's admission and discharge feed (HL7 v2 ADT over MLLP): which messages
count, which fields are read and how a message finds its case.

Pure: parsing with python-hl7, no database (the structure check is ``structure``, the
acknowledgement ``answer``).

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from zoneinfo import ZoneInfo

import hl7

from careloop.adt import checkdigit, escapes
from careloop.adt.answer import DEFAULT_VERSION, AckCode, Header, Location
from careloop.adt.errors import Refused
from careloop.referral.rules import duplicate_key, fold_name

__all__ = ["AckCode", "Header", "Location", "Refused"]

#: The trigger events the feed reads, and what each is in plain words.
EVENTS = {"A01": "admission", "A03": "discharge", "A08": "update"}

#: A person looks at an uncertain match within this time, sooner when the discharge is
#: nearer (the project's own proposal: DOMAIN.md §4 escalates a discharge under 24 h
#: at once, so an hour to find the case leaves room to act).
REVIEW_WITHIN = timedelta(hours=1)


class MatchKind(StrEnum):
    certain = "certain"
    uncertain = "uncertain"
    none = "none"


# ---- reading the message ------------------------------------------------------------------


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
    """The text of ``SEG.Fn`` or ``SEG.Fn.Rr.Cc`` (the first subcomponent), its escape
    sequences read once (python-hl7's own accessor reads them, and reading them again
    turned an escaped backslash into a delimiter)."""
    name, *path = key.split(".")
    numbers = [int(part[1:]) for part in path]
    try:
        value: object = message.segment(name)
        for depth, number in enumerate(numbers):
            if isinstance(value, str):
                if number != 1:
                    return ""
                continue
            if depth == 0 and number >= len(value):  # type: ignore[arg-type]
                return ""
            value = value(number)  # type: ignore[operator]
        while not isinstance(value, str) and len(numbers) > 1:
            value = value(1)  # type: ignore[operator]
    except (KeyError, IndexError):
        return ""
    return _unescape(message, str(value))


def _unescape(message: hl7.Message, value: str) -> str:
    """The text of an escaped value (``escapes.unescape``), in MSH-18's character set."""
    try:
        charset = str(message["MSH.F18.R1.C1"])
    except (KeyError, IndexError):
        charset = ""
    return escapes.unescape(
        value, separators=str(message.separators), escape=str(message.esc), charset=charset
    )


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


def check_sender(header: Header, facilities: frozenset[str] | None) -> None:
    """AR when the feed is for named hospitals (``facilities``) and MSH-4 is none of
    them: a listener serves one hospital, whose time zone it reads times in and whose
    record numbers it trusts; another hospital's messages belong to that hospital's
    feed."""
    if facilities is None or header.sending_facility in facilities:
        return
    raise Refused(
        AckCode.rejected,
        "This feed does not take messages from the sending facility in MSH-4: send them "
        "to the feed set up for that hospital.",
        where="MSH-4",
        hl7_error="204",
        header=header,
    )


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
    it; a PID-3 not so written is refused, naming the field. A number that names an M10
    or M11 check digit scheme (CX.3) is refused when its check digit (CX.2) disagrees."""
    pid3 = message.segment("PID")(3) if len(message.segment("PID")) > 3 else None
    repetitions = [_parts(message, r) for r in list(pid3 or [])]
    for number, parts in enumerate(repetitions, start=1):
        _verify_check_digit(parts, number)
    if header.version == "2.1":
        return _v21_identifier(repetitions, header.sending_facility)
    identifiers: list[tuple[str, str]] = []
    for parts in repetitions:
        value, authority = parts[0], (parts[3] if len(parts) > 3 else "")
        if value and authority:
            identifiers.append((value[:40], authority[:40]))
    return tuple(identifiers)


def _parts(message: hl7.Message, repetition: object) -> list[str]:
    """The components of one repetition (python-hl7 gives one without components as a
    plain string)."""
    if isinstance(repetition, str):
        return [_unescape(message, repetition)]
    count = len(repetition)  # type: ignore[arg-type]
    return [_component(message, repetition, i + 1) for i in range(count)]


def _verify_check_digit(parts: list[str], repetition: int) -> None:
    """CX.1 against its check digit (CX.2) under the scheme CX.3 names (HL7 table 0061):
    the check digit is the sending system's own, so a number that disagrees with it is
    not the number that system gave the patient."""
    number, check_digit, scheme = [*parts, "", "", ""][:3]
    if not scheme:
        return
    problem = checkdigit.problem(number, check_digit, scheme)
    if problem is None:
        return
    where = Location("PID", 3, repetition=repetition, component=2)
    raise Refused(
        AckCode.error,
        f"{where.words()} (patient identifier) is not valid: {problem}.",
        where=where,
        hl7_error="102",
    )


def _v21_identifier(repetitions: list[list[str]], facility: str) -> tuple[tuple[str, str], ...]:
    parts = repetitions[0] if repetitions else []
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
    return _unescape(message, value)


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
