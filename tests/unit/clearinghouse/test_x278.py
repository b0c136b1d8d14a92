"""The 278 builder and parser (005010X217): the guide's structure, round trips of any
valid request and response, and malformed files refused with the segment and position."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.clearinghouse import rules, x278
from careloop.clearinghouse.envelope import Party, X12FormatError, read_interchange

US, PAYER = Party("ZZ", "CARELOOP"), Party("ZZ", "NEHP")
CREATED = datetime(2026, 3, 2, 9, 30)

# A request in the shape of the guide's examples: segments CareLoop does not write itself
# (requester PRV and address, the subscriber's REF, the event's DTP*AAH and CL-less HI,
# a service provider NM1*SJ in 2000F, charges on SV1) are read past, not refused.
TO_PAYER = (
    "ISA*00*          *00*          *ZZ*CARELOOP       *ZZ*NEHP           "
    "*260302*0930*^*00501*000000017*0*T*:~\n"
)
FROM_PAYER = (
    "ISA*00*          *00*          *ZZ*NEHP           *ZZ*CARELOOP       "
    "*260302*1010*^*00501*000000017*0*T*:~\n"
)
GUIDE_REQUEST = (
    TO_PAYER
    + """GS*HI*CARELOOP*NEHP*20260302*0930*17*X*005010X217~
ST*278*0001*005010X217~
BHT*0007*13*0000017*20260302*0930~
HL*1**20*1~
NM1*X3*2*NEW ENGLAND HEALTH PLAN*****PI*NEHP~
HL*2*1*21*1~
NM1*1P*2*CARELOOP CARE COORDINATION*****XX*1234567893~
N3*41 ASYLUM ST~
N4*HARTFORD*CT*06103~
PER*IC*INTAKE DESK*TE*8605550100~
PRV*RF*PXC*251E00000X~
HL*3*2*22*1~
NM1*IL*1*HALE*DOROTHY****MI*NEH448812301~
REF*6P*GRP100~
DMG*D8*19450123*F~
HL*4*3*EV*1~
TRN*1*CL-2026-000017-4*9CARELOOP0~
UM*HS*I*18*12:B**U~
DTP*AAH*D8*20260303~
HI*ABK:J441*ABF:I509~
HL*5*4*SS*0~
TRN*1*CL-2026-000017-4-1*9CARELOOP0~
UM*HS*I*18~
DTP*472*RD8*20260303-20260531~
SV1*HC:E1390*150*UN*1***1~
NM1*SJ*2*CHARTER OAK HOME MEDICAL*****XX*1245319599~
HL*6*4*SS*0~
TRN*1*CL-2026-000017-4-2*9CARELOOP0~
UM*HS*I*42~
DTP*472*RD8*20260303-20260531~
SV2**HC:G0299*0*UN*8~
HSD*VS*2***35*4~
SE*32*0001~
GE*1*17~
IEA*1*000000017~
"""
)

GUIDE_RESPONSE = (
    FROM_PAYER
    + """GS*HI*NEHP*CARELOOP*20260302*1010*17*X*005010X217~
