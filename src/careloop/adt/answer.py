"""The acknowledgement (ACK) the feed sends back, written as the message's own HL7
version writes one, and where in the message an error is (pure).

- MSH-9: ``ACK^A03`` in 2.1-2.3 (two parts), ``ACK^A03^ACK`` from 2.3.1 on.
- MSA-3 (the reason in words) up to 2.6; 2.7 withdrew it, the words go in ERR-8.
- ERR: up to 2.4 ERR-1 (segment^sequence^field position^code), from 2.5 on ERR-2 (the
  location: segment^sequence^field position^repetition^component), ERR-3 (the code,
  HL7 table 0357), ERR-4 (severity) and ERR-8 (the words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

#: Who answers: MSH-3 and MSH-4 of every acknowledgement.
APPLICATION = "CARELOOP"
FACILITY = "CARELOOP"

#: The version an acknowledgement takes when the message names none we can read.
DEFAULT_VERSION = "2.5.1"


class AckCode(StrEnum):
    accepted = "AA"
    error = "AE"
    rejected = "AR"


@dataclass(frozen=True, slots=True)
class Header:
    """What MSH says of a message: who sent it, its control id, event and version."""

    sender: str
    control_id: str
    event: str
    version: str
    sending_application: str
    sending_facility: str


@dataclass(frozen=True, slots=True)
class Location:
    """Where an error is: a segment (its ``sequence``-th occurrence), and in it a field,
    a repetition of that field and a component, as far as known."""

    segment: str
    field: int | None = None
    sequence: int = 1
    repetition: int | None = None
    component: int | None = None

    @classmethod
    def of(cls, where: str) -> Location | None:
        """``PID-3`` or ``PID``, as the feed's own words name a field."""
        match = re.fullmatch(r"([A-Z][A-Z0-9]{2})(?:-(\d+))?", where)
        if match is None:
            return None
        return cls(match[1], int(match[2]) if match[2] else None)

    def words(self) -> str:
        """The place in plain words: ``PID-3``, ``PID-3 (repetition 2)``, ``PV1``."""
        text = self.segment if self.field is None else f"{self.segment}-{self.field}"
        if self.sequence > 1:
            text = f"{text} (segment {self.sequence})"
        if self.repetition is not None and self.repetition > 1:
            text = f"{text} (repetition {self.repetition})"
        return text

    def parts(self, *, detail: bool) -> list[str]:
        """The components of ERR-2 (ERL; ``detail``) or the first three of ERR-1 (ELD)."""
        values = [self.segment, str(self.sequence), _text(self.field)]
        if detail:
            values += [_text(self.repetition), _text(self.component)]
        while values and not values[-1]:
            values.pop()
        return [escape(v) for v in values]


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def version_key(version: str) -> tuple[int, ...]:
    """``2.3.1`` -> (2, 3, 1); a version we cannot read is taken as 2.5.1."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return version_key(DEFAULT_VERSION)


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
    where: Location | None = None,
    hl7_error: str = "",
) -> str:
    """The acknowledgement for a message (``header`` None: one we could not read): MSA-1
    the code, MSA-2 the message's control id; a NAK adds an ERR segment naming the place
    and the HL7 error code, laid out as the message's version lays it out."""
    application = header.sending_application if header else ""
    facility = header.sending_facility if header else ""
    event = header.event if header else ""
    version = (header.version if header else "") or DEFAULT_VERSION
    their_id = header.control_id if header else ""
    key = version_key(version)
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    kind = f"ACK^{escape(event)}" if key < (2, 3, 1) else f"ACK^{escape(event)}^ACK"
    msa = f"MSA|{code.value}|{escape(their_id)}"
    if key < (2, 7):
        msa += f"|{escape(text)}"
    segments = [
        f"MSH|^~\\&|{APPLICATION}|{FACILITY}|{escape(application)}|{escape(facility)}"
        f"|{stamp}||{kind}|{escape(control_id)}|P|{escape(version)}",
        msa,
    ]
    if code is not AckCode.accepted:
        error = hl7_error if hl7_error in ERROR_NAMES else "207"
        name = escape(ERROR_NAMES[error])
        if key < (2, 5):
            place = where.parts(detail=False) if where else []
            place += [""] * (3 - len(place))
            segments.append(f"ERR|{'^'.join(place)}^{error}&{name}&HL70357")
        else:
            location = "^".join(where.parts(detail=True)) if where else ""
            segments.append(f"ERR||{location}|{error}^{name}^HL70357|E||||{escape(text)}")
    return "\r".join(segments) + "\r"


#: HL7 table 0357 (message error condition codes), the ones the feed sends.
ERROR_NAMES = {
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "207": "Application internal error",
}
