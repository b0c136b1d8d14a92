"""Reading a faxed order: the labels and patterns that find each field in the text of
the pages (from the PDF's text layer, or from OCR), and how sure each finding is.

Pure: lines of text in, fields out. Each field is named by the referral form's input
(``member.birth_date``, ``diagnoses.0.code``) with the page and line it was read from
and a confidence between 0 and 1: the reading's own (1 for a text layer, the OCR's word
confidence otherwise), lowered when the value fails its own check (an NPI's check digit,
an ICD-10-CM code that does not exist, a date that is not one). A person confirms every
draft; nothing read here is ever submitted on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from careloop.codes import Icd10Status, check_icd10, is_valid_npi, lookup_hcpcs, normalise_icd10


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a page as read: its page (from 1), its number on the page (from 1),
    its text, and how sure the reading of it is (0 to 1)."""

    page: int
    number: int
    text: str
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Found:
    field: str
    value: str
    page: int
    line: int
    confidence: float


#: What a field's confidence is called on the screen.
def sureness(confidence: float) -> str:
    if confidence >= 0.85:
        return "sure"
    if confidence >= 0.6:
        return "fairly sure"
    return "unsure: check it"


# ---- the labels a faxed order uses, field by field -----------------------------------------

_SEP = r"\s*[:#.\-]?\s*"
_DATE = r"(\d{1,2}[/\-.]\d{1,2}[/\-.]\d{2,4}|\d{4}-\d{2}-\d{2})"


def _label(*names: str) -> str:
    return r"(?:" + "|".join(names) + r")" + _SEP


NAME = re.compile(
    r"(?:^|\b)"
    + _label(r"patient(?:\s+name)?", r"member(?:\s+name)?", r"^name")
    + r"(?P<v>[^\d:]{2,80})",
    re.I,
)
BIRTH = re.compile(_label(r"d\.?o\.?b\.?", r"date\s+of\s+birth", r"birth\s*date") + _DATE, re.I)
PHONE = re.compile(
    _label(r"(?:patient\s+|member\s+|home\s+)?phone", r"tel")
    + r"(?P<v>\(?\d{3}\)?[\s.\-]*\d{3}[\s.\-]*\d{4})",
    re.I,
)
ADDRESS = re.compile(
    _label(r"address", r"addr")
    + r"(?P<line1>[^,]{3,80})[,.]\s*(?P<city>[^,.]{2,40})[,.]\s*(?P<state>[A-Z]{2})[,.]?\s+"
    + r"(?P<zip>[\dOo]{5})",
    re.I,
)
PAYER = re.compile(_label(r"payer", r"insurance", r"plan", r"insurer") + r"(?P<v>.{2,80})", re.I)
PAYER_CODE = re.compile(r"\(([A-Z0-9]{2,10})\)")
MEMBER_ID = re.compile(
    _label(r"member\s*id", r"subscriber\s*id", r"policy\s*(?:no|number|#)?", r"id\s*(?:no|#)")
    + r"(?P<v>[A-Z0-9\-]{5,20})",
    re.I,
)
NPI = re.compile(r"\bNPI" + _SEP + r"(?P<v>\d{10})\b", re.I)
ORDERING = re.compile(
    r"(?:ordering\s+(?:physician|provider|clinician)|physician|prescriber)\s*:\s*"
    + r"(?P<v>[^\d,;]{3,80})",
    re.I,
)
SIGNED = re.compile(
    _label(r"date\s+signed", r"signed(?:\s+on)?", r"signature\s+date") + _DATE, re.I
)
START = re.compile(
    _label(r"start\s+date", r"requested\s+start", r"start\s+of\s+care") + _DATE, re.I
)
ICD10 = re.compile(r"\b([A-TV-Z1][0-9OIl][0-9ABOIl](?:\.\s?|\.)?[0-9A-TV-Z]{0,4})\b")
HCPCS = re.compile(r"\b([A-V][\dOIl]{4})\b")
#: What OCR reads for a digit (and for a letter where a code must have one).
_AS_DIGIT = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "L": "1", "S": "5", "B": "8"})
QUANTITY = re.compile(r"\b(?:qty|quantity)" + _SEP + r"(\d{1,3})\b", re.I)
ICD_LINE = re.compile(r"\b(?:dx|diagnos[ie]s|icd[\s\-]?10(?:[\s\-]?cm)?)\b", re.I)
ITEM_LINE = re.compile(r"\b(?:hcpcs|item|equipment|dme|supply|service)\b", re.I)

