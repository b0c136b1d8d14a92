"""The 270 eligibility inquiry and the 271 answer (ASC X12N 005010X279A1), written and
read with x12sdk's typed models. Pure: no database, no files.

One inquiry per case: the payer (2100A, NM1*PR), CareLoop as information receiver
(2100B, NM1*1P with its NPI), the member as subscriber (2100C: NM1*IL with the member
ID, DMG, DTP*291 the service date) and one EQ per service type asked (30, the plan,
always). The subscriber's TRN carries CareLoop's trace; the 271 echoes it (TRN*2).

x12sdk 2.2.0 models the 2100C AAA of a 271 with the 2100B reject codes only, so a
payer's 'subscriber not found' (AAA*N**75) would fail its validation: the subscriber's
AAA segments are read here from the raw segments and handed to x12sdk without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from x12sdk.io import X12ModelReader, write_transactions
from x12sdk.support import count_segments
from x12sdk.v5010.segments import DmgSegment, EbSegment, SeSegment, TrnSegment
from x12sdk.v5010.x12_270_005010X279A1 import loops as q_loops
from x12sdk.v5010.x12_270_005010X279A1 import segments as q_seg
from x12sdk.v5010.x12_270_005010X279A1.transaction_set import EligibilityInquiry
from x12sdk.v5010.x12_271_005010X279A1 import loops as a_loops
from x12sdk.v5010.x12_271_005010X279A1 import segments as a_seg
from x12sdk.v5010.x12_271_005010X279A1.transaction_set import EligibilityBenefit

from careloop.clearinghouse.envelope import (
    Interchange,
    Party,
    Transaction,
    X12FormatError,
    clean,
)
from careloop.clearinghouse.x278 import ORIGINATOR


@dataclass(frozen=True, slots=True)
class Inquiry:
    trace: str
    reference: str
    created: datetime
    payer_name: str
    payer_id: str
    requester_name: str
    requester_npi: str
    member_last: str
    member_first: str
    member_id: str
    birth_date: date
    sex: str | None
    service_date: date
    service_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Benefit:
    """One EB: its status (EB01), service types, plan (EB05), whether the payer wants
    prior authorisation (EB11: Y, N, U unknown) and the procedure it speaks of (EB13)."""

    status: str
    service_types: tuple[str, ...] = ()
    plan: str | None = None
    authorization: str | None = None
    procedure: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    trace: str
    payer_id: str
    member_id: str
    reject_codes: tuple[str, ...]
    benefits: tuple[Benefit, ...]
    plan_begin: date | None = None
    plan_end: date | None = None
    #: BHT03, the inquiry's reference echoed ('270-<row>'): names the inquiry when the
    #: payer refused it above the subscriber (no 2000C, so no trace).
    reference: str = field(default="", compare=False)
    #: AAA of the payer's (2100A) and the receiver's (2100B) loops: (HL03, AAA03).
    refusals: tuple[tuple[str, str], ...] = ()


# ---- 270 ----------------------------------------------------------------------------


def inquiry_text(
    q: Inquiry, *, sender: Party, receiver: Party, control_number: int, created: datetime
) -> str:
    """The 270 interchange for one inquiry."""
    body: dict[str, Any] = {
        "header": q_loops.Header(
            st_segment=q_seg.HeaderStSegment(
                transaction_set_identifier_code="270",
                transaction_set_control_number="0001",
                implementation_convention_reference="005010X279A1",
            ),
            bht_segment=q_seg.HeaderBhtSegment(
                hierarchical_structure_code="0022",
                transaction_set_purpose_code="13",
                submitter_transactional_identifier=clean(q.reference, limit=50),
                transaction_set_creation_date=q.created.strftime("%Y%m%d"),
                transaction_set_creation_time=q.created.strftime("%H%M"),
            ),
        ),
        "loop_2000a": [
            q_loops.Loop2000A(
                hl_segment=q_seg.Loop2000AHlSegment(
                    hierarchical_id_number="1",
                    hierarchical_level_code="20",
                    hierarchical_child_code="1",
                ),
                loop_2100a=q_loops.Loop2100A(
                    nm1_segment=q_seg.Loop2100ANm1Segment(
                        entity_identifier_code="PR",
                        entity_type_qualifier="2",
                        name_last_or_organization_name=clean(q.payer_name),
                        identification_code_qualifier="PI",
                        identification_code=clean(q.payer_id, limit=80),
                    )
                ),
                loop_2000b=[_receiver(q)],
            )
        ],
    }
    return _write(
        body, q_loops.Footer, EligibilityInquiry, sender, receiver, control_number, created
    )


def _receiver(q: Inquiry) -> q_loops.Loop2000B:
    subscriber = q_loops.Loop2000C(
        hl_segment=q_seg.Loop2000CHlSegment(
            hierarchical_id_number="3",
            hierarchical_parent_id_number="2",
            hierarchical_level_code="22",
            hierarchical_child_code="0",
        ),
        trn_segment=[
            TrnSegment(
                trace_type_code="1",
                reference_identification_1=clean(q.trace, limit=50),
                originating_company_identifier=ORIGINATOR,
            )
        ],
        loop_2100c=q_loops.Loop2100C(
            nm1_segment=q_seg.Loop2100CNm1Segment(
                entity_identifier_code="IL",
                entity_type_qualifier="1",
                name_last_or_organization_name=clean(q.member_last),
                name_first=clean(q.member_first, limit=35) or None,
                identification_code_qualifier="MI",
                identification_code=clean(q.member_id, limit=80),
            ),
            dmg_segment=DmgSegment(
                date_time_period_format_qualifier="D8",
                date_time_period=q.birth_date.strftime("%Y%m%d"),
                gender_code=q.sex,
            ),
            dtp_segment=q_seg.Loop2100DtpSegment(
                date_time_qualifier="291",
                date_time_period_format_qualifier="D8",
                date_time_period=q.service_date.strftime("%Y%m%d"),
            ),
            loop_2110c=[
                q_loops.Loop2110C(eq_segment=q_seg.Loop2110EqSegment(service_type_code=[code]))
                for code in q.service_types
            ],
        ),
    )
    return q_loops.Loop2000B(
        hl_segment=q_seg.Loop2000BHlSegment(
            hierarchical_id_number="2",
            hierarchical_parent_id_number="1",
            hierarchical_level_code="21",
            hierarchical_child_code="1",
        ),
        loop_2100b=q_loops.Loop2100B(
            nm1_segment=q_seg.Loop2100BNm1Segment(
                entity_identifier_code="1P",
                entity_type_qualifier="2",
                name_last_or_organization_name=clean(q.requester_name),
                identification_code_qualifier="XX",
                identification_code=q.requester_npi,
            )
        ),
        loop_2000c=[subscriber],
    )


def read_inquiry(text: str, interchange: Interchange) -> Inquiry:
    """A 270 as the payer simulator reads it."""
    model = _one_model(text, interchange, EligibilityInquiry)
    assert isinstance(model, EligibilityInquiry)
    source = model.loop_2000a[0]
    receiver = source.loop_2000b[0]
    subscriber = receiver.loop_2000c[0]
    name = subscriber.loop_2100c
    dmg, dtp = name.dmg_segment, name.dtp_segment
    bht = model.header.bht_segment
    return Inquiry(
        trace=(subscriber.trn_segment or [])[0].reference_identification_1
        if subscriber.trn_segment
        else "",
        reference=bht.submitter_transactional_identifier,
        created=datetime.combine(_as_date(bht.transaction_set_creation_date), _time(bht)),
        payer_name=source.loop_2100a.nm1_segment.name_last_or_organization_name,
        payer_id=source.loop_2100a.nm1_segment.identification_code or "",
        requester_name=receiver.loop_2100b.nm1_segment.name_last_or_organization_name,
        requester_npi=receiver.loop_2100b.nm1_segment.identification_code or "",
        member_last=name.nm1_segment.name_last_or_organization_name or "",
        member_first=name.nm1_segment.name_first or "",
        member_id=name.nm1_segment.identification_code or "",
        birth_date=_as_date(dmg.date_time_period) if dmg else date.min,
        sex=_value(dmg.gender_code) if dmg and dmg.gender_code else None,
        service_date=_as_date(dtp.date_time_period if dtp else bht.transaction_set_creation_date),
        service_types=tuple(
            _value(code)
            for loop in name.loop_2110c or []
            if loop.eq_segment is not None
            for code in loop.eq_segment.service_type_code
        ),
    )


# ---- 271 ----------------------------------------------------------------------------


def answer_text(
    a: Answer,
    q: Inquiry,
    *,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
) -> str:
    """The 271 interchange answering ``q`` (the payer simulator writes it)."""
    dates = [
        a_seg.Loop2100DtpSegment(
            date_time_qualifier=qualifier,
            date_time_period_format_qualifier="D8",
            date_time_period=day.strftime("%Y%m%d"),
        )
        for qualifier, day in (("346", a.plan_begin), ("347", a.plan_end))
        if day is not None
    ]
    name = a_loops.Loop2100C(
        nm1_segment=a_seg.Loop2100CNm1Segment(
            entity_identifier_code="IL",
            entity_type_qualifier="1",
            name_last_or_organization_name=clean(q.member_last),
            name_first=clean(q.member_first, limit=35) or None,
            identification_code_qualifier="MI",
            identification_code=clean(q.member_id, limit=80),
        ),
        dmg_segment=DmgSegment(
            date_time_period_format_qualifier="D8",
            date_time_period=q.birth_date.strftime("%Y%m%d"),
        ),
        dtp_segment=dates or None,
        loop_2110c=[a_loops.Loop2110C(eb_segment=_eb(b)) for b in a.benefits] or None,
    )
    subscriber = a_loops.Loop2000C(
        hl_segment=a_seg.Loop2000CHlSegment(
            hierarchical_id_number="3",
            hierarchical_parent_id_number="2",
            hierarchical_level_code="22",
            hierarchical_child_code="0",
        ),
        trn_segment=[
            TrnSegment(
                trace_type_code="2",
                reference_identification_1=clean(a.trace, limit=50),
                originating_company_identifier=ORIGINATOR,
            )
        ],
        loop_2100c=name,
    )
    body: dict[str, Any] = {
        "header": a_loops.Header(
            st_segment=a_seg.HeaderStSegment(
                transaction_set_identifier_code="271",
                transaction_set_control_number="0001",
                implementation_convention_reference="005010X279A1",
            ),
            bht_segment=a_seg.HeaderBhtSegment(
                hierarchical_structure_code="0022",
                transaction_set_purpose_code="11",
                submitter_transactional_identifier=clean(q.reference, limit=50),
                transaction_set_creation_date=created.strftime("%Y%m%d"),
                transaction_set_creation_time=created.strftime("%H%M"),
            ),
        ),
        "loop_2000a": [
            a_loops.Loop2000A(
                hl_segment=a_seg.Loop2000AHlSegment(
                    hierarchical_id_number="1",
                    hierarchical_level_code="20",
                    hierarchical_child_code="1",
                ),
                loop_2100a=a_loops.Loop2100A(
                    nm1_segment=a_seg.Loop2100ANm1Segment(
                        entity_identifier_code="PR",
                        entity_type_qualifier="2",
                        name_last_or_organization_name=clean(q.payer_name),
                        identification_code_qualifier="PI",
                        identification_code=clean(a.payer_id, limit=80),
                    )
                ),
                loop_2000b=[
                    a_loops.Loop2000B(
                        hl_segment=a_seg.Loop2000BHlSegment(
                            hierarchical_id_number="2",
                            hierarchical_parent_id_number="1",
                            hierarchical_level_code="21",
                            hierarchical_child_code="1",
                        ),
                        loop_2100b=a_loops.Loop2100B(
                            nm1_segment=a_seg.Loop2100BNm1Segment(
                                entity_identifier_code="1P",
                                entity_type_qualifier="2",
                                name_last_or_organization_name=clean(q.requester_name),
                                identification_code_qualifier="XX",
                                identification_code=q.requester_npi,
                            )
                        ),
                        loop_2000c=[subscriber],
                    )
                ],
            )
        ],
    }
    text = _write(
        body, a_loops.Footer, EligibilityBenefit, sender, receiver, control_number, created
    )
    return _with_subscriber_aaa(text, a.reject_codes)


def _eb(b: Benefit) -> EbSegment:
    values: dict[str, Any] = {"eligibility_benefit_information": b.status}
    if b.service_types:
        values["service_type_code"] = list(b.service_types)
    if b.plan:
        values["plan_coverage_description"] = clean(b.plan, limit=50)
    if b.authorization:
        values["authorization_certification_indicator"] = b.authorization
    if b.procedure:
        values["procedure_identifier"] = ["HC", b.procedure]
    return EbSegment(**values)


def _with_subscriber_aaa(text: str, codes: Sequence[str]) -> str:
    """Put the subscriber's AAA segments after its NM1*IL (see the module's note)."""
    if not codes:
        return text
    lines = text.split("~")
    at = next(i for i, s in enumerate(lines) if s.lstrip().startswith("NM1*IL*"))
    lines[at + 1 : at + 1] = [f"\nAAA*N**{code}*C" for code in codes]
    se = next(i for i, s in enumerate(lines) if s.lstrip().startswith("SE*"))
    count = lines[se].strip().split("*")[1]
    lines[se] = lines[se].replace(f"SE*{count}*", f"SE*{int(count) + len(codes)}*")
    return "~".join(lines)


def read_answer(text: str, interchange: Interchange) -> Answer:
    """A payer's 271: the trace it echoes, the member, its rejects and its benefits."""
    transaction = interchange.transactions[0]
    reject_codes, stripped = _subscriber_aaa(text, transaction)
    model = _one_model(stripped, interchange, EligibilityBenefit)
    assert isinstance(model, EligibilityBenefit)
    source = model.loop_2000a[0]
    subscribers = [c for b in source.loop_2000b for c in (b.loop_2000c or [])]
    refusals = _upper_aaa(transaction)
    reference = transaction.body[0].get(3) if transaction.body else ""
    if not subscribers and refusals:
        # Refused at the payer (2100A) or the receiver (2100B): X279A1 returns no
        # subscriber loop, so the inquiry is named by the BHT03 echoed.
        return Answer(
            trace="",
            payer_id=source.loop_2100a.nm1_segment.identification_code or "",
            member_id="",
            reject_codes=(),
            benefits=(),
            reference=reference,
            refusals=refusals,
        )
    if not subscribers:
        raise X12FormatError(
            "the 271 names no subscriber (loop 2000C)",
            segment="HL",
            position=transaction.segments[-1].position,
            control_number=transaction.control_number,
            syntax_code="3",
        )
    sub = subscribers[0]
    trace = next(
        (t.reference_identification_1 for t in sub.trn_segment or [] if t.trace_type_code == "2"),
        "",
    )
    name = sub.loop_2100c
    dates: dict[str, date] = {
        _value(d.date_time_qualifier): _as_date(d.date_time_period) for d in name.dtp_segment or []
    }
    return Answer(
        trace=trace,
        payer_id=source.loop_2100a.nm1_segment.identification_code or "",
        member_id=name.nm1_segment.identification_code or "",
        reject_codes=tuple(reject_codes),
        benefits=tuple(_benefit(loop.eb_segment) for loop in name.loop_2110c or []),
        plan_begin=dates.get("346") or dates.get("356"),
        plan_end=dates.get("347") or dates.get("357"),
        reference=reference,
        refusals=refusals,
    )


