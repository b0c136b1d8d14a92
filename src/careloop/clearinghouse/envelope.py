"""X12 interchanges: reading the envelope (ISA/GS/ST ... SE/GE/IEA) into segments, and
writing one. Pure: no database, no files.

Every transaction CareLoop exchanges with payers goes through here, whatever library
then reads its body: the envelope's counts and control numbers are checked before
anything is interpreted, so a truncated or spliced file is refused whole, with the
segment and its position named (X12.6: ISA is fixed width, and its 4th, 83rd, 105th and
106th characters give the element, repetition, component and segment separators).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from careloop.core.errors import DomainError

ISA_LENGTH = 106
#: Characters that may not appear in a value we write: they are the separators.
SEPARATORS = frozenset("*~^:")


class GroupFault(NamedTuple):
    """A fault of the functional group's envelope (GS/GE), as the 999's AK9 reports it:
    AK905 (3 trailer missing, 4 GE02 is not GS06, 5 GE01 miscounts the transaction sets),
    with the transaction sets GE01 says the group holds and those it does hold."""

    code: str
    included: int
    received: int


class X12FormatError(DomainError):
    """A file that is not a well-formed X12 interchange. ``segment`` and ``position``
    name where (position counts segments from 1 in the file; ``in_transaction`` from ST
    as 1, the way a 999 reports it)."""

    code = "x12_malformed"
    status = 422
    title = "The X12 file is malformed"

    def __init__(
        self,
        message: str,
        *,
        segment: str,
        position: int,
        in_transaction: int | None = None,
        control_number: str | None = None,
        element: int | None = None,
        syntax_code: str = "8",
        interchange_note: str | None = None,
        group_fault: GroupFault | None = None,
        element_code: str | None = None,
        set_code: str | None = None,
    ) -> None:
        where = f"segment {segment or '(none)'} at position {position}"
        if element is not None:
            where += f", element {element}"
        super().__init__(
            f"{where}: {message}",
            extra={
                "segment": segment,
                "position": position,
                "in_transaction": in_transaction,
                "control_number": control_number,
                "element": element,
            },
        )
        self.segment = segment
        self.position = position
        self.in_transaction = in_transaction
        self.control_number = control_number
        self.element = element
        # IK304 of a 999: 1 unrecognised segment, 2 unexpected, 3 required missing,
        # 5 exceeds maximum use, 8 has data element errors.
        self.syntax_code = syntax_code
        # A fault of the interchange's envelope (ISA/IEA) is answered by a TA1 with this
        # note code (TA105: 001 control numbers differ, 021 IEA01 miscounts the groups,
        # 023 the file ends early); one of the group's envelope by the 999's AK9.
        self.interchange_note = interchange_note
        self.group_fault = group_fault
        # IK403 of the element at fault (6 invalid character, 7 invalid code value ...).
        self.element_code = element_code
        # IK502 when the transaction set's own envelope is at fault (1 not supported,
        # 3 ST02/SE02 differ, 4 SE01 miscounts the segments): no IK3 loop then.
        self.set_code = set_code


class X12TooLargeError(X12FormatError):
    """A file over the clearinghouse's size limit, refused unread: no segment is named
    and nothing is acknowledged (no X12 code says 'too large'); the reason is kept."""

    code = "x12_too_large"
    title = "The X12 file is too large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__("", segment="", position=0)
        self.detail = (
            f"the file is {size:,} bytes; CareLoop reads files up to {limit:,} bytes "
            "(CARELOOP_CLEARINGHOUSE_MAX_FILE_BYTES): ask the sender to split it"
        )
        self.args = (self.detail,)


@dataclass(frozen=True, slots=True)
class Segment:
    tag: str
    elements: tuple[str, ...]
    #: 1-based position in the file.
    position: int

    def get(self, index: int) -> str:
        """Element ``index`` (1-based, as the guides number them), '' when absent."""
        return self.elements[index - 1] if 0 < index <= len(self.elements) else ""


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    repetition: str = "^"
    component: str = ":"
    segment: str = "~"


@dataclass(slots=True)
class Transaction:
    """ST ... SE: ``segments`` holds ST and SE too."""

    code: str
    control_number: str
    version: str
    segments: list[Segment] = field(default_factory=list)
    #: ISA16, the separator inside composite elements (HC:E1390).
    component: str = ":"

    @property
    def body(self) -> list[Segment]:
        return self.segments[1:-1]


@dataclass(slots=True)
class Interchange:
    sender_id: str
    receiver_id: str
    control_number: str
    created_at: str
    usage: str
    group_control_number: str
    functional_code: str
    delimiters: Delimiters
    transactions: list[Transaction]
    #: The TA1 segments of an interchange that carries interchange acknowledgments alone
    #: (no functional group); then ``transactions`` is empty.
    acknowledgments: list[Segment] = field(default_factory=list)


def read_interchange(text: str) -> Interchange:
    """Split and check an interchange: ISA, any TA1 interchange acknowledgments (X12.6
    lets them follow ISA, before the functional groups), one functional group (what a
    clearinghouse drop file holds), IEA. Raises :class:`X12FormatError` naming the first
    fault."""
    text = unwrapped(text)
    delimiters = _delimiters(text)
    segments = _split(text, delimiters)
    if segments[-1].tag != "IEA":
        raise X12FormatError(
            "the interchange does not end with IEA (truncated file?)",
            segment=segments[-1].tag,
            position=segments[-1].position,
            interchange_note="023",
        )
    isa, iea = segments[0], segments[-1]
    start = 1
    while start < len(segments) - 1 and segments[start].tag == "TA1":
        start += 1
    acknowledgments = segments[1:start]
    for envelope in (isa, *acknowledgments, iea):
        _check_characters(envelope)
    if start == len(segments) - 1 and not acknowledgments:
        _expect(segments, start, "GS")  # ISA and IEA alone: no group, no acknowledgment
    groups = _groups(segments, start)
    _check_interchange(isa, iea, groups=len(groups))
    for gs, body, ge in groups:
        _check_characters(gs)
        _check_characters(ge)
        _check_group(gs, body, ge)
    if len(groups) > 1:
        second = groups[1][0]
        raise X12FormatError(
            f"CareLoop reads one functional group per interchange; this one has {len(groups)}",
            segment="GS",
            position=second.position,
            interchange_note="024",
        )
    if not groups:
        return _interchange(
            isa,
            delimiters,
            group_control_number="",
            functional_code="",
            transactions=[],
            acknowledgments=acknowledgments,
        )
    gs, body, _ = groups[0]
    return _interchange(
        isa,
        delimiters,
        group_control_number=gs.get(6),
        functional_code=gs.get(1),
        transactions=_transactions(body, delimiters.component),
        acknowledgments=acknowledgments,
    )


def _groups(
    segments: Sequence[Segment], start: int
) -> list[tuple[Segment, list[Segment], Segment]]:
    """The functional groups (GS, the segments between, GE) from ``start`` to IEA. A
    group without its GE is refused with the 999's AK9 code 3."""
    end = len(segments) - 1  # IEA
    out: list[tuple[Segment, list[Segment], Segment]] = []
    index = start
    while index < end:
        gs = _expect(segments, index, "GS")
        close = index + 1
        while close < end and segments[close].tag not in {"GE", "GS"}:
            close += 1
        body = list(segments[index + 1 : close])
        if close == end or segments[close].tag != "GE":
            received = sum(1 for s in body if s.tag == "ST")
            last = segments[close - 1]
            raise X12FormatError(
                "GE expected here",
                segment=last.tag,
                position=last.position,
                group_fault=GroupFault("3", received, received),
            )
        out.append((gs, body, segments[close]))
        index = close + 1
    return out


