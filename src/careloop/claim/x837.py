"""The 837P (005010X222A1) a claim leaves as, and pyx12's verdict on it.

Pure: no database, no files. The envelope is written here (ISA/GS/ST ... SE/GE/IEA, the
same X12.6 layout the clearinghouse writes); names are folded to X12's character set
the way the clearinghouse folds them (É to E; a name with no ASCII base is sent as
UNKNOWN, the member being identified by the member id). Nothing leaves without
:func:`validate` returning no errors.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pyx12.params
import pyx12.x12n_document

from careloop.claim.rules import PricedLine

VERSION = "005010X222A1"
SEPARATORS = frozenset("*~^:")


def clean(value: str, *, limit: int = 60) -> str:
    """ASCII upper case without separators, at most ``limit`` long."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    text = "".join(" " if ch in SEPARATORS or not ch.isprintable() else ch for ch in folded)
    return " ".join(text.upper().split())[:limit].strip()


def name(value: str, *, limit: int = 60, least: int = 1) -> str:
    """A name as X12 takes it; UNKNOWN when folding leaves less than ``least`` letters
    (the guide's minimum length)."""
    text = clean(value, limit=limit)
    return text if len(text) >= least else "UNKNOWN"


def ident(value: str, *, limit: int = 80) -> str:
    """An identifier (NM109, GS02/03 ...): the guides want at least two characters."""
    return name(value, limit=limit, least=2)


def segment(tag: str, *elements: str) -> str:
    values = list(elements)
    while values and values[-1] == "":
        values.pop()
    return "*".join([tag, *values])


def amount(value: Decimal) -> str:
    """X12 R type: no trailing zeros after the point, no point when whole."""
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    npi: str
    taxonomy: str
    #: For an organisation; a person's name is ``last`` and ``first``.
    organization: bool = True
    first: str = ""


@dataclass(frozen=True, slots=True)
class Claim837:
    claim_number: str
    submitter_name: str
    submitter_id: str
    submitter_phone: str
    receiver_name: str
    receiver_id: str
    billing: Provider
    billing_tax_id: str
    billing_address: str
    billing_city: str
    billing_state: str
    billing_zip: str
    rendering: Provider | None
    member_last: str
    member_first: str
    member_id: str
    member_birth_date: date
    member_sex: str
    group_number: str
    payer_name: str
    payer_id: str
    filing_indicator: str
    diagnoses: tuple[str, ...]
    lines: tuple[PricedLine, ...]
    total: Decimal
    authorization_number: str | None
    place_of_service: str = "12"


