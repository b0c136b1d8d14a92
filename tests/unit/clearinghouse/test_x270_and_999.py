"""The 270 and 271 through x12sdk, the 271's facts as eligibility takes them, the 999
checked by pyx12's 005010X231A1 map, and the simulator's and codes' rules."""

from __future__ import annotations

import io
import string
from datetime import date, datetime

import pytest
import pyx12.params
import pyx12.x12n_document
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.clearinghouse import ack, reviews, rules, service, x270, x278
from careloop.clearinghouse.envelope import Party, X12FormatError, clean, read_interchange
from careloop.eligibility.rules import EligibilityStatus
from careloop.prior_auth.rules import DenialReason, Outcome
from tests.unit.clearinghouse.test_x278 import GUIDE_REQUEST, GUIDE_RESPONSE

US, PAYER = Party("ZZ", "CARELOOP"), Party("ZZ", "NEHP")
AT = datetime(2026, 3, 2, 9, 30)
INQUIRY = x270.Inquiry(
    trace="CL-2026-000017-3",
    reference="270-3",
    created=AT,
    payer_name="NEW ENGLAND HEALTH PLAN",
    payer_id="NEHP",
    requester_name="CARELOOP CARE COORDINATION",
    requester_npi="1234567893",
    member_last="HALE",
    member_first="DOROTHY",
    member_id="NEH448812301",
    birth_date=date(1945, 1, 23),
    sex="F",
    service_date=date(2026, 3, 3),
    service_types=("30", "12"),
)


def test_an_inquiry_round_trips_through_x12sdk() -> None:
    text = x270.inquiry_text(INQUIRY, sender=US, receiver=PAYER, control_number=3, created=AT)
    interchange = read_interchange(text)
    assert interchange.functional_code == "HS"
    assert x270.read_inquiry(text, interchange) == INQUIRY


def _answer(answer: x270.Answer) -> tuple[str, x270.Answer]:
    text = x270.answer_text(
        answer, INQUIRY, sender=PAYER, receiver=US, control_number=3, created=AT
    )
    return text, x270.read_answer(text, read_interchange(text))


def test_an_active_answer_reads_back_with_its_plan_dates_and_procedures() -> None:
    sent = x270.Answer(
        trace=INQUIRY.trace,
        payer_id="NEHP",
        member_id="NEH448812301",
        reject_codes=(),
        benefits=(
            x270.Benefit("1", ("30",), plan="GOLD"),
            x270.Benefit("1", ("12",), authorization="Y", procedure="E1390"),
        ),
        plan_begin=date(2026, 1, 1),
        plan_end=date(2026, 12, 31),
    )
    _, read = _answer(sent)
    assert read == sent
    facts = service.payer_answer(read, partner="NEHP", control="000000003")
    assert facts.status is EligibilityStatus.active
    assert (facts.plan_code, facts.plan_end) == ("GOLD", date(2026, 12, 31))
    assert facts.authorization == {"E1390": True}


def test_a_subscriber_the_payer_does_not_know_reads_as_not_found() -> None:
    # x12sdk 2.2.0 refuses AAA*N**75 in loop 2100C; the module reads it itself.
    text, read = _answer(x270.Answer(INQUIRY.trace, "NEHP", "NEH448812301", ("75",), ()))
    assert "AAA*N**75*C~" in text
    assert read.reject_codes == ("75",)
    facts = service.payer_answer(read, partner="NEHP", control="1")
    assert facts.status is EligibilityStatus.not_found
    assert facts.reason == "the payer has no such subscriber"


def test_a_271_that_x12sdk_refuses_names_the_segment() -> None:
    text, _ = _answer(x270.Answer(INQUIRY.trace, "NEHP", "X1", (), (x270.Benefit("1", ("30",)),)))
    broken = text.replace("EB*1**30~", "EB*ZZ**30~")
    with pytest.raises(X12FormatError) as caught:
        x270.read_answer(broken, read_interchange(broken))
    assert caught.value.segment == "EB"


def _pyx12_accepts(text: str) -> bool:
    return bool(
        pyx12.x12n_document.x12n_document(
            param=pyx12.params.params(),
            src_file=io.StringIO(text),
            fd_997=None,
            fd_html=None,
            fd_xmldoc=None,
            map_path=None,
        )
    )


def test_the_999_for_an_unreadable_278_passes_pyx12s_map() -> None:
    text = GUIDE_REQUEST.replace("DTP*AAH*D8*20260303~", "XYZ*1~")
    with pytest.raises(X12FormatError) as caught:
        x278.read_request(read_interchange(text).transactions[0])
    reply = ack.rejection(
        caught.value,
        functional_code="HI",
        group_control_number="17",
        transaction_code="278",
        version="005010X217",
        sender=US,
        receiver=PAYER,
        control_number=9,
        created=AT,
    )
    assert "IK3*XYZ*18**2~" in reply
    assert "AK9*R*1*1*0~" in reply
    assert _pyx12_accepts(reply)
    assert not _pyx12_accepts(reply.replace("AK9*R*1*1*0", "AK9*Q*1*1*0"))