def _check_group(gs: Segment, body: Sequence[Segment], ge: Segment) -> None:
    """The group's own envelope: GE02 against GS06, GE01 against the transaction sets
    (each fault in the 999's AK9 with its code)."""
    received = sum(1 for s in body if s.tag == "ST")
    included = int(ge.get(1)) if ge.get(1).isdigit() else received
    if ge.get(2) != gs.get(6):
        raise X12FormatError(
            f"GE02 {ge.get(2)!r} does not match GS06 {gs.get(6)!r}",
            segment="GE",
            position=ge.position,
            element=2,
            group_fault=GroupFault("4", included, received),
        )
    if ge.get(1) != str(received):
        raise X12FormatError(
            f"GE01 says {ge.get(1)!r} transaction sets; the group has {received}",
            segment="GE",
            position=ge.position,
            element=1,
            group_fault=GroupFault("5", included, received),
        )


def _check_interchange(isa: Segment, iea: Segment, *, groups: int) -> None:
    """The interchange's own envelope: ISA's width, IEA02 against ISA13, IEA01 against
    the ``groups`` the file holds (each fault with the TA1 note that answers it)."""
    if len(isa.elements) != 16:
        raise X12FormatError(
            f"ISA has {len(isa.elements)} elements, 16 expected", segment="ISA", position=1
        )
    for element, valid, rule, note in _isa_rules(isa):
        if not valid:
            raise X12FormatError(
                f"ISA{element:02d} {isa.get(element)!r}: {rule}",
                segment="ISA",
                position=1,
                element=element,
                interchange_note=note,
            )
    if iea.get(2) != isa.get(13):
        raise X12FormatError(
            f"IEA02 {iea.get(2)!r} does not match ISA13 {isa.get(13)!r}",
            segment="IEA",
            position=iea.position,
            element=2,
            interchange_note="001",
        )
    if iea.get(1) != str(groups):
        holds = "none" if groups == 0 else str(groups)
        raise X12FormatError(
            f"IEA01 says {iea.get(1)!r} functional groups; this file has {holds}",
            segment="IEA",
            position=iea.position,
            element=1,
            interchange_note="021",
        )


