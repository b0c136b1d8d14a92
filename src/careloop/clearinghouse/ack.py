"""The 999 implementation acknowledgment (ASC X12C 005010X231A1) CareLoop writes back
for an inbound file it cannot read: the group (AK1), the transaction set (AK2), the
segment in error with its position in the set (IK3) and, when one element is at
fault, that element (IK4); IK5 and AK9 reject. Pure: no database, no files."""

from __future__ import annotations

from datetime import datetime

from careloop.clearinghouse import rules
from careloop.clearinghouse.envelope import Party, X12FormatError, segment, write_interchange

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
    """A 999 rejecting the one transaction set of a group, naming the faulty segment."""
    st_control = error.control_number or "0001"
    body = [
        segment("AK1", functional_code, group_control_number, version),
        segment("AK2", transaction_code, st_control, version),
        segment(
            "IK3",
            error.segment[:3] or "ST",
            str(error.in_transaction or 1),
            "",
            error.syntax_code,
        ),
    ]
    if error.element is not None:
        body.append(segment("IK4", str(error.element), "", _ELEMENT_CODE))
    body += [segment("IK5", "R", "5"), segment("AK9", "R", "1", "1", "0")]
    return write_interchange(
        functional_code=rules.FUNCTIONAL_CODE["999"],
        version=rules.VERSION_999,
        transactions=[("999", body)],
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        created=created,
    )
