"""The acknowledgments CareLoop writes back for an inbound file it cannot read, each at
the level of the fault (X12.6): the 999 implementation acknowledgment (ASC X12C
005010X231A1) names the group (AK1), the transaction set (AK2), the segment in error
with its position in the set (IK3) and, when one element is at fault, that element
(IK4), IK5 and AK9 rejecting; a fault of the group's own envelope (GS/GE) is in AK9
alone; a fault of the interchange's envelope (ISA/IEA) is answered by a TA1 interchange
acknowledgment. The sandbox payer's 999 on a claim is pyx12's own verdict on the 837P
(:func:`verdict`). Pure: no database, no files."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import pyx12.params
import pyx12.x12n_document

from careloop.clearinghouse import rules
from careloop.clearinghouse.envelope import (
    Party,
    X12FormatError,
    segment,
    write_interchange,
    write_ta1,
)

#: IK403: 7 invalid code value, 8 invalid date; CareLoop reports 7 unless it is a date.
_ELEMENT_CODE = "7"


def rejection(
    error: X12FormatError,
    *,
    functional_code: str,
    group_control_number: str,
    transaction_code: str,
    version: str,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
) -> str:
    """A 999 rejecting the one transaction set of a group, naming the faulty segment; or,
    for a fault of the group's envelope, the group in AK9 with its syntax error code."""
    st_control = error.control_number or "0001"
    ak1 = segment("AK1", functional_code, group_control_number, version)
    if error.group_fault is not None:
        code, included, received = error.group_fault
        body = [ak1, segment("AK9", "R", str(included), str(received), "0", code)]
    else:
        body = [ak1, *_transaction_rejection(error, transaction_code, st_control, version)]
    return write_interchange(
        functional_code=rules.FUNCTIONAL_CODE["999"],
        version=rules.VERSION_999,
        transactions=[("999", body)],
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        created=created,
    )


def _transaction_rejection(
    error: X12FormatError, transaction_code: str, st_control: str, version: str
) -> list[str]:
    ak2 = segment("AK2", transaction_code, st_control, version)
    if error.set_code is not None:
        # The set's own envelope (ST/SE) or its code is at fault: IK5 says which, no IK3.
        return [ak2, segment("IK5", "R", error.set_code), segment("AK9", "R", "1", "1", "0")]
    body = [
        ak2,
        segment(
            "IK3",
            error.segment[:3] or "ST",
            str(error.in_transaction or 1),
            "",
            error.syntax_code,
        ),
    ]
    if error.element is not None:
        body.append(segment("IK4", str(error.element), "", error.element_code or _ELEMENT_CODE))
    return [*body, segment("IK5", "R", "5"), segment("AK9", "R", "1", "1", "0")]


def interchange_rejection(
    error: X12FormatError,
    *,
    interchange_control: str,
    interchange_date: str,
    interchange_time: str,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
) -> str:
    """A TA1 rejecting an interchange whose envelope is at fault: the interchange's
    control number, date and time (ISA13, ISA09, ISA10), R, and the note code."""
    ta1 = segment(
        "TA1",
        interchange_control,
        interchange_date,
        interchange_time,
        "R",
        error.interchange_note or "022",
    )
    return write_ta1(
        ta1, sender=sender, receiver=receiver, control_number=control_number, created=created
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """A 999 written by pyx12 for an interchange, in the answering party's envelope."""

    text: str
    accepted: bool


def verdict(
    text: str, *, sender: Party, receiver: Party, control_number: int, created: datetime
) -> Verdict | None:
    """pyx12's 999 on ``text`` against its implementation guide (AK1/AK2 naming the
    group and set, IK3/IK4 each error, IK5 and AK9 accepting or rejecting), enveloped
    with ``control_number`` (pyx12 numbers its own from the clock). None when pyx12
    could not make one (not an X12 interchange at all)."""
    out = io.StringIO()
    pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(),
        src_file=io.StringIO(text),
        fd_997=out,
        fd_html=None,
        fd_xmldoc=None,
        fd_json=None,
        map_path=None,
    )
    segments = [s.strip() for s in out.getvalue().split("~") if s.strip()]
    tags = [s.split("*", 1)[0] for s in segments]
    if "ST" not in tags or "SE" not in tags or "AK9" not in tags:
        return None
    body = segments[tags.index("ST") + 1 : tags.index("SE")]
    ak9 = segments[tags.index("AK9")].split("*")
    reply = write_interchange(
        functional_code=rules.FUNCTIONAL_CODE["999"],
        version=rules.VERSION_999,
        transactions=[("999", body)],
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        created=created,
    )
    return Verdict(reply, len(ak9) > 1 and ak9[1] in {"A", "E"})