def _isa_rules(isa: Segment) -> list[tuple[int, bool, str, str]]:
    """ISA's coded elements (X12.6), each with the rule and the TA1 note of its fault."""

    def moment(value: str, pattern: str) -> bool:
        try:
            datetime.strptime(value, pattern)
        except ValueError:
            return False
        return True

    return [
        (9, moment(isa.get(9), "%y%m%d"), "the interchange date is YYMMDD", "014"),
        (10, moment(isa.get(10), "%H%M"), "the interchange time is HHMM", "015"),
        (12, isa.get(12) == "00501", "CareLoop reads version 00501", "017"),
        (
            13,
            len(isa.get(13)) == 9 and isa.get(13).isdigit(),
            "the control number is nine digits",
            "018",
        ),
        (14, isa.get(14) in {"0", "1"}, "an acknowledgment is requested with 0 or 1", "019"),
        (15, isa.get(15) in {"P", "T"}, "the usage is P (production) or T (test)", "020"),
    ]


def _interchange(isa: Segment, delimiters: Delimiters, **rest: Any) -> Interchange:
    """The interchange ISA heads, with the rest of what was read."""
    return Interchange(
        sender_id=isa.get(6).strip(),
        receiver_id=isa.get(8).strip(),
        control_number=isa.get(13),
        created_at=isa.get(9) + isa.get(10),
        usage=isa.get(15),
        delimiters=delimiters,
        **rest,
    )


def canonical(text: str, delimiters: Delimiters) -> str:
    """The interchange with X12's usual separators (``*`` ``^`` ``:``, ``~`` and a line
    break after each segment), as the readers behind the envelope take it: x12sdk drops
    line breaks before it splits segments, so a file whose segments end with a line break
    would read as no transaction at all. Unchanged when a value holds one of the usual
    separators (the file's own separators could then not be told apart from it)."""
    text = unwrapped(text)
    segments = [s for s in (c.strip("\r\n ") for c in text.strip().split(delimiters.segment)) if s]
    if delimiters != Delimiters():
        own = {delimiters.element, delimiters.repetition, delimiters.component}
        if any(ch in s for s in segments for ch in "*^:~" if ch not in own):
            return text
        table = str.maketrans(
            {delimiters.element: "*", delimiters.repetition: "^", delimiters.component: ":"}
        )
        segments = [s.translate(table) for s in segments]
    return "~\n".join(segments) + "~\n"


