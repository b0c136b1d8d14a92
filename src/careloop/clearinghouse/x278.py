"""The 278 health care services review, request and response (ASC X12N 005010X217), as
far as CareLoop needs it: no maintained Python library covers the 278, so this module
builds and reads its segments. Pure: no database, no files.

The hierarchy (HL) is the guide's: 2000A the payer as utilisation management
organisation (NM1*X3), 2000B the requester (NM1*1P), 2000C the subscriber (NM1*IL, DMG),
2000E the patient event (TRN, UM, HCR, HI, DTP, MSG) and one 2000F per service line
(TRN, UM, HCR, DTP*472, SV1 or SV2, HSD). The member is always the subscriber here
(2000D, the dependent, is read but not written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from careloop.clearinghouse import rules
from careloop.clearinghouse.envelope import (
    Party,
    Segment,
    Transaction,
    X12FormatError,
    clean,
    segment,
    write_interchange,
)

ORIGINATOR = "9CARELOOP0"  # TRN03: '9' + the originating company's own identifier


@dataclass(frozen=True, slots=True)
class Frequency:
    """HSD: ``quantity`` of ``unit`` (VS visits, UN units) per ``period`` (7 day,
    34 month, 35 week ...) for ``periods`` periods."""

    quantity: int
    unit: str = "VS"
    period: str = "35"
    periods: int | None = None


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    line: int
    code: str
    units: int
    service_type: str
    start: date
    end: date
    frequency: Frequency | None = None
    institutional: bool = False
    code_qualifier: str = "HC"  # HCPCS / CPT


@dataclass(frozen=True, slots=True)
class Parties:
    payer_name: str
    payer_id: str
    requester_name: str
    requester_npi: str
    member_last: str
    member_first: str
    member_id: str
    birth_date: date | None
    sex: str | None  # F, M or U


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    trace: str
    reference: str
    created: datetime
    parties: Parties
    service_type: str
    diagnoses: tuple[str, ...]
    services: tuple[ServiceRequest, ...]
    expedited: bool = False


@dataclass(frozen=True, slots=True)
class ServiceDecision:
    line: int
    code: str
    action: rules.Action
    units: int | None
    certification_number: str | None = None
    reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """An AAA of a 278 response: the payer refused the request without reviewing it,
    for ``code`` (AAA03) found in ``level`` (HL03 of the loop that holds it)."""

    level: str
    code: str
    follow_up: str = ""


@dataclass(frozen=True, slots=True)
class ReviewResponse:
    trace: str  # the requester's TRN02, echoed (TRN01 = 2); '' when 2000E is absent
    payer_trace: str
    reference: str  # BHT03, the request's, echoed
    created: datetime
    parties: Parties
    service_type: str
    action: rules.Action | None  # None when the request was refused (``rejections``)
    certification_number: str | None
    reason_code: str | None
    valid_from: date | None
    valid_to: date | None
    message: str | None
    contact: str | None  # PER in 2010A: the UMO's contact (peer-to-peer review)
    services: tuple[ServiceDecision, ...]
    rejections: tuple[Rejection, ...] = ()


# ---- writing ------------------------------------------------------------------------


def _d8(day: date) -> str:
    return day.strftime("%Y%m%d")


def _period(qualifier: str, start: date, end: date | None) -> str:
    if end is None or end == start:
        return segment("DTP", qualifier, "D8", _d8(start))
    return segment("DTP", qualifier, "RD8", f"{_d8(start)}-{_d8(end)}")


def _parties(p: Parties, *, response: bool, contact: str | None = None) -> list[str]:
    out = [
        segment("HL", "1", "", "20", "1"),
        segment("NM1", "X3", "2", clean(p.payer_name), "", "", "", "", "PI", clean(p.payer_id)),
    ]
    if response and contact:
        out.append(segment("PER", "IC", clean(contact, limit=60)))
    out += [
        segment("HL", "2", "1", "21", "1"),
        segment("NM1", "1P", "2", clean(p.requester_name), "", "", "", "", "XX", p.requester_npi),
        segment("HL", "3", "2", "22", "1"),
        segment(
            "NM1",
            "IL",
            "1",
            clean(p.member_last, limit=60),
            clean(p.member_first, limit=35),
            "",
            "",
            "",
            "MI",
            clean(p.member_id, limit=80),
        ),
    ]
    if p.birth_date is not None:
        out.append(segment("DMG", "D8", _d8(p.birth_date), p.sex or ""))
    return out


def _service_segment(code: str, units: int, *, institutional: bool, qualifier: str) -> str:
    # No charge (SV102 / SV203): X217 asks for it only when the submitter prices the
    # service; a 0 told the payer the service costs nothing.
    if institutional:
        # SV2: revenue code empty, the procedure as SV202, quantity in SV205 (units UN)
        return segment("SV2", "", f"{qualifier}:{code}", "", "UN", str(units))
    return segment("SV1", f"{qualifier}:{code}", "", "UN", str(units))


def request_segments(r: ReviewRequest) -> list[str]:
    """The body of a 278 request (ST and SE are the envelope's)."""
    body = [segment("BHT", "0007", rules.BHT_REQUEST, clean(r.reference), *_stamp(r.created))]
    body += _parties(r.parties, response=False)
    body += [
        segment("HL", "4", "3", "EV", "1" if r.services else "0"),
        segment("TRN", "1", clean(r.trace), ORIGINATOR),
        segment(
            "UM", "HS", "I", r.service_type, "12:B", "", rules.LEVEL_URGENT if r.expedited else ""
        ),
    ]
    if r.diagnoses:
        codes = [
            f"{'ABK' if i == 0 else 'ABF'}:{d.replace('.', '')}" for i, d in enumerate(r.diagnoses)
        ]
        body.append(segment("HI", *codes[:12]))
    for index, s in enumerate(r.services):
        body += [
            segment("HL", str(5 + index), "4", "SS", "0"),
            segment("TRN", "1", f"{clean(r.trace)}-{s.line}", ORIGINATOR),
            segment("UM", "HS", "I", s.service_type),
            _period("472", s.start, s.end),
            _service_segment(
                s.code, s.units, institutional=s.institutional, qualifier=s.code_qualifier
            ),
        ]
        if s.frequency is not None:
            f = s.frequency
            body.append(
                segment("HSD", f.unit, str(f.quantity), "", "", f.period, str(f.periods or ""))
            )
    return body


def originator(company_id: str) -> str:
    """TRN03 for a company: '1' and its EIN when the identifier is nine digits, else '9'
    and the identifier CareLoop knows it by (as ``ORIGINATOR``)."""
    ident = clean(company_id)
    if len(ident) == 9 and ident.isdigit():
        return "1" + ident
    return "9" + ident[:9].ljust(9, "0")


def response_segments(r: ReviewResponse) -> list[str]:
    """The body of a 278 response. A refused request (``rejections``) stops at the loop
    whose AAA says why (X217: the lower loops are not returned)."""
    body = [segment("BHT", "0007", rules.BHT_RESPONSE, clean(r.reference), *_stamp(r.created))]
    body += _parties(r.parties, response=True, contact=r.contact)
    if r.action is None:
        # Refused at the subscriber (2010C): its HL has no children, its AAA after NM1.
        body[body.index(segment("HL", "3", "2", "22", "1"))] = segment("HL", "3", "2", "22", "0")
        member = next(i for i, x in enumerate(body) if x.startswith("NM1*IL*"))
        body[member + 1 : member + 1] = [
            segment("AAA", "N", "", x.code, x.follow_up) for x in r.rejections
        ]
        return body
    body += [
        segment("HL", "4", "3", "EV", "1" if r.services else "0"),
        segment("TRN", "2", clean(r.trace), ORIGINATOR),
        segment("TRN", "1", clean(r.payer_trace), originator(r.parties.payer_id)),
        segment("UM", "HS", "I", r.service_type),
        segment("HCR", r.action.value, r.certification_number or "", r.reason_code or ""),
    ]
    if r.valid_from is not None:
        body.append(_period("007", r.valid_from, None))
    if r.valid_to is not None:
        body.append(_period("036", r.valid_to, None))
    if r.message:
        body.append(segment("MSG", clean(r.message, limit=264)))
    for index, s in enumerate(r.services):
        body += [
            segment("HL", str(5 + index), "4", "SS", "0"),
            segment("TRN", "2", f"{clean(r.trace)}-{s.line}", ORIGINATOR),
            segment("UM", "HS", "I", r.service_type),
            segment("HCR", s.action.value, s.certification_number or "", s.reason_code or ""),
            _service_segment(s.code, s.units or 0, institutional=False, qualifier="HC"),
        ]
    return body


def _stamp(created: datetime) -> tuple[str, str]:
    return created.strftime("%Y%m%d"), created.strftime("%H%M")


def write(
    body: Sequence[str], *, sender: Party, receiver: Party, control_number: int, created: datetime
) -> str:
    """One 278 in its interchange."""
    return write_interchange(
        functional_code=rules.FUNCTIONAL_CODE["278"],
        version=rules.VERSION_278,
        transactions=[("278", body)],
        sender=sender,
        receiver=receiver,
        control_number=control_number,
        created=created,
    )


# ---- reading ------------------------------------------------------------------------


@dataclass(slots=True)
class _Loop:
    level: str
    hl: Segment
    segments: list[Segment]

    def first(self, tag: str, *, where: tuple[int, str] | None = None) -> Segment | None:
        for s in self.segments:
            if s.tag == tag and (where is None or s.get(where[0]) == where[1]):
                return s
        return None

    def all(self, tag: str) -> list[Segment]:
        return [s for s in self.segments if s.tag == tag]


def _loops(t: Transaction, *, response: bool = False) -> tuple[Segment, list[_Loop]]:
    """Split a 278 into its HL loops, checking the hierarchy and each loop's segments. A
    response refused at the payer, requester or subscriber (an AAA in its 2010 loop)
    ends there: the loops below it are not required."""
    body = t.body
    if not body or body[0].tag != "BHT":
        got = body[0] if body else t.segments[-1]
        raise _fault(t, got, "BHT must follow ST", code="3")
    loops: list[_Loop] = []
    levels: dict[str, str] = {}
    for s in body[1:]:
        if s.tag == "HL":
            loops.append(_hl(t, s, levels, len(loops)))
            continue
        if not loops:
            raise _fault(t, s, "segment before the first HL", code="2")
        loop = loops[-1]
        if s.tag not in rules.LOOP_SEGMENTS[loop.level]:
            name = rules.HL_LEVELS[loop.level]
            raise _fault(
                t,
                s,
                f"{s.tag} is not a segment of loop {name[0]} ({name[1]})",
                code="1" if not s.tag.isalpha() or len(s.tag) > 3 else "2",
            )
        loop.segments.append(s)
    for loop in loops:
        for tag in rules.LOOP_REQUIRED[loop.level]:
            if loop.first(tag) is None and loop.first("AAA") is None:
                name = rules.HL_LEVELS[loop.level]
                raise _fault(t, loop.hl, f"loop {name[0]} ({name[1]}) has no {tag}", code="3")
    needed: tuple[str, ...] = ("20", "21", "22", "EV")
    refused = [x.level for x in loops if x.level in needed[:3] and x.first("AAA") is not None]
    if response and refused:
        needed = needed[: needed.index(refused[0]) + 1]
    for level in needed:
        if level not in {loop.level for loop in loops}:
            name = rules.HL_LEVELS[level]
            raise _fault(t, t.segments[-1], f"the 278 has no loop {name[0]} ({name[1]})", code="3")
    return body[0], loops


def _hl(t: Transaction, s: Segment, levels: dict[str, str], count: int) -> _Loop:
    number, parent, level = s.get(1), s.get(2), s.get(3)
    if number != str(count + 1):
        raise _fault(t, s, f"HL01 {number!r} out of sequence; {count + 1} expected", element=1)
    if level not in rules.HL_LEVELS:
        raise _fault(t, s, f"HL03 {level!r} is not a 278 level", element=3)
    allowed = rules.HL_PARENT[level]
    if (parent or None) is None and allowed:
        raise _fault(t, s, f"HL {number} ({level}) needs a parent (HL02)", element=2)
    if parent and levels.get(parent) not in allowed:
        raise _fault(t, s, f"HL02 {parent!r} is not a level HL {number} can hang from", element=2)
    levels[number] = level
    return _Loop(level, s, [])


def _fault(
    t: Transaction, s: Segment, message: str, *, code: str = "8", element: int | None = None
) -> X12FormatError:
    in_transaction = next((i for i, x in enumerate(t.segments, start=1) if x is s), len(t.segments))
    return X12FormatError(
        message,
        segment=s.tag,
        position=s.position,
        in_transaction=in_transaction,
        control_number=t.control_number,
        element=element,
        syntax_code=code,
    )


def _date(t: Transaction, s: Segment | None, index: int = 3) -> tuple[date | None, date | None]:
    if s is None:
        return None, None
    value = s.get(index)
    try:
        if s.get(index - 1) == "RD8":
            a, b = value.split("-")
            return _parse_d8(a), _parse_d8(b)
        day = _parse_d8(value)
        return day, day
    except ValueError:
        raise _fault(t, s, f"{value!r} is not a CCYYMMDD date", element=index) from None


def _parse_d8(value: str) -> date:
    return datetime.strptime(value, "%Y%m%d").date()


def _parties_of(t: Transaction, loops: list[_Loop]) -> Parties:
    by_level = {loop.level: loop for loop in loops}
    payer = by_level["20"].first("NM1")
    requester = by_level["21"].first("NM1")
    member_loop = by_level.get("23") or by_level["22"]
    member = member_loop.first("NM1")
    assert payer is not None and requester is not None and member is not None
    dmg = member_loop.first("DMG")
    born = _date(t, dmg, 2)[0] if dmg is not None and dmg.get(1) == "D8" else None
    return Parties(
        payer_name=payer.get(3),
        payer_id=payer.get(9),
        requester_name=requester.get(3),
        requester_npi=requester.get(9),
        member_last=member.get(3),
        member_first=member.get(4),
        member_id=member.get(9),
        birth_date=born,
        sex=(dmg.get(3) or None) if dmg is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _Service:
    code: str
    units: int
    qualifier: str
    institutional: bool


def _service_of(t: Transaction, loop: _Loop) -> _Service:
    sv = loop.first("SV1") or loop.first("SV2")
    if sv is None:
        raise _fault(t, loop.hl, "a service (2000F) has neither SV1 nor SV2", code="3")
    institutional = sv.tag == "SV2"
    composite, quantity = (sv.get(2), sv.get(5)) if institutional else (sv.get(1), sv.get(4))
    qualifier, _, code = composite.partition(t.component)
    if qualifier not in {"HC", "N4", "IV", "ZZ"} or not code:
        raise _fault(
            t,
            sv,
            f"{composite!r} is not a qualified procedure code",
            element=2 if institutional else 1,
        )
    try:
        units = int(quantity or "0")
    except ValueError:
        raise _fault(
            t, sv, f"quantity {quantity!r} is not a whole number", element=5 if institutional else 4
        ) from None
    return _Service(code, units, qualifier, institutional)


def _frequency_of(t: Transaction, loop: _Loop) -> Frequency | None:
    hsd = loop.first("HSD")
    if hsd is None:
        return None
    try:
        return Frequency(
            quantity=int(hsd.get(2)),
            unit=hsd.get(1),
            period=hsd.get(5),
            periods=int(hsd.get(6)) if hsd.get(6) else None,
        )
    except ValueError:
        raise _fault(t, hsd, "HSD quantities must be whole numbers", element=2) from None


def _icd10(code: str) -> str:
    """ICD-10-CM as CareLoop holds it: X12 carries it without the dot."""
    return f"{code[:3]}.{code[3:]}" if len(code) > 3 else code


def _line_of(t: Transaction, loop: _Loop, trace: str, number: int) -> int:
    trn = loop.first("TRN")
    if trn is not None and trn.get(2).startswith(trace + "-"):
        tail = trn.get(2)[len(trace) + 1 :]
        if tail.isdigit():
            return int(tail)
    return number


def read_request(t: Transaction) -> ReviewRequest:
    """A 278 request as CareLoop (and its payer simulator) reads it."""
    bht, loops = _loops(t)
    if bht.get(2) != rules.BHT_REQUEST:
        raise _fault(t, bht, f"BHT02 {bht.get(2)!r}: a request is 13", element=2)
    event = next(loop for loop in loops if loop.level == "EV")
    trn = event.first("TRN", where=(1, "1"))
    if trn is None:
        raise _fault(t, event.hl, "the patient event has no trace number (TRN*1)", code="3")
    um = event.first("UM")
    assert um is not None
    hi = event.first("HI")
    diagnoses = tuple(
        _icd10(c.partition(t.component)[2])
        for c in (hi.elements if hi is not None else ())
        if t.component in c
    )
    services = []
    for number, loop in enumerate((x for x in loops if x.level == "SS"), start=1):
        sv = _service_of(t, loop)
        start, end = _date(t, loop.first("DTP", where=(1, "472")))
        services.append(
            ServiceRequest(
                line=_line_of(t, loop, trn.get(2), number),
                code=sv.code,
                units=sv.units,
                service_type=(loop.first("UM") or um).get(3),
                start=start or _created(t, bht).date(),
                end=end or start or _created(t, bht).date(),
                frequency=_frequency_of(t, loop),
                institutional=sv.institutional,
                code_qualifier=sv.qualifier,
            )
        )
    return ReviewRequest(
        trace=trn.get(2),
        reference=bht.get(3),
        created=_created(t, bht),
        parties=_parties_of(t, loops),
        service_type=um.get(3),
        diagnoses=diagnoses,
        services=tuple(services),
        expedited=um.get(6) == rules.LEVEL_URGENT,
    )


def _created(t: Transaction, bht: Segment) -> datetime:
    try:
        return datetime.strptime(bht.get(4) + bht.get(5)[:4], "%Y%m%d%H%M")
    except ValueError:
        raise _fault(t, bht, "BHT04/05 is not a date and time", element=4) from None


def _action(t: Transaction, hcr: Segment) -> rules.Action:
    try:
        return rules.Action(hcr.get(1))
    except ValueError:
        raise _fault(t, hcr, f"HCR01 {hcr.get(1)!r} is not a review action", element=1) from None


def read_response(t: Transaction) -> ReviewResponse:
    """A 278 response: the payer's decision on the event and on each service line, or,
    when an AAA says the payer refused the request unreviewed, its reasons."""
    bht, loops = _loops(t, response=True)
    if bht.get(2) != rules.BHT_RESPONSE:
        raise _fault(t, bht, f"BHT02 {bht.get(2)!r}: a response is 11", element=2)
    rejections = tuple(
        Rejection(loop.level, aaa.get(3), aaa.get(4)) for loop in loops for aaa in loop.all("AAA")
    )
    for loop in loops:
        for aaa in loop.all("AAA"):
            if not aaa.get(3).isalnum():
                raise _fault(t, aaa, "AAA03 must be a reject reason code", element=3)
    event = next((loop for loop in loops if loop.level == "EV"), None)
    if event is None:
        return _refused(t, bht, loops, rejections)
    echoed = event.first("TRN", where=(1, "2"))
    if echoed is None:
        raise _fault(
            t, event.hl, "the response does not echo the request's trace (TRN*2)", code="3"
        )
    hcr = event.first("HCR")
    if hcr is None and rejections:
        return _refused(t, bht, loops, rejections, trace=echoed.get(2))
    if hcr is None:
        raise _fault(t, event.hl, "the patient event has no review outcome (HCR)", code="3")
    own = event.first("TRN", where=(1, "1"))
    um = event.first("UM")
    assert um is not None
    msg = event.first("MSG")
    per = next((loop.first("PER") for loop in loops if loop.level == "20"), None)
    services = []
    for number, loop in enumerate((x for x in loops if x.level == "SS"), start=1):
        sv = _service_of(t, loop)
        line_hcr = loop.first("HCR") or hcr
        services.append(
            ServiceDecision(
                line=_line_of(t, loop, echoed.get(2), number),
                code=sv.code,
                action=_action(t, line_hcr),
                units=sv.units,
                certification_number=line_hcr.get(2) or None,
                reason_code=line_hcr.get(3) or None,
            )
        )
    return ReviewResponse(
        trace=echoed.get(2),
        payer_trace=own.get(2) if own is not None else "",
        reference=bht.get(3),
        created=_created(t, bht),
        parties=_parties_of(t, loops),
        service_type=um.get(3),
        action=_action(t, hcr),
        certification_number=hcr.get(2) or None,
        reason_code=hcr.get(3) or None,
        valid_from=_date(t, event.first("DTP", where=(1, "007")))[0],
        valid_to=_date(t, event.first("DTP", where=(1, "036")))[0],
        message=msg.get(1) if msg is not None else None,
        contact=(per.get(2) or None) if per is not None else None,
        services=tuple(services),
        rejections=rejections,
    )


def _refused(
    t: Transaction,
    bht: Segment,
    loops: list[_Loop],
    rejections: tuple[Rejection, ...],
    *,
    trace: str = "",
) -> ReviewResponse:
    """A response that refuses the request unreviewed (AAA): no decision; the request
    is found by its echoed trace, or by BHT03 when the response stops above 2000E."""
    by_level = {loop.level: loop for loop in loops}
    empty = Parties("", "", "", "", "", "", "", None, None)
    payer = by_level["20"].first("NM1")
    per = by_level["20"].first("PER")
    parties = _parties_of(t, loops) if "22" in by_level else empty
    if payer is not None and "22" not in by_level:
        parties = replace(parties, payer_name=payer.get(3), payer_id=payer.get(9))
    return ReviewResponse(
        trace=trace,
        payer_trace="",
        reference=bht.get(3),
        created=_created(t, bht),
        parties=parties,
        service_type="",
        action=None,
        certification_number=None,
        reason_code=None,
        valid_from=None,
        valid_to=None,
        message=None,
        contact=(per.get(2) or None) if per is not None else None,
        services=(),
        rejections=rejections,
    )
