"""The structure check of a feed message (hl7apy, strict) and where a broken rule is
(pure): the segments in the order the standard gives for the event, each field of the
type its version gives it.

A broken rule is named at its place: a required field that is empty is 101 at that
field, a missing segment 100 at that segment, a segment sent more times than the
structure allows 100 at the one too many, and a field that is not of its type (a date
that is not a date, too long, repeated where it may not repeat) 102 at that field, with
its segment's sequence and the field's repetition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from hl7apy import load_reference
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import (
    ChildNotFound,
    MaxChildLimitReached,
    MaxLengthReached,
    UnsupportedVersion,
)
from hl7apy.parser import parse_component, parse_field, parse_message

from careloop.adt.answer import DEFAULT_VERSION, AckCode, Header, Location
from careloop.adt.errors import Refused

#: Structures hl7apy checks when the header names none (A08 shares A01's).
STRUCTURES = {"A01": "ADT_A01", "A03": "ADT_A03", "A08": "ADT_A01"}

KNOWN_VERSIONS = frozenset(
    {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"}
)

#: hl7apy's 2.1 tables require the time stamp's degree of precision (``TS_2``), which
#: no feed sends: a 2.1 message is checked against 2.2's, which differ from 2.1's only by
#: fields added at a segment's end and PID-3's facility, and PID-3 is read by the 2.1
#: rule itself (``rules._identifiers``).
_CHECKED_AS = {"2.1": "2.2"}

#: Versions whose message type (MSH-9) has two parts, without the structure.
_TWO_PART_TYPES = frozenset({"2.1", "2.2", "2.3"})


def check_structure(text: str, header: Header) -> None:
    """The message checked at its own version (2.1 against 2.2's tables) or, for one
    hl7apy does not know (or none), 2.5.1; fields past the last one the version defines
    are left out of the check. AE naming the place of the first broken rule."""
    cleaned = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    version = header.version if header.version in KNOWN_VERSIONS else DEFAULT_VERSION
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
        reason, where, hl7_error = _located(exc, cleaned, version)
        raise Refused(
            AckCode.error,
            f"The message's structure is not a valid ADT {header.event}: {reason}",
            where=where,
            hl7_error=hl7_error,
        ) from exc


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    data_type: str
    #: The most repetitions (-1: any).
    most: int
    #: Its components' names and data types (none for a field of one part).
    components: tuple[tuple[str, str], ...]


@cache
def _segment_fields(segment: str, version: str) -> tuple[_Field, ...] | None:
    """The fields ``version`` defines for ``segment``. None: hl7apy knows no such
    segment there (e.g. a Z segment)."""
    try:
        children = load_reference(segment, "Segment", version)[1]
    except (ChildNotFound, KeyError):
        return None
    fields = []
    for name, ref, cardinality, _ in children:
        parts = ref[1] if ref[0] == "sequence" else ()
        components = tuple((part[0], str(part[1][2])) for part in parts)
        fields.append(_Field(name, str(ref[2]), int(cardinality[1]), components))
    return tuple(fields)


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
        defined = _segment_fields(parts[0], version)
        count = None if defined is None else len(defined)
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


#: hl7apy's words for a required field or segment that is not there, or one too many.
_MISSING_FIELD = re.compile(r"Missing required child ([A-Z][A-Z0-9]{2})\.\1_(\d+)$")
_MISSING_SEGMENT = re.compile(r"Missing required child [A-Z0-9_]+\.([A-Z][A-Z0-9]{2})$")
_SEGMENT_TOO_MANY = re.compile(r"Cannot add <Segment ([A-Z][A-Z0-9]{2})>: max limit \((\d+)\)")


def _located(exc: Exception, text: str, version: str) -> tuple[str, Location, str]:
    """The broken rule in plain words, its place (ERR-2) and its HL7 table 0357 code."""
    message = str(exc).strip()
    if isinstance(exc, UnsupportedVersion):
        return "MSH-12 (version) is empty or names no HL7 version.", Location("MSH", 12), "203"
    if empty := _MISSING_FIELD.match(message):
        where = Location(empty[1], int(empty[2]))
        return f"{where.words()} is required and is empty.", where, "101"
    if segment := _MISSING_SEGMENT.match(message):
        where = Location(segment[1])
        return f"the {segment[1]} segment is required and is missing.", where, "100"
    if many := _SEGMENT_TOO_MANY.match(message):
        allowed = int(many[2])
        where = Location(many[1], sequence=allowed + 1)
        times = "once" if allowed == 1 else f"{allowed} times"
        return f"the {many[1]} segment may be sent {times} only.", where, "100"
    found = _find_field(text, version)
    if found is not None:
        return found
    # A rule about the whole structure (hl7apy names no field): MSH-9 names it.
    return "its segments are not in the order the standard gives.", Location("MSH", 9), "100"


_TYPE_WORDS = {
    "TS": "date and time",
    "DTM": "date and time",
    "DT": "date",
    "TM": "time",
    "NM": "number",
    "SI": "sequence number",
}


def _find_field(text: str, version: str) -> tuple[str, Location, str] | None:
    """The first field that hl7apy refuses on its own (its type, its length, its
    repetitions), walking the message segment by segment as it was sent."""
    first = text.partition("\r")[0]
    if len(first) < 8:
        return None
    separator, chars = first[3], first[4:8]
    encoding = {
        "FIELD": separator,
        "COMPONENT": chars[0],
        "REPETITION": chars[1],
        "ESCAPE": chars[2],
        "SUBCOMPONENT": chars[3],
        "GROUP": "\r",
        "SEGMENT": "\r",
    }
    seen: dict[str, int] = {}
    for line in text.split("\r"):
        parts = line.split(separator)
        name = parts[0]
        seen[name] = sequence = seen.get(name, 0) + 1
        fields = _segment_fields(name, version)
        if fields is None:
            continue
        # MSH-1 is the separator itself and MSH-2 the encoding characters.
        start = 3 if name == "MSH" else 1
        values = parts[2:] if name == "MSH" else parts[1:]
        for position, value in enumerate(values, start=start):
            if not value or position > len(fields):
                continue
            field = fields[position - 1]
            repetitions = value.split(encoding["REPETITION"])
            if field.most == 1 and len(repetitions) > 1:
                where = Location(name, position, sequence, repetition=2)
                return f"{where.words()} may be sent once only.", where, "102"
            for number, repetition in enumerate(repetitions, start=1):
                if not repetition:
                    continue
                try:
                    parse_field(
                        repetition,
                        name=field.name,
                        version=version,
                        encoding_chars=encoding,
                        validation_level=VALIDATION_LEVEL.STRICT,
                    )
                except Exception as exc:  # hl7apy's own, per broken rule
                    component, data_type, exc = _component(
                        repetition, field, version, encoding, exc
                    )
                    where = Location(
                        name,
                        position,
                        sequence,
                        repetition=number if number > 1 or component else None,
                        component=component,
                    )
                    return f"{where.words()} {_why(exc, data_type, version)}.", where, "102"
    return None


def _component(
    value: str, field: _Field, version: str, encoding: dict[str, str], exc: Exception
) -> tuple[int | None, str, Exception]:
    """Which component of a field of several hl7apy refuses, its type and the reason
    (None and the field's own when it is the field as a whole)."""
    parts = value.split(encoding["COMPONENT"])
    if not field.components or len(parts) > len(field.components):
        return None, field.data_type, exc
    for index, (part, (name, data_type)) in enumerate(zip(parts, field.components, strict=False)):
        if not part:
            continue
        try:
            parse_component(
                part,
                name=name,
                datatype=data_type,
                version=version,
                encoding_chars=encoding,
                validation_level=VALIDATION_LEVEL.STRICT,
            )
        except Exception as inner:  # hl7apy's own, per broken rule
            return index + 1, data_type, inner
    return None, field.data_type, exc


def _why(exc: Exception, data_type: str, version: str) -> str:
    """What is wrong with a field, in plain words (never its value: it may be PHI)."""
    if isinstance(exc, MaxLengthReached):
        return f"is longer than HL7 {version} allows"
    if isinstance(exc, MaxChildLimitReached):
        return f"has more parts than its type ({data_type}) has"
    what = _TYPE_WORDS.get(data_type)
    if what is not None:
        return f"is not a valid {what}"
    return f"is not a valid {data_type}"