def unwrapped(text: str) -> str:
    """The interchange without the line breaks some senders wrap it with (every 80
    characters, or after each segment), unless a line break is its segment terminator
    (the character after ISA16): line breaks are no X12 data characters."""
    head = text.lstrip()[:ISA_LENGTH]
    isa, terminator = head[:-1], head[-1:]
    if len(head) == ISA_LENGTH and terminator in "\r\n" and not any(c in isa for c in "\r\n"):
        return text
    return text.replace("\r", "").replace("\n", "")


def _delimiters(text: str) -> Delimiters:
    head = text.lstrip()[:ISA_LENGTH]
    if not head.startswith("ISA") or len(head) < ISA_LENGTH:
        raise X12FormatError(
            "the file does not start with a complete ISA segment (106 characters)",
            segment=head[:3],
            position=1,
        )
    found = Delimiters(element=head[3], repetition=head[82], component=head[104], segment=head[105])
    if len({found.element, found.repetition, found.component, found.segment}) != 4:
        raise X12FormatError(
            "the ISA separators are not four distinct characters", segment="ISA", position=1
        )
    return found


def _split(text: str, d: Delimiters) -> list[Segment]:
    out: list[Segment] = []
    for chunk in text.strip().split(d.segment):
        raw = chunk.strip("\r\n ")
        if not raw:
            continue
        tag, *elements = raw.split(d.element)
        if not tag.isalnum() or not 2 <= len(tag) <= 3:
            raise X12FormatError(
                f"{tag[:10]!r} is not a segment identifier", segment=tag[:3], position=len(out) + 1
            )
        out.append(Segment(tag, tuple(elements), len(out) + 1))
    return out


def _expect(segments: Sequence[Segment], index: int, tag: str) -> Segment:
    if not 0 <= index < len(segments) or segments[index].tag != tag:
        got = segments[index] if 0 <= index < len(segments) else segments[-1]
        raise X12FormatError(f"{tag} expected here", segment=got.tag, position=got.position)
    return segments[index]


def _transactions(segments: Sequence[Segment], component: str) -> list[Transaction]:
    out: list[Transaction] = []
    current: Transaction | None = None
    for seg in segments:
        if seg.tag == "ST":
            if current is not None:
                raise X12FormatError(
                    "ST before the previous transaction's SE", segment="ST", position=seg.position
                )
            current = Transaction(seg.get(1), seg.get(2), seg.get(3), [seg], component)
            _check_characters(seg, current)
            continue
        if current is None:
            raise X12FormatError(
                "segment outside a transaction set (ST ... SE)",
                segment=seg.tag,
                position=seg.position,
                syntax_code="2",
            )
        current.segments.append(seg)
        _check_characters(seg, current)
        if seg.tag == "SE":
            _check_trailer(current, seg)
            out.append(current)
            current = None
    if current is not None:
        last = current.segments[-1]
        raise X12FormatError(
            f"transaction set {current.control_number} has no SE",
            segment=last.tag,
            position=last.position,
            in_transaction=len(current.segments),
            control_number=current.control_number,
            set_code="2",
        )
    return out


#: X12's basic and extended character sets are printable ASCII (X12.6 section 3.3).
_X12_CHARACTERS = frozenset(chr(c) for c in range(0x20, 0x7F))