ST*278*0001*005010X217~
BHT*0007*11*0000017*20260302*1010~
HL*1**20*1~
NM1*X3*2*NEW ENGLAND HEALTH PLAN*****PI*NEHP~
PER*IC*DR LEE PEER REVIEW*TE*8005550100~
HL*2*1*21*1~
NM1*1P*2*CARELOOP CARE COORDINATION*****XX*1234567893~
HL*3*2*22*1~
NM1*IL*1*HALE*DOROTHY****MI*NEH448812301~
HL*4*3*EV*1~
TRN*2*CL-2026-000017-4*9CARELOOP0~
TRN*1*PAYER778*1999999999~
UM*HS*I*18~
HCR*A2*AUTH0778~
DTP*007*D8*20260303~
DTP*036*D8*20260531~
HL*5*4*SS*0~
TRN*2*CL-2026-000017-4-1*9CARELOOP0~
UM*HS*I*18~
HCR*A1*AUTH0778~
SV1*HC:E1390*0*UN*1~
HL*6*4*SS*0~
TRN*2*CL-2026-000017-4-2*9CARELOOP0~
UM*HS*I*42~
HCR*A6*AUTH0778~
SV1*HC:G0299*0*UN*6~
SE*27*0001~
GE*1*17~
IEA*1*000000017~
"""
)


def test_a_request_in_the_guides_shape_is_read() -> None:
    interchange = read_interchange(GUIDE_REQUEST)
    request = x278.read_request(interchange.transactions[0])
    assert (interchange.sender_id, interchange.control_number) == ("CARELOOP", "000000017")
    assert request.trace == "CL-2026-000017-4"
    assert request.expedited is True
    assert request.diagnoses == ("J44.1", "I50.9")
    assert request.parties.member_id == "NEH448812301"
    assert request.parties.birth_date == date(1945, 1, 23)
    oxygen, visits = request.services
    assert (oxygen.line, oxygen.code, oxygen.units, oxygen.service_type) == (1, "E1390", 1, "18")
    assert (oxygen.start, oxygen.end) == (date(2026, 3, 3), date(2026, 5, 31))
    assert visits.institutional is True
    assert (visits.code, visits.units) == ("G0299", 8)
    assert visits.frequency == x278.Frequency(quantity=2, unit="VS", period="35", periods=4)


def test_a_response_in_the_guides_shape_is_read() -> None:
    response = x278.read_response(read_interchange(GUIDE_RESPONSE).transactions[0])
    assert response.trace == "CL-2026-000017-4"
    assert response.action is rules.Action.partially_certified
    assert response.certification_number == "AUTH0778"
    assert (response.valid_from, response.valid_to) == (date(2026, 3, 3), date(2026, 5, 31))
    assert response.contact == "DR LEE PEER REVIEW"
    assert [(s.line, s.action, s.units) for s in response.services] == [
        (1, rules.Action.certified, 1),
        (2, rules.Action.modified, 6),
    ]


@pytest.mark.parametrize(
    ("company", "trn03"),
    [("123456789", "1123456789"), ("CSCARE", "9CSCARE000"), ("NEHP-001-LONG", "9NEHP-001-")],
)
def test_a_payers_trace_names_it_by_ein_or_as_another_identifier(company: str, trn03: str) -> None:
    # TRN03: '1' is followed by an EIN (nine digits), '9' by another identifier.
    assert x278.originator(company) == trn03
    response = x278.read_response(read_interchange(GUIDE_RESPONSE).transactions[0])
    parties = replace(response.parties, payer_id=company)
    body = x278.response_segments(replace(response, parties=parties, payer_trace="P1"))
    assert f"TRN*1*P1*{trn03}" in body


def test_a_request_prices_no_service() -> None:
    # SV102 / SV203 are the charge, which X217 asks for only when the submitter prices
    # the service: CareLoop does not, so the element is empty (a 0 said "free").
    service = x278.ServiceRequest(1, "E1390", 1, "18", date(2026, 3, 3), date(2026, 5, 31))
    visits = x278.ServiceRequest(
        2, "G0299", 8, "42", date(2026, 3, 3), date(2026, 5, 31), institutional=True
    )
    request = x278.read_request(read_interchange(GUIDE_REQUEST).transactions[0])
    body = x278.request_segments(
        x278.ReviewRequest(
            trace="T",
            reference="278-1",
            created=CREATED,
            parties=request.parties,
            service_type="18",
            diagnoses=("J44.1",),
            services=(service, visits),
        )
    )
    assert "SV1*HC:E1390**UN*1" in body
    assert "SV2**HC:G0299**UN*8" in body


# ---- round trips ----------------------------------------------------------------------

UPPER = string.ascii_uppercase
words = st.text(st.sampled_from(UPPER), min_size=1, max_size=20)
ids = st.text(st.sampled_from(UPPER + string.digits), min_size=2, max_size=15)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
minutes = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)
hcpcs = st.builds(
    lambda letter, n: f"{letter}{n:04d}", st.sampled_from("AEGKLS"), st.integers(0, 9999)
)
icd10 = st.builds(
    lambda a, n, tail: f"{a}{n:02d}" + (f".{tail}" if tail else ""),
    st.sampled_from(UPPER),
    st.integers(0, 99),
    st.text(st.sampled_from(string.digits + "AX"), max_size=4),
)
parties = st.builds(
    x278.Parties,
    payer_name=words,
    payer_id=ids,
    requester_name=words,
    requester_npi=st.just("1234567893"),
    member_last=words,
    member_first=words,
    member_id=ids,
    birth_date=days,
    sex=st.sampled_from(["F", "M", "U", None]),
)


@st.composite
def services(draw: st.DrawFn) -> tuple[x278.ServiceRequest, ...]:
    lines = draw(st.lists(st.integers(1, 50), min_size=1, max_size=5, unique=True))
    out = []
    for line in lines:
        start = draw(days)
        frequency = draw(
            st.none()
            | st.builds(
                x278.Frequency,
                quantity=st.integers(1, 30),
                unit=st.sampled_from(["VS", "UN"]),
                period=st.sampled_from(["7", "34", "35"]),
                periods=st.none() | st.integers(1, 52),
            )
        )
        out.append(
            x278.ServiceRequest(
                line=line,
                code=draw(hcpcs),
                units=draw(st.integers(1, 10_000)),
                service_type=draw(st.sampled_from(["12", "18", "42"])),
                start=start,
                end=start + timedelta(days=draw(st.integers(0, 365))),
                frequency=frequency,
                institutional=draw(st.booleans()),
            )
        )
    return tuple(out)


requests = st.builds(
    x278.ReviewRequest,
    trace=st.builds(
        lambda n, i: f"CL-2026-{n:06d}-{i}", st.integers(1, 999_999), st.integers(1, 10**6)
    ),
    reference=ids,
    created=minutes,
    parties=parties,
    service_type=st.sampled_from(["12", "18", "42"]),
    diagnoses=st.lists(icd10, max_size=12, unique=True).map(tuple),
    services=services(),
    expedited=st.booleans(),
)


def _round_trip(body: list[str], control: int = 42) -> x278.Transaction:
    text = x278.write(body, sender=US, receiver=PAYER, control_number=control, created=CREATED)
    return read_interchange(text).transactions[0]


@settings(max_examples=60, deadline=None)
@given(requests)
def test_any_valid_request_round_trips(request: x278.ReviewRequest) -> None:
    assert x278.read_request(_round_trip(x278.request_segments(request))) == request


@st.composite
def responses(draw: st.DrawFn) -> x278.ReviewResponse:
    request = draw(requests)
    number = draw(st.none() | ids)
    return x278.ReviewResponse(
        trace=request.trace,
        payer_trace=draw(ids),
        reference=request.reference,
        created=request.created,
        parties=request.parties,
        service_type=request.service_type,
        action=draw(st.sampled_from(list(rules.Action))),
        certification_number=number,
        reason_code=draw(st.none() | st.sampled_from(["16", "50", "96", "197"])),
        valid_from=draw(st.none() | days),
        valid_to=draw(st.none() | days),
        message=draw(st.none() | words),
        contact=draw(st.none() | words),
        services=tuple(
            x278.ServiceDecision(
                line=s.line,
                code=s.code,
                action=draw(st.sampled_from(list(rules.Action))),
                units=draw(st.integers(0, s.units)),
                certification_number=number,
                reason_code=None,
            )
            for s in request.services
        ),
    )


@settings(max_examples=40, deadline=None)
@given(responses())
def test_any_valid_response_round_trips(response: x278.ReviewResponse) -> None:
    assert x278.read_response(_round_trip(x278.response_segments(response))) == response


# ---- malformed files ------------------------------------------------------------------


def _error(text: str, *, response: bool = False) -> X12FormatError:
    with pytest.raises(X12FormatError) as caught:
        transaction = read_interchange(text).transactions[0]
        (x278.read_response if response else x278.read_request)(transaction)
    return caught.value


def test_a_truncated_file_names_its_last_segment() -> None:
    text = GUIDE_REQUEST[: GUIDE_REQUEST.index("GE*1*17")]
    error = _error(text)
    assert (error.segment, error.position) == ("SE", 34)
    assert "does not end with IEA" in error.detail


def test_a_segment_count_that_is_wrong_is_refused_at_se() -> None:
    error = _error(GUIDE_REQUEST.replace("SE*32*0001", "SE*31*0001"))
    assert (error.segment, error.position, error.element) == ("SE", 34, 1)
    assert "SE01 says '31' segments; the transaction set has 32" in error.detail


def test_control_numbers_that_do_not_pair_are_refused() -> None:
    error = _error(GUIDE_REQUEST.replace("IEA*1*000000017", "IEA*1*000000018"))
    assert (error.segment, error.element) == ("IEA", 2)
    error = _error(GUIDE_REQUEST.replace("GE*1*17", "GE*2*17"))
    assert (error.segment, error.element) == ("GE", 1)


def test_an_isa_that_is_not_106_characters_is_refused() -> None:
    error = _error(GUIDE_REQUEST.replace("*ZZ*CARELOOP       *", "*ZZ*CARELOOP*", 1))
    assert error.segment == "ISA"
    assert error.position == 1


def test_an_unknown_segment_in_a_loop_names_the_loop_and_position() -> None:
    text = GUIDE_REQUEST.replace("DTP*AAH*D8*20260303~", "DTP*AAH*D8*20260303~\nXYZ*1~").replace(
        "SE*32*0001", "SE*33*0001"
    )
    error = _error(text)
    assert (error.segment, error.position, error.in_transaction) == ("XYZ", 21, 19)
    assert "XYZ is not a segment of loop 2000E (patient event)" in error.detail
    assert error.syntax_code == "2"


def test_a_known_segment_in_the_wrong_loop_is_refused() -> None:
    text = GUIDE_REQUEST.replace("REF*6P*GRP100~", "SV1*HC:E1390*0*UN*1~")
    error = _error(text)
    assert (error.segment, error.position) == ("SV1", 15)
    assert "loop 2000C (subscriber)" in error.detail


def test_a_service_hanging_from_the_subscriber_is_refused() -> None:
    error = _error(GUIDE_REQUEST.replace("HL*5*4*SS*0", "HL*5*3*SS*0"))
    assert (error.segment, error.element) == ("HL", 2)


def test_a_response_without_its_outcome_is_refused() -> None:
    text = GUIDE_RESPONSE.replace("HCR*A2*AUTH0778~\n", "").replace("SE*27*0001", "SE*26*0001")
    error = _error(text, response=True)
    assert error.segment == "HL"
    assert "no review outcome (HCR)" in error.detail


def test_an_unknown_review_action_is_refused() -> None:
    error = _error(GUIDE_RESPONSE.replace("HCR*A2*", "HCR*Z9*"), response=True)
    assert (error.segment, error.element) == ("HCR", 1)


def test_the_separators_are_the_ones_the_isa_declares() -> None:
    # Element |, repetition !, component >, segments ended by a new line alone.
    swapped = (
        GUIDE_REQUEST.replace("*", "|").replace("^", "!").replace(":", ">").replace("~\n", "\n")
    )
    request = x278.read_request(read_interchange(swapped).transactions[0])
    assert request == x278.read_request(read_interchange(GUIDE_REQUEST).transactions[0])


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.text(st.sampled_from(UPPER + string.digits + "*:~-. "), max_size=12),
    st.booleans(),
)
def test_a_damaged_file_is_read_or_refused_by_name_never_crashes(
    at: int, garbage: str, response: bool
) -> None:
    text = GUIDE_RESPONSE if response else GUIDE_REQUEST
    at %= len(text)
    damaged = text[:at] + garbage + text[at + len(garbage) :]
    try:
        transaction = read_interchange(damaged).transactions[0]
        (x278.read_response if response else x278.read_request)(transaction)
    except X12FormatError as error:
        assert error.segment is not None
        assert error.position >= 1
        assert f"at position {error.position}" in error.detail