def _upper_aaa(t: Transaction) -> tuple[tuple[str, str], ...]:
    """AAA03 of the payer's and the receiver's loops (HL03 20 and 21), with the level."""
    found: list[tuple[str, str]] = []
    level = ""
    for s in t.segments:
        if s.tag == "HL":
            level = s.get(3)
        elif s.tag == "AAA" and level in {"20", "21"}:
            found.append((level, s.get(3)))
    return tuple(found)


def _benefit(eb: EbSegment) -> Benefit:
    procedure = eb.procedure_identifier or []
    return Benefit(
        status=_value(eb.eligibility_benefit_information),
        service_types=tuple(_value(c) for c in eb.service_type_code or []),
        plan=eb.plan_coverage_description,
        authorization=_value(eb.authorization_certification_indicator)
        if eb.authorization_certification_indicator
        else None,
        procedure=procedure[1] if len(procedure) > 1 else None,
    )


def _subscriber_aaa(text: str, t: Transaction) -> tuple[list[str], str]:
    """AAA codes of the subscriber loop, and the interchange without those segments."""
    codes: list[str] = []
    drop: set[int] = set()
    in_subscriber = False
    for s in t.segments:
        if s.tag == "HL":
            in_subscriber = s.get(3) in {"22", "23"}
        elif s.tag == "EB":
            in_subscriber = False
        elif s.tag == "AAA" and in_subscriber:
            codes.append(s.get(3))
            drop.add(s.position)
    if not drop:
        return codes, text
    kept: list[str] = []
    position = 0
    for raw in text.split("~"):
        piece = raw
        if raw.strip():
            position += 1
            if position in drop:
                continue
            if raw.strip().startswith("SE*"):
                count = raw.strip().split("*")[1]
                piece = raw.replace(f"SE*{count}*", f"SE*{int(count) - len(drop)}*")
        kept.append(piece)
    return codes, "~".join(kept)