def _check_characters(seg: Segment, transaction: Transaction | None = None) -> None:
    """Refuse a segment holding a character outside X12's character sets (a byte that is
    not ASCII, read as U+FFFD, or a control character): the 999 names the segment and the
    element (IK403 6, invalid character); in the envelope itself, a TA1 (024)."""
    for index, value in enumerate(seg.elements, start=1):
        bad = next((ch for ch in value if ch not in _X12_CHARACTERS), None)
        if bad is None:
            continue
        shown = "a byte that is not ASCII" if bad == "\ufffd" else f"U+{ord(bad):04X}"
        message = f"{shown} in {seg.tag}{index:02d}: X12 carries printable ASCII characters only"
        if transaction is None:
            raise X12FormatError(
                message,
                segment=seg.tag,
                position=seg.position,
                element=index,
                interchange_note="024",
            )
        raise X12FormatError(
            message,
            segment=seg.tag,
            position=seg.position,
            in_transaction=len(transaction.segments),
            control_number=transaction.control_number,
            element=index,
            element_code="6",
        )


def _check_trailer(t: Transaction, se: Segment) -> None:
    if se.get(2) != t.control_number:
        raise X12FormatError(
            f"SE02 {se.get(2)!r} does not match ST02 {t.control_number!r}",
            segment="SE",
            position=se.position,
            in_transaction=len(t.segments),
            control_number=t.control_number,
            element=2,
            set_code="3",
        )
    if se.get(1) != str(len(t.segments)):
        raise X12FormatError(
            f"SE01 says {se.get(1)!r} segments; the transaction set has {len(t.segments)}",
            segment="SE",
            position=se.position,
            in_transaction=len(t.segments),
            control_number=t.control_number,
            element=1,
            set_code="4",
        )


# ---- writing ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Party:
    """An interchange party: ISA05/06 (or 07/08) and the GS application code."""

    qualifier: str
    id: str


def clean(value: str, *, limit: int = 60) -> str:
    """A value as X12 may carry it: the basic and extended character sets are ASCII, so
    letters are folded to their ASCII base (É to E) and what has none is dropped; upper
    case, no separators, at most ``limit`` long."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    text = "".join(" " if ch in SEPARATORS or not ch.isprintable() else ch for ch in folded)
    return " ".join(text.upper().split())[:limit].strip()


def segment(tag: str, *elements: str) -> str:
    """One segment as text, trailing empty elements dropped (X12.6)."""
    values = list(elements)
    while values and values[-1] == "":
        values.pop()
    return "*".join([tag, *values])


def write_interchange(
    *,
    functional_code: str,
    version: str,
    transactions: Sequence[tuple[str, Sequence[str]]],
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
    usage: str = "T",
) -> str:
    """ISA/GS around ``transactions`` (each its ST01 code and body segments, without ST
    and SE), with SE01, GE01 and IEA01 counted and control numbers paired."""
    isa_control = f"{control_number:09d}"
    lines = [
        _isa(sender, receiver, isa_control, created, usage),
        segment(
            "GS",
            functional_code,
            sender.id.strip(),
            receiver.id.strip(),
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(control_number),
            "X",
            version,
        ),
    ]
    for index, (code, body) in enumerate(transactions, start=1):
        st_control = f"{index:04d}"
        lines.append(segment("ST", code, st_control, version))
        lines.extend(body)
        lines.append(segment("SE", str(len(body) + 2), st_control))
    lines.append(segment("GE", str(len(transactions)), str(control_number)))
    lines.append(segment("IEA", "1", isa_control))
    return "~\n".join(lines) + "~\n"


def write_ta1(
    ta1: str,
    *,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
    usage: str = "T",
) -> str:
    """An interchange that carries a TA1 alone: no functional group, so IEA01 is 0."""
    isa_control = f"{control_number:09d}"
    lines = [_isa(sender, receiver, isa_control, created, usage), ta1]
    lines.append(segment("IEA", "0", isa_control))
    return "~\n".join(lines) + "~\n"


def _isa(sender: Party, receiver: Party, control: str, created: datetime, usage: str) -> str:
    return "*".join(
        [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            sender.qualifier,
            sender.id.ljust(15)[:15],
            receiver.qualifier,
            receiver.id.ljust(15)[:15],
            created.strftime("%y%m%d"),
            created.strftime("%H%M"),
            "^",
            "00501",
            control,
            "0",
            usage,
            ":",
        ]
    )