#: A lowered confidence for a value that fails its own check.
DOUBT = 0.5


def _date(text: str) -> str | None:
    """A date as written on an order (US month first), as ISO; None if it is not one."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
    try:
        if match:
            return date(int(match[1]), int(match[2]), int(match[3])).isoformat()
        month, day, year = (int(p) for p in re.split(r"[/\-.]", text))
        if year < 100:
            year += 1900 if year > 30 else 2000
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _clean_name(text: str) -> str:
    """A name as printed, without what OCR adds (quotes, stray marks, a colon for a dot)."""
    text = re.sub(r"[^\w .,'\-]", "", text)
    text = re.sub(r"\b(Dr|Mr|Mrs|Ms)\s*[.:,]?\s*(?=[A-Z])", r"\1. ", text)
    text = re.sub(r"(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)[.:]\s+(?=[A-Z])", " ", text)
    return re.sub(r"\s{2,}", " ", text.strip(" .,;:-_|")).strip()


def _icd10_candidates(raw: str) -> list[str]:
    """The code as read, then with OCR's usual confusions undone (1 for I first, O for
    0 and L for 1 after it; a space after the dot closed)."""
    raw = raw.replace(" ", "")
    head = {"1": "I", "0": "O"}.get(raw[0], raw[0])
    tail = raw[1:3].translate(_AS_DIGIT)
    rest = raw[3:]
    fixed = head + tail + rest.replace("L", "1").replace("l", "1").replace("O", "0")
    return list(dict.fromkeys([raw, fixed]))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def extract(lines: Iterable[Line]) -> list[Found]:
    """Every field found in the lines, first reading of each field kept (the order's
    header comes before its notes); diagnoses and items as many as are listed."""
    found: dict[str, Found] = {}
    diagnoses: list[Found] = []
    items: list[Found] = []
    quantities: list[Found] = []

    def keep(field: str, value: str | None, line: Line, ok: bool = True) -> None:
        if not value or field in found:
            return
        confidence = round(line.confidence * (1.0 if ok else DOUBT), 3)
        found[field] = Found(field, value, line.page, line.number, confidence)

    for line in lines:
        for pattern, handler in _SINGLE:
            match = pattern.search(line.text)
            if match:
                handler(match, line, keep)
        if ICD_LINE.search(line.text):
            _diagnoses(line, diagnoses)
        elif ITEM_LINE.search(line.text):
            _items(line, items, quantities)
    out = list(found.values())
    for n, d in enumerate(diagnoses[:4]):
        out.append(Found(f"diagnoses.{n}.code", d.value, d.page, d.line, round(d.confidence, 3)))
    for n, (i, q) in enumerate(zip(items[:3], quantities[:3], strict=True)):
        out.append(Found(f"items.{n}.code", i.value, i.page, i.line, round(i.confidence, 3)))
        if q.value:
            out.append(
                Found(f"items.{n}.quantity", q.value, q.page, q.line, round(q.confidence, 3))
            )
    return out


Keep = Callable[[str, str | None, Line, bool], None]


def _diagnoses(line: Line, diagnoses: list[Found]) -> None:
    text = re.sub(r"(?<=\.)\s+(?=[0-9A-Z])", "", line.text)
    for code in ICD10.findall(text):
        candidates = [normalise_icd10(c) for c in _icd10_candidates(code)]
        checked = [(c, check_icd10(c).status) for c in candidates]
        normalised, status = next(
            ((c, s) for c, s in checked if s is Icd10Status.billable), checked[-1]
        )
        if any(d.value == normalised for d in diagnoses):
            continue
        if status in (Icd10Status.malformed, Icd10Status.unknown) and "." not in code:
            continue  # a word that looks like a code, not a code
        sure = line.confidence * (1 if status is Icd10Status.billable else DOUBT)
        diagnoses.append(Found("", normalised, line.page, line.number, sure))


def _items(line: Line, items: list[Found], quantities: list[Found]) -> None:
    for raw in HCPCS.findall(line.text):
        code = raw[0].upper() + raw[1:].translate(_AS_DIGIT)
        if any(i.value == code for i in items):
            continue
        sure = line.confidence * (1 if lookup_hcpcs(code) is not None else DOUBT)
        items.append(Found("", code, line.page, line.number, sure))
        qty = QUANTITY.search(line.text)
        quantities.append(Found("", qty[1] if qty else "", line.page, line.number, line.confidence))


def _name(match: re.Match[str], line: Line, keep: Keep) -> None:
    raw = _clean_name(re.split(r"\s{2,}|\b(?:DOB|D\.O\.B|Sex|Phone)\b", match["v"], flags=re.I)[0])
    if "," in raw:
        last, _, first = raw.partition(",")
    else:
        first, _, last = raw.rpartition(" ")
    first, last = _clean_name(first).title(), _clean_name(last).title()
    if first and last:
        keep("member.first_name", first, line, True)
        keep("member.last_name", last, line, True)


def _birth(match: re.Match[str], line: Line, keep: Keep) -> None:
    value = _date(match[1])
    keep("member.birth_date", value or match[1], line, value is not None)


def _phone(match: re.Match[str], line: Line, keep: Keep) -> None:
    digits = _digits(match["v"])
    keep("member.phone", f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", line, len(digits) == 10)


def _address(match: re.Match[str], line: Line, keep: Keep) -> None:
    street = re.sub(r"^(\d+)[.:,]", r"\1", _clean_name(match["line1"]))
    keep("member.address.line1", street, line, True)
    keep("member.address.city", _clean_name(match["city"]).title(), line, True)
    keep("member.address.state", match["state"].upper(), line, True)
    keep("member.address.zip", match["zip"].translate(_AS_DIGIT), line, True)


def _payer(match: re.Match[str], line: Line, keep: Keep) -> None:
    code = PAYER_CODE.search(match["v"])
    if code:
        keep("coverage.payer_id", code[1], line, True)


def _member_id(match: re.Match[str], line: Line, keep: Keep) -> None:
    keep("coverage.member_id", match["v"].upper(), line, True)


def _npi(match: re.Match[str], line: Line, keep: Keep) -> None:
    keep("ordering_provider.npi", match["v"], line, is_valid_npi(match["v"]))


def _ordering(match: re.Match[str], line: Line, keep: Keep) -> None:
    name = _clean_name(re.split(r"\bNPI\b", match["v"], flags=re.I)[0])
    if len(name) >= 3:
        keep("ordering_provider.name", name, line, True)


def _signed(match: re.Match[str], line: Line, keep: Keep) -> None:
    value = _date(match[1])
    keep("signed_order.signed_on", value or match[1], line, value is not None)


def _start(match: re.Match[str], line: Line, keep: Keep) -> None:
    value = _date(match[1])
    keep("requested_start", value or match[1], line, value is not None)


_SINGLE: list[tuple[re.Pattern[str], Callable[[re.Match[str], Line, Keep], None]]] = [
    (BIRTH, _birth),
    (NAME, _name),
    (PHONE, _phone),
    (ADDRESS, _address),
    (PAYER, _payer),
    (MEMBER_ID, _member_id),
    (ORDERING, _ordering),
    (NPI, _npi),
    (SIGNED, _signed),
    (START, _start),
]