# ---- shared -------------------------------------------------------------------------


def _write(
    body: dict[str, Any],
    footer: Any,
    kind: Any,
    sender: Party,
    receiver: Party,
    control_number: int,
    created: datetime,
) -> str:
    placeholder = dict(
        body,
        footer={
            "se_segment": {"transaction_segment_count": 1, "transaction_set_control_number": "0001"}
        },
    )
    body["footer"] = footer(
        se_segment=SeSegment(
            transaction_segment_count=count_segments(placeholder),
            transaction_set_control_number="0001",
        )
    )
    text = write_transactions(
        [kind(**body)],
        sender_id=sender.id,
        receiver_id=receiver.id,
        sender_qualifier=sender.qualifier,
        receiver_qualifier=receiver.qualifier,
        interchange_control_number=str(control_number),
        group_control_number=str(control_number),
        created=created,
    )
    return str(text)


def _one_model(text: str, interchange: Interchange, kind: type) -> object:
    transaction = interchange.transactions[0]
    try:
        with X12ModelReader(text) as reader:
            models = list(reader.models())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise X12FormatError(
            f"{where}: {first['msg']}",
            segment=_segment_of(first["loc"]),
            position=transaction.segments[0].position,
            control_number=transaction.control_number,
        ) from None
    except Exception as exc:
        # x12sdk fails on a damaged file in many ways (TypeError, AttributeError, KeyError,
        # its own parse error): each means a bad file, never a fault of CareLoop's.
        raise X12FormatError(
            f"x12sdk could not read the {transaction.code} transaction set "
            f"({type(exc).__name__}: a segment out of place or damaged)",
            segment="ST",
            position=transaction.segments[0].position,
            control_number=transaction.control_number,
        ) from None
    found = [m for m in models if isinstance(m, kind)]
    if len(found) != 1:
        raise X12FormatError(
            f"expected one {kind.__name__} transaction set, found {len(found)}",
            segment="ST",
            position=transaction.segments[0].position,
            control_number=transaction.control_number,
        )
    return found[0]


def _segment_of(loc: tuple[int | str, ...]) -> str:
    for part in reversed(loc):
        if isinstance(part, str) and part.endswith("_segment"):
            return part.removesuffix("_segment").upper()
    return "ST"


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(str(value), "%Y%m%d").date()


def _time(bht: Any) -> Any:
    value = bht.transaction_set_creation_time
    if isinstance(value, str):
        return datetime.strptime(value[:4], "%H%M").time()
    return value


def _value(code: object) -> str:
    return str(getattr(code, "value", code))
