"""The 276 claim status inquiry and the 277 answer (ASC X12N 005010X212), written and
read with x12sdk's typed models. Pure: no database, no files.

One inquiry per claim, in the shape the pair shares: the payer (2100A, NM1*PR), the
coordinator as information receiver (2100B, NM1*41 with its tax id), the billing
provider (2100C, NM1*1P with its NPI), the member as subscriber and patient (2100D,
NM1*IL with the member ID) and the claim (2200D): TRN*1 CareLoop's trace, REF*EJ the
claim number as it went on the 837P (CLM01), AMT*T3 the charge, DTP*472 the dates of
service. The 277 echoes the trace (TRN*2) and says the claim's status in STC01
(category:code, e.g. ``F1:65``), with the charge and what was paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from x12sdk.v5010.segments import StcSegment
from x12sdk.v5010.x12_276_005010X212 import loops as q_loops
from x12sdk.v5010.x12_276_005010X212 import segments as q_seg
from x12sdk.v5010.x12_276_005010X212.transaction_set import HealthCareClaimsStatusRequest
from x12sdk.v5010.x12_277_005010X212 import loops as a_loops
from x12sdk.v5010.x12_277_005010X212 import segments as a_seg
from x12sdk.v5010.x12_277_005010X212.transaction_set import HealthCareClaimsStatusResponse

from careloop.clearinghouse.envelope import Interchange, Party, X12FormatError, clean
from careloop.clearinghouse.x270 import _as_date, _one_model, _value, _write

VERSION = "005010X212"
#: The segments a 277 (005010X212) may carry between ST and SE.
SEGMENTS_277 = frozenset(
    {"ST", "BHT", "HL", "NM1", "PER", "TRN", "STC", "REF", "DTP", "SVC", "QTY", "AMT", "SE"}
)


@dataclass(frozen=True, slots=True)
class StatusInquiry:
    trace: str
    reference: str
    created: datetime
    payer_name: str
    payer_id: str
    receiver_name: str
    receiver_tax_id: str
    provider_name: str
    provider_npi: str
    member_last: str
    member_first: str
    member_id: str
    claim_number: str
    charge: Decimal
    service_from: date
    service_to: date


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    """What a 277 says of one claim: STC01-1 category, STC01-2 status code, the date
    the status took effect, the charge and what was paid."""

    trace: str
    claim_number: str
    category: str
    code: str
    effective: date
    charge: Decimal | None = None
    paid: Decimal | None = None


def _hl(seg: Any, number: str, parent: str | None, level: str, child: str | None) -> Any:
    values: dict[str, Any] = {"hierarchical_id_number": number, "hierarchical_level_code": level}
    if parent:
        values["hierarchical_parent_id_number"] = parent
    if child is not None:
        values["hierarchical_child_code"] = child
    return getattr(
        seg,
        {"20": "Loop2000AHlSegment", "21": "Loop2000BHlSegment"}.get(
            level, {"19": "Loop2000CHlSegment", "22": "Loop2000DHlSegment"}.get(level, "")
        ),
    )(**values)


def _dates(q: StatusInquiry, seg: Any) -> Any:
    same = q.service_from == q.service_to
    return seg.Loop2200DDtpSegment(
        date_time_qualifier="472",
        date_time_period_format_qualifier="D8" if same else "RD8",
        date_time_period=q.service_from.strftime("%Y%m%d")
        if same
        else f"{q.service_from:%Y%m%d}-{q.service_to:%Y%m%d}",
    )


def _tree(q: StatusInquiry, loops: Any, seg: Any, claim: Any) -> list[Any]:
    """Payer, receiver, provider, subscriber: the hierarchy both sets share."""
    subscriber = loops.Loop2000D(
        hl_segment=_hl(seg, "4", "3", "22", "0"),
        loop_2100d=loops.Loop2100D(
            nm1_segment=seg.Loop2100DNm1Segment(
                entity_identifier_code="IL",
                entity_type_qualifier="1",
                name_last_or_organization_name=clean(q.member_last) or "UNKNOWN",
                name_first=clean(q.member_first, limit=35) or None,
                identification_code_qualifier="MI",
                identification_code=clean(q.member_id, limit=80),
            )
        ),
        loop_2200d=[claim],
    )
    provider = loops.Loop2000C(
        hl_segment=_hl(seg, "3", "2", "19", "1"),
        loop_2100c=loops.Loop2100C(
            nm1_segment=seg.Loop2100CNm1Segment(
                entity_identifier_code="1P",
                entity_type_qualifier="2",
                name_last_or_organization_name=clean(q.provider_name),
                identification_code_qualifier="XX",
                identification_code=q.provider_npi,
            )
        ),
        loop_2000d=[subscriber],
    )
    receiver = loops.Loop2000B(
        hl_segment=_hl(seg, "2", "1", "21", "1"),
        loop_2100b=loops.Loop2100B(
            nm1_segment=seg.Loop2100BNm1Segment(
                entity_identifier_code="41",
                entity_type_qualifier="2",
                name_last_or_organization_name=clean(q.receiver_name),
                identification_code_qualifier="46",
                identification_code=q.receiver_tax_id,
            )
        ),
        loop_2000c=[provider],
    )
    return [
        loops.Loop2000A(
            hl_segment=_hl(seg, "1", None, "20", "1"),
            loop_2100a=loops.Loop2100A(
                nm1_segment=seg.Loop2100ANm1Segment(
                    entity_identifier_code="PR",
                    entity_type_qualifier="2",
                    name_last_or_organization_name=clean(q.payer_name),
                    identification_code_qualifier="PI",
                    identification_code=clean(q.payer_id, limit=80),
                )
            ),
            loop_2000b=[receiver],
        )
    ]


def _header(loops: Any, seg: Any, code: str, purpose: str, reference: str, at: datetime) -> Any:
    return loops.Header(
        st_segment=seg.HeaderStSegment(
            transaction_set_identifier_code=code,
            transaction_set_control_number="0001",
            implementation_convention_reference=VERSION,
        ),
        bht_segment=seg.HeaderBhtSegment(
            hierarchical_structure_code="0010",
            transaction_set_purpose_code=purpose,
            submitter_transactional_identifier=clean(reference, limit=50),
            transaction_set_creation_date=at.strftime("%Y%m%d"),
            transaction_set_creation_time=at.strftime("%H%M"),
        ),
    )


def inquiry_text(
    q: StatusInquiry, *, sender: Party, receiver: Party, control_number: int, created: datetime
) -> str:
    """The 276 interchange asking about one claim."""
    claim = q_loops.Loop2200D(
        trn_segment=q_seg.Loop2200DTrnSegment(
            trace_type_code="1", reference_identification_1=clean(q.trace, limit=50)
        ),
        ref_segment=[
            q_seg.Loop2200DRefSegment(
                reference_identification_qualifier="EJ",
                reference_identification=clean(q.claim_number, limit=50),
            )
        ],
        amt_segment=q_seg.Loop2200DAmtSegment(amount_qualifier_code="T3", monetary_amount=q.charge),
        dtp_segment=_dates(q, q_seg),
    )
    body: dict[str, Any] = {
        "header": _header(q_loops, q_seg, "276", "13", q.reference, q.created),
        "loop_2000a": _tree(q, q_loops, q_seg, claim),
    }
    return _write(
        body,
        q_loops.Footer,
        HealthCareClaimsStatusRequest,
        sender,
        receiver,
        control_number,
        created,
    )


def read_inquiry(text: str, interchange: Interchange) -> StatusInquiry:
    """A 276 as the payer simulator reads it."""
    model = _one_model(text, interchange, HealthCareClaimsStatusRequest)
    assert isinstance(model, HealthCareClaimsStatusRequest)
    payer = model.loop_2000a[0]
    receiver = payer.loop_2000b[0]
    provider = receiver.loop_2000c[0]
    subscriber = provider.loop_2000d[0]
    if not subscriber.loop_2200d:
        raise _missing(interchange, "the 276 asks about no claim (loop 2200D)")
    claim = subscriber.loop_2200d[0]
    start, end = _period(claim.dtp_segment)
    bht = model.header.bht_segment
    return StatusInquiry(
        trace=claim.trn_segment.reference_identification_1,
        reference=bht.submitter_transactional_identifier,
        created=datetime.combine(_as_date(bht.transaction_set_creation_date), datetime.min.time()),
        payer_name=payer.loop_2100a.nm1_segment.name_last_or_organization_name or "",
        payer_id=payer.loop_2100a.nm1_segment.identification_code or "",
        receiver_name=receiver.loop_2100b.nm1_segment.name_last_or_organization_name or "",
        receiver_tax_id=receiver.loop_2100b.nm1_segment.identification_code or "",
        provider_name=provider.loop_2100c.nm1_segment.name_last_or_organization_name or "",
        provider_npi=provider.loop_2100c.nm1_segment.identification_code or "",
        member_last=subscriber.loop_2100d.nm1_segment.name_last_or_organization_name or "",
        member_first=subscriber.loop_2100d.nm1_segment.name_first or "",
        member_id=subscriber.loop_2100d.nm1_segment.identification_code or "",
        claim_number=_claim_number(claim.ref_segment),
        charge=Decimal(claim.amt_segment.monetary_amount) if claim.amt_segment else Decimal(0),
        service_from=start,
        service_to=end,
    )


def answer_text(
    a: StatusAnswer,
    q: StatusInquiry,
    *,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
) -> str:
    """The 277 interchange answering ``q`` (the payer simulator writes it)."""
    claim = a_loops.Loop2200D(
        trn_segment=a_seg.Loop2200DTrnSegment(
            trace_type_code="2", reference_identification_1=clean(a.trace, limit=50)
        ),
        stc_segment=[
            StcSegment(
                health_care_claim_status_1=f"{a.category}:{a.code}",
                status_effective_date=a.effective.strftime("%Y%m%d"),
                total_claim_charge_amount=a.charge,
                claim_payment_amount=a.paid,
            )
        ],
        ref_segment=[
            a_seg.Loop2200DRefSegment(
                reference_identification_qualifier="EJ",
                reference_identification=clean(a.claim_number, limit=50),
            )
        ],
        dtp_segment=_dates(q, a_seg),
    )
    body: dict[str, Any] = {
        "header": _header(a_loops, a_seg, "277", "08", q.reference, created),
        "loop_2000a": _tree(q, a_loops, a_seg, claim),
    }
    return _write(
        body,
        a_loops.Footer,
        HealthCareClaimsStatusResponse,
        sender,
        receiver,
        control_number,
        created,
    )


def read_answer(text: str, interchange: Interchange) -> StatusAnswer:
    """A payer's 277: the trace it echoes, the claim and its status (the first STC). A
    segment no 277 carries is named with its position before anything else is read."""
    transaction = interchange.transactions[0]
    for index, segment in enumerate(transaction.segments, start=1):
        if segment.tag not in SEGMENTS_277:
            raise X12FormatError(
                f"{segment.tag} is not a segment of a 277 claim status response",
                segment=segment.tag,
                position=segment.position,
                in_transaction=index,
                control_number=transaction.control_number,
                syntax_code="2",
            )
    model = _one_model(text, interchange, HealthCareClaimsStatusResponse)
    assert isinstance(model, HealthCareClaimsStatusResponse)
    claims = [
        claim
        for payer in model.loop_2000a
        for receiver in payer.loop_2000b
        for provider in receiver.loop_2000c or []
        for subscriber in provider.loop_2000d or []
        for claim in subscriber.loop_2200d or []
    ]
    if not claims:
        raise _missing(interchange, "the 277 answers about no claim (loop 2200D)")
    claim = claims[0]
    stc = claim.stc_segment[0]
    category, _, code = str(stc.health_care_claim_status_1).partition(":")
    if not category or not code:
        raise X12FormatError(
            f"STC01 is category:code (e.g. A2:20), not {stc.health_care_claim_status_1!r}",
            segment="STC",
            position=_position_of(interchange, "STC"),
            control_number=interchange.transactions[0].control_number,
            element=1,
        )
    return StatusAnswer(
        trace=claim.trn_segment.reference_identification_1,
        claim_number=_claim_number(claim.ref_segment),
        category=category,
        code=code,
        effective=_as_date(stc.status_effective_date),
        charge=Decimal(stc.total_claim_charge_amount)
        if stc.total_claim_charge_amount is not None
        else None,
        paid=Decimal(stc.claim_payment_amount) if stc.claim_payment_amount is not None else None,
    )


def _claim_number(refs: list[Any] | None) -> str:
    return next(
        (
            r.reference_identification
            for r in refs or []
            if _value(r.reference_identification_qualifier) == "EJ"
        ),
        "",
    )


def _period(dtp: Any) -> tuple[date, date]:
    if dtp is None:
        return date.min, date.min
    value = dtp.date_time_period
    if isinstance(value, str) and "-" in value:
        first, last = value.split("-", 1)
        return _as_date(first), _as_date(last)
    day = _as_date(value)
    return day, day


def _position_of(interchange: Interchange, tag: str) -> int:
    segments = interchange.transactions[0].segments
    return next((s.position for s in segments if s.tag == tag), segments[0].position)


def _missing(interchange: Interchange, message: str) -> X12FormatError:
    transaction = interchange.transactions[0]
    return X12FormatError(
        message,
        segment="HL",
        position=transaction.segments[-1].position,
        control_number=transaction.control_number,
        syntax_code="3",
    )
