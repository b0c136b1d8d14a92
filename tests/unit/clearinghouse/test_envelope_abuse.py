"""Interchanges as other senders write them, and as they break: TA1 segments ahead of the
group, more than one group, lines wrapped at 80 columns, bytes that are not ASCII, and
faults of the transaction set's own envelope (ST/SE) reported in the 999's IK5 as
005010X231A1 codes them, each 999 checked by pyx12's map; a 278 response refused by the
payer's AAA read as such."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.clearinghouse import ack, rules, service, x278
from careloop.clearinghouse.envelope import X12FormatError, read_interchange
from tests.unit.clearinghouse.test_x270_and_999 import AT, PAYER, US, _pyx12_accepts
from tests.unit.clearinghouse.test_x278 import GUIDE_REQUEST, GUIDE_RESPONSE

TA1 = "TA1*000000016*260301*0900*R*024~\n"


def _reply(error: X12FormatError, code: str = "278") -> str:
    return ack.rejection(
        error,
        functional_code="HI",
        group_control_number="17",
        transaction_code=code,
        version="005010X217",
        sender=US,
        receiver=PAYER,
        control_number=9,
        created=AT,
    )


def test_ta1_segments_ahead_of_the_group_are_read_with_it() -> None:
    # X12.6: an interchange may carry TA1 segments after ISA and before its groups.
    text = GUIDE_RESPONSE.replace("~\nGS*", f"~\n{TA1}GS*", 1)
    interchange = read_interchange(text)
    assert [s.tag for s in interchange.acknowledgments] == ["TA1"]
    assert interchange.acknowledgments[0].get(1) == "000000016"
    assert [t.code for t in interchange.transactions] == ["278"]
    assert interchange.group_control_number == "17"


def test_two_groups_are_counted_and_refused_by_name() -> None:
    # A second group is refused as the interchange's content (TA1 024), never as an IEA01
    # miscount: IEA01 2 is right for two groups.
    start, end = GUIDE_REQUEST.index("GS*"), GUIDE_REQUEST.index("IEA*")
    group = GUIDE_REQUEST[start:end]
    second = group.replace("*17*X*", "*18*X*").replace("GE*1*17~", "GE*1*18~")
    text = GUIDE_REQUEST[:end] + second + "IEA*2*000000017~\n"
    with pytest.raises(X12FormatError) as caught:
        read_interchange(text)
    assert caught.value.interchange_note == "024"
    assert caught.value.segment == "GS"
    assert "one functional group per interchange; this one has 2" in caught.value.detail
    # IEA01 1 for the same two groups is the miscount.
    with pytest.raises(X12FormatError) as miscount:
        read_interchange(text.replace("IEA*2*", "IEA*1*"))
    assert miscount.value.interchange_note == "021"
    assert "this file has 2" in miscount.value.detail


def test_an_interchange_wrapped_at_80_columns_reads_as_the_plain_one() -> None:
    flat = GUIDE_REQUEST.replace("\n", "")
    wrapped = "\r\n".join(textwrap.wrap(flat, 80, drop_whitespace=False)) + "\r\n"
    assert "\n" in wrapped[:106]
    plain = x278.read_request(read_interchange(GUIDE_REQUEST).transactions[0])
    assert x278.read_request(read_interchange(wrapped).transactions[0]) == plain


@pytest.mark.parametrize("bad", ["\ufffd", "É", "\x07"])
def test_a_character_outside_x12s_sets_is_refused_naming_the_element(bad: str) -> None:
    text = GUIDE_REQUEST.replace("NM1*IL*1*HALE*", f"NM1*IL*1*HA{bad}LE*")
    with pytest.raises(X12FormatError) as caught:
        read_interchange(text)
    error = caught.value
    assert (error.segment, error.position, error.element) == ("NM1", 14, 3)
    assert "X12 carries printable ASCII characters only" in error.detail
    reply = _reply(error)
    assert "~\nIK3*NM1*12**8~\nIK4*3**6~\nIK5*R*5~\n" in reply  # 6: invalid character
    assert _pyx12_accepts(reply)


def test_a_character_outside_x12s_sets_in_the_envelope_is_a_ta1() -> None:
    text = GUIDE_REQUEST.replace("~\nIEA*1*000000017", "~\nIEA*1*000000017\x00")
    with pytest.raises(X12FormatError) as caught:
        read_interchange(text)
    assert (caught.value.segment, caught.value.interchange_note) == ("IEA", "024")


@pytest.mark.parametrize(
    ("change", "ik5"),
    [
        (("SE*32*0001~", "SE*32*0002~"), "3"),  # ST02 and SE02 differ
        (("SE*32*0001~", "SE*31*0001~"), "4"),  # SE01 miscounts the segments
        (("SE*32*0001~\n", ""), "2"),  # no SE
    ],
)
def test_a_fault_of_the_sets_own_envelope_is_said_in_ik5(change: tuple[str, str], ik5: str) -> None:
    with pytest.raises(X12FormatError) as caught:
        read_interchange(GUIDE_REQUEST.replace(*change))
    reply = _reply(caught.value)
    assert f"~\nAK2*278*0001*005010X217~\nIK5*R*{ik5}~\nAK9*R*1*1*0~\n" in reply
    assert "IK3" not in reply
    assert _pyx12_accepts(reply)


REFUSED = (
    GUIDE_RESPONSE[: GUIDE_RESPONSE.index("HL*4*3*EV*1~")].replace("HL*3*2*22*1~", "HL*3*2*22*0~")
    + "AAA*N**75*C~\nSE*11*0001~\nGE*1*17~\nIEA*1*000000017~\n"
)


def test_a_response_refused_at_the_subscriber_is_read_as_the_payers_aaa() -> None:
    # X217: a request refused at 2010C stops there; no 2000E, so BHT03 names the request.
    response = x278.read_response(read_interchange(REFUSED).transactions[0])
    assert response.action is None
    assert response.trace == ""
    assert response.reference == "0000017"
    assert response.rejections == (x278.Rejection("22", "75", "C"),)
    assert rules.refusal((("22", "75"),)) == (
        "the payer has no such subscriber (about the member, code 75)"
    )
    # Without its AAA the same response lacks its patient event, as before.
    with pytest.raises(X12FormatError, match="no loop 2000E"):
        x278.read_response(
            read_interchange(
                REFUSED.replace("AAA*N**75*C~\n", "").replace("SE*11", "SE*10")
            ).transactions[0]
        )


@pytest.mark.parametrize(
    ("field", "value", "note"),
    [
        ("*260302*0930*", "*260231*0930*", "014"),  # 31 February
        ("*260302*0930*", "*260302*2460*", "015"),
        ("*00501*", "*00401*", "017"),
        ("*000000017*0*T*", "*00000017A*0*T*", "018"),
        ("*000000017*0*T*", "*000000017*2*T*", "019"),
        ("*000000017*0*T*", "*000000017*0*X*", "020"),
    ],
)
def test_an_isa_element_out_of_its_code_is_a_ta1_with_its_note(
    field: str, value: str, note: str
) -> None:
    isa, rest = GUIDE_REQUEST.split("~", 1)
    changed = isa.replace(field, value, 1)
    assert len(changed) == len(isa)
    text = changed + "~" + rest.replace("IEA*1*000000017", "IEA*1*" + changed.split("*")[13])
    with pytest.raises(X12FormatError) as caught:
        read_interchange(text)
    assert (caught.value.segment, caught.value.interchange_note) == ("ISA", note)
    assert caught.value.detail.startswith(
        f"segment ISA at position 1, element {caught.value.element}: ISA"
    )


SCRIPTS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",))
    | st.sampled_from("王芳李娜ДмитрийОльгаمحمدفاطمةZoëÅsaJosé O'Brien\u00a0\u200b\t"),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(last=SCRIPTS, first=SCRIPTS, payer=SCRIPTS)
def test_careloops_own_278_passes_its_own_character_check_for_names_in_any_script(
    last: str, first: str, payer: str
) -> None:
    # What CareLoop writes is folded into X12's character set (a name in another script
    # altogether goes as UNKNOWN), so a payer reading it back never meets a byte the
    # envelope refuses.
    request = x278.read_request(read_interchange(GUIDE_REQUEST).transactions[0])
    parties = replace(
        request.parties,
        member_last=service._name(last),
        member_first=service._name(first),
        payer_name=payer,
    )
    text = x278.write(
        x278.request_segments(replace(request, parties=parties)),
        sender=US,
        receiver=PAYER,
        control_number=5,
        created=AT,
    )
    text.encode("ascii")
    read = x278.read_request(read_interchange(text).transactions[0])
    assert read.parties.member_last == (service._name(last) or "UNKNOWN")