def _zip(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits if len(digits) == 9 else (digits[:5] + "9998").ljust(9, "0")


def _icd(code: str) -> str:
    return code.replace(".", "").upper()


def body(c: Claim837, *, created: datetime) -> list[str]:
    """The transaction's segments between ST and SE."""
    out = [
        segment(
            "BHT",
            "0019",
            "00",
            clean(c.claim_number, limit=50),
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            "CH",
        ),
        segment(
            "NM1", "41", "2", name(c.submitter_name), "", "", "", "", "46", ident(c.submitter_id)
        ),
        segment(
            "PER",
            "IC",
            name(c.submitter_name, limit=60),
            "TE",
            "".join(ch for ch in c.submitter_phone if ch.isdigit()) or "0000000000",
        ),
        segment(
            "NM1", "40", "2", name(c.receiver_name), "", "", "", "", "46", ident(c.receiver_id)
        ),
        segment("HL", "1", "", "20", "1"),
        segment("PRV", "BI", "PXC", c.billing.taxonomy),
        segment(
            "NM1",
            "85",
            "2" if c.billing.organization else "1",
            name(c.billing.name),
            "" if c.billing.organization else name(c.billing.first, limit=35),
            "",
            "",
            "",
            "XX",
            c.billing.npi,
        ),
        segment("N3", name(c.billing_address, limit=55)),
        segment(
            "N4",
            name(c.billing_city, limit=30, least=2),
            clean(c.billing_state, limit=2),
            _zip(c.billing_zip),
        ),
        segment("REF", "EI", "".join(ch for ch in c.billing_tax_id if ch.isdigit())),
        segment("HL", "2", "1", "22", "0"),
        segment(
            "SBR",
            "P",
            "18",
            clean(c.group_number, limit=50),
            "",
            "",
            "",
            "",
            "",
            c.filing_indicator,
        ),
        segment(
            "NM1",
            "IL",
            "1",
            name(c.member_last),
            clean(c.member_first, limit=35),
            "",
            "",
            "",
            "MI",
            ident(c.member_id),
        ),
        segment(
            "DMG",
            "D8",
            c.member_birth_date.strftime("%Y%m%d"),
            c.member_sex if c.member_sex in ("F", "M") else "U",
        ),
        segment("NM1", "PR", "2", name(c.payer_name), "", "", "", "", "PI", ident(c.payer_id)),
        segment(
            "CLM",
            clean(c.claim_number, limit=38),
            amount(c.total),
            "",
            "",
            f"{c.place_of_service}:B:1",
            "Y",
            "A",
            "Y",
            "Y",
        ),
    ]
    if c.authorization_number:
        out.append(segment("REF", "G1", clean(c.authorization_number, limit=50)))
    codes = [f"{'ABK' if i == 0 else 'ABF'}:{_icd(dx)}" for i, dx in enumerate(c.diagnoses)]
    out.append(segment("HI", *codes))
    if c.rendering is not None and c.rendering.npi != c.billing.npi:
        out.append(
            segment(
                "NM1",
                "82",
                "2" if c.rendering.organization else "1",
                name(c.rendering.name),
                "" if c.rendering.organization else clean(c.rendering.first, limit=35),
                "",
                "",
                "",
                "XX",
                c.rendering.npi,
            )
        )
        out.append(segment("PRV", "PE", "PXC", c.rendering.taxonomy))
    for number, line in enumerate(c.lines, start=1):
        procedure = ":".join(["HC", line.code, *line.modifiers])
        out.append(segment("LX", str(number)))
        out.append(
            segment(
                "SV1",
                procedure,
                amount(line.charge),
                "UN",
                str(line.units),
                "",
                "",
                ":".join(str(p) for p in line.pointers),
            )
        )
        out.append(segment("DTP", "472", "D8", line.service_date.strftime("%Y%m%d")))
    return out


def write(c: Claim837, *, control_number: int, created: datetime, usage: str = "T") -> str:
    """The whole interchange: ISA/GS around one 837P, counts and control numbers paired."""
    inner = body(c, created=created)
    transaction = [
        segment("ST", "837", "0001", VERSION),
        *inner,
        segment("SE", str(len(inner) + 2), "0001"),
    ]
    return _envelope(
        transaction,
        sender=("ZZ", ident(c.submitter_id, limit=15)),
        receiver=("ZZ", ident(c.receiver_id, limit=15)),
        control_number=control_number,
        created=created,
        usage=usage,
    )


def reenvelope(
    text: str,
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control_number: int,
    created: datetime,
) -> str:
    """The 837P transaction set of a stored interchange (ST ... SE, unchanged) in a new
    envelope: the clearinghouse's sender and receiver ids (qualifier, id) and its own
    interchange and group control number, so a payer's 999 names the file it answers."""
    head = text.lstrip()
    if not head.startswith("ISA") or len(head) < 106:
        raise ValueError("the stored claim is not an X12 interchange")
    element, terminator = head[3], head[105]
    raw = [s.strip("\r\n ") for s in head.split(terminator)]
    segments = [s for s in raw if s]
    tags = [s.split(element, 1)[0] for s in segments]
    if "ST" not in tags or "SE" not in tags:
        raise ValueError("the stored claim has no ST ... SE transaction set")
    transaction = [
        s.replace(element, "*") for s in segments[tags.index("ST") : tags.index("SE") + 1]
    ]
    usage = head.split(element)[15][:1] if head.count(element) > 15 else "T"
    return _envelope(
        transaction,
        sender=(sender[0], ident(sender[1], limit=15)),
        receiver=(receiver[0], ident(receiver[1], limit=15)),
        control_number=control_number,
        created=created,
        usage=usage or "T",
    )


def _envelope(
    transaction: Sequence[str],
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control_number: int,
    created: datetime,
    usage: str,
) -> str:
    isa = f"{control_number:09d}"
    lines = [
        "*".join(
            [
                "ISA",
                "00",
                " " * 10,
                "00",
                " " * 10,
                sender[0],
                sender[1].ljust(15),
                receiver[0],
                receiver[1].ljust(15),
                created.strftime("%y%m%d"),
                created.strftime("%H%M"),
                "^",
                "00501",
                isa,
                "0",
                usage,
                ":",
            ]
        ),
        segment(
            "GS",
            "HC",
            sender[1],
            receiver[1],
            created.strftime("%Y%m%d"),
            created.strftime("%H%M"),
            str(control_number),
            "X",
            VERSION,
        ),
        *transaction,
        segment("GE", "1", str(control_number)),
        segment("IEA", "1", isa),
    ]
    return "~\n".join(lines) + "~\n"


@dataclass(frozen=True, slots=True)
class X12Problem:
    """One error pyx12 found: where (segment, line) and what."""

    segment: str
    line: int | None
    code: str
    message: str

    def __str__(self) -> str:
        if not self.segment:
            return self.message
        where = f"segment {self.segment}" + (f" (line {self.line})" if self.line else "")
        return f"{where}: {self.message}"


def validate(text: str) -> list[X12Problem]:
    """pyx12's errors for an interchange against its implementation guide map (the
    837P, 835, ... it declares); an empty list means it may leave."""
    report = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(),
        src_file=io.StringIO(text),
        fd_997=None,
        fd_html=None,
        fd_xmldoc=None,
        fd_json=report,
        map_path=None,
    )
    problems = _problems(report.getvalue())
    if not ok and not problems:
        problems.append(
            X12Problem(
                "",
                None,
                "",
                "the file is not a valid X12 interchange (its ISA header is incomplete or damaged)",
            )
        )
    return problems


def _problems(raw: str) -> list[X12Problem]:
    out: list[X12Problem] = []
    if not raw.strip():
        return out
    try:
        data = json.loads(raw)
    except ValueError:
        return [X12Problem("", None, "", "pyx12 reported errors it could not describe")]
    _walk(data, out)
    return out


def _walk(node: object, out: list[X12Problem], seg: str = "", line: int | None = None) -> None:
    """pyx12's JSON report nests interchanges, groups, transactions, segments and
    elements, each with its ``errors`` (``err_cde``, ``err_str``)."""
    if isinstance(node, dict):
        seg = str(node.get("seg_id") or seg)
        line = _int(node.get("cur_line")) if node.get("cur_line") is not None else line
        for error in node.get("errors") or ():
            if isinstance(error, dict):
                out.append(
                    X12Problem(
                        segment=seg,
                        line=line,
                        code=str(error.get("err_cde", "")),
                        message=str(error.get("err_str", "")),
                    )
                )
        for key, value in node.items():
            if key != "errors":
                _walk(value, out, seg, line)
    elif isinstance(node, list):
        for value in node:
            _walk(value, out, seg, line)


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def fold_names(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(name(v) for v in values)