@pytest.mark.parametrize(
    ("trailer", "note"),
    [("IEA*1*000000018", "001"), ("IEA*2*000000017", "021"), ("", "023")],
)
def test_an_interchange_envelope_fault_is_answered_by_a_ta1(trailer: str, note: str) -> None:
    # 001: IEA02 is not ISA13; 021: IEA01 miscounts the groups; 023: the file ends early.
    text = GUIDE_REQUEST.replace("IEA*1*000000017~\n", trailer and f"{trailer}~\n")
    with pytest.raises(X12FormatError) as caught:
        read_interchange(text)
    reply = ack.interchange_rejection(
        caught.value,
        interchange_control="000000017",
        interchange_date="260302",
        interchange_time="0930",
        sender=US,
        receiver=PAYER,
        control_number=9,
        created=AT,
    )
    segments = reply.split("~\n")
    assert segments[0].startswith("ISA*00*") and len(segments[0]) == 105
    assert segments[1:] == [f"TA1*000000017*260302*0930*R*{note}", "IEA*0*000000009", ""]


@pytest.mark.parametrize(
    ("trailer", "ak9"),
    [("GE*1*18", "AK9*R*1*1*0*4"), ("GE*2*17", "AK9*R*2*1*0*5")],
)
def test_a_group_envelope_fault_is_answered_in_the_999s_ak9(trailer: str, ak9: str) -> None:
    # 4: GE02 is not GS06; 5: GE01 miscounts the transaction sets. No AK2 loop: the
    # transaction set itself was not at fault.
    with pytest.raises(X12FormatError) as caught:
        read_interchange(GUIDE_REQUEST.replace("GE*1*17", trailer))
    reply = ack.rejection(
        caught.value,
        functional_code="HI",
        group_control_number="17",
        transaction_code="278",
        version="005010X217",
        sender=US,
        receiver=PAYER,
        control_number=9,
        created=AT,
    )
    assert f"AK1*HI*17*005010X217~\n{ak9}~\nSE*4*0001~" in reply
    assert "AK2" not in reply and "IK3" not in reply
    assert _pyx12_accepts(reply)


def test_a_payer_response_reads_as_the_decision_prior_auth_records() -> None:
    response = x278.read_response(read_interchange(GUIDE_RESPONSE).transactions[0])
    decision = reviews.decision_of(response, rules.DEFAULT_REASON_CODES)
    assert decision.outcome is Outcome.partially_approved
    assert decision.authorization_number == "AUTH0778"
    assert [(i.line, i.units_approved) for i in decision.items] == [(1, 1), (2, 6)]
    denied = x278.read_response(
        read_interchange(GUIDE_RESPONSE.replace("HCR*A2*AUTH0778~", "HCR*A3**50~")).transactions[0]
    )
    body = reviews.decision_of(denied, rules.DEFAULT_REASON_CODES)
    assert body.denial_reason is DenialReason.not_medically_necessary
    assert body.peer_to_peer_contact == "DR LEE PEER REVIEW"


def test_the_simulator_pends_denies_and_caps_by_its_rules() -> None:
    lines = (rules.RequestedLine(1, "E1390", 1), rules.RequestedLine(2, "G0299", 120))
    sim = rules.SimulatorRules().with_overrides({"deny_codes": ["e0260"], "max_units": 100})
    pended = rules.simulate_review(sim, diagnoses=(), lines=lines, start=date(2026, 3, 3))
    assert pended.action is rules.Action.pended and pended.message
    capped = rules.simulate_review(sim, diagnoses=("J44.1",), lines=lines, start=date(2026, 3, 3))
    assert capped.action is rules.Action.partially_certified
    assert [(x.line, x.units) for x in capped.lines] == [(1, 1), (2, 100)]
    assert (capped.valid_from, capped.valid_to) == (date(2026, 3, 3), date(2026, 5, 31))
    denied = rules.simulate_review(
        sim,
        diagnoses=("J44.1",),
        lines=(rules.RequestedLine(1, "E0260", 1),),
        start=date(2026, 3, 3),
    )
    assert (denied.action, denied.reason_code) == (rules.Action.not_certified, "50")
    with pytest.raises(ValueError, match="max_unit"):
        rules.SimulatorRules().with_overrides({"max_unit": 3})


def test_values_are_folded_into_x12s_character_set() -> None:
    assert clean("Zoë O'Brien*~^:") == "ZOE O'BRIEN"
    assert clean("王芳") == ""
    assert rules.payer_x12_id("NEHP", {"NEHP": "04271"}) == "04271"
    assert rules.payer_code_of("04271", {"NEHP": "04271"}) == "NEHP"


ACTIVE = x270.Answer(
    INQUIRY.trace,
    "NEHP",
    "NEH448812301",
    (),
    (
        x270.Benefit("1", ("30",), plan="GOLD"),
        x270.Benefit("1", ("12",), authorization="Y", procedure="E1390"),
    ),
    date(2026, 1, 1),
)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.text(st.sampled_from(string.ascii_uppercase + string.digits + "*:~-. "), max_size=12),
)
def test_a_damaged_271_is_read_or_refused_by_name_never_crashes(at: int, garbage: str) -> None:
    # x12sdk fails on damaged files with TypeError, AttributeError, KeyError ...: each
    # becomes the X12 error that rejects the file (found by this test at 1,500 examples).
    text, _ = _answer(ACTIVE)
    at %= len(text)
    damaged = text[:at] + garbage + text[at + len(garbage) :]
    try:
        x270.read_answer(damaged, read_interchange(damaged))
    except X12FormatError as error:
        assert f"at position {error.position}" in error.detail
