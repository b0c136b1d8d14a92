"""Every 837P CareLoop writes passes pyx12's 005010X222A1 map with 0 errors; the billing
rules (units within the authorisation, fee-schedule charges, exact money)."""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.claim import rules, x837
from careloop.codes.npi import make_npi
from tests.factories.names import mixed_names, names

CREATED = datetime(2026, 3, 4, 9, 30)
npis = st.builds(
    lambda head, tail: make_npi(head + tail),
    st.sampled_from("12"),
    st.text(st.sampled_from(string.digits), min_size=8, max_size=8),
)
ids = st.text(st.sampled_from(string.ascii_uppercase + string.digits), min_size=1, max_size=20)
icd10 = st.builds(
    lambda letter, digits, tail: f"{letter}{digits:02d}" + (f".{tail}" if tail else ""),
    st.sampled_from("AEIJMRSZ"),
    st.integers(0, 99),
    st.text(st.sampled_from(string.digits), max_size=3),
)
taxonomies = st.sampled_from(["332B00000X", "251E00000X", "163W00000X", "207Q00000X"])
priced_codes = sorted(rules.DEFAULT_FEE_SCHEDULE)


@st.composite
def claims(draw: st.DrawFn) -> x837.Claim837:
    diagnoses = tuple(draw(st.lists(icd10, min_size=1, max_size=12, unique=True)))
    start = draw(st.dates(date(2024, 1, 1), date(2026, 12, 31)))
    asked = []
    for code, modifier in draw(st.lists(st.sampled_from(priced_codes), min_size=1, max_size=8)):
        pointers = draw(
            st.lists(st.integers(1, len(diagnoses)), min_size=1, max_size=4, unique=True)
        )
        asked.append(
            rules.Line(
                code=code,
                units=draw(st.integers(1, 999)),
                service_date=start + timedelta(days=draw(st.integers(0, 60))),
                modifiers=(modifier,) if modifier else (),
                pointers=tuple(pointers),
            )
        )
    lines = rules.price(asked, diagnoses=diagnoses, authorized_units=None)
    rendering = draw(
        st.none()
        | st.builds(
            x837.Provider,
            name=names,
            npi=npis,
            taxonomy=taxonomies,
            organization=st.booleans(),
            first=names,
        )
    )
    return x837.Claim837(
        claim_number=draw(ids),
        submitter_name=draw(mixed_names),
        submitter_id=draw(ids),
        submitter_phone=draw(st.text(st.sampled_from(string.digits + "-() "), max_size=14)),
        receiver_name=draw(names),
        receiver_id=draw(ids),
        billing=x837.Provider(draw(names), draw(npis), draw(taxonomies)),
        billing_tax_id=draw(st.text(st.sampled_from(string.digits), min_size=9, max_size=9)),
        billing_address=draw(mixed_names),
        billing_city=draw(names),
        billing_state=draw(st.sampled_from(["MA", "NY", "CA", "TX"])),
        billing_zip=draw(st.text(st.sampled_from(string.digits), min_size=5, max_size=10)),
        rendering=rendering,
        member_last=draw(names),
        member_first=draw(names),
        member_id=draw(ids),
        member_birth_date=draw(st.dates(date(1910, 1, 1), date(2026, 1, 1))),
        member_sex=draw(st.sampled_from(["F", "M", "U", ""])),
        group_number=draw(st.text(st.sampled_from(string.ascii_uppercase), max_size=10)),
        payer_name=draw(names),
        payer_id=draw(ids),
        filing_indicator=draw(st.sampled_from(["CI", "MC", "MB", "HM"])),
        diagnoses=diagnoses,
        lines=lines,
        total=rules.total(lines),
        authorization_number=draw(st.none() | ids),
    )


@settings(max_examples=25, deadline=None)
@given(claims())
def test_every_837p_written_passes_pyx12_with_no_errors(claim: x837.Claim837) -> None:
    text = x837.write(claim, control_number=17, created=CREATED)
    assert x837.validate(text) == []


def test_a_broken_837p_is_shown_with_its_segment_and_reason() -> None:
    text = x837.write(_claim(), control_number=3, created=CREATED)
    problems = x837.validate(text.replace("DMG*D8*19450123*F", "DMG*D8*1945012*F"))
    assert [(p.segment, p.line) for p in problems] == [("DMG", 17)]
    assert "invalid date" in str(problems[0])


def _claim() -> x837.Claim837:
    lines = rules.price(
        [rules.Line("E0260", 1, date(2026, 3, 3), ("RR",), (1, 2))],
        diagnoses=["I50.9", "Z99.81"],
        authorized_units={"E0260": 1},
    )
    return x837.Claim837(
        "CL1", "CARELOOP", "CARELOOP", "6175550100", "NEHP", "NEHP",
        x837.Provider("ACME DME", make_npi("123456789"), "332B00000X"),
        "123456789", "1 MAIN ST", "BOSTON", "MA", "02110", None,
        "HALE", "DOROTHY", "NEH1", date(1945, 1, 23), "F", "G1",
        "NEW ENGLAND HEALTH", "NEHP", "CI", ("I50.9", "Z99.81"), lines,
        rules.total(lines), "AUTH123",
    )  # fmt: skip


def test_units_above_the_authorisation_are_refused_naming_the_field() -> None:
    asked = [
        rules.Line("A4253", 100, date(2026, 3, 3)),
        rules.Line("A4253", 60, date(2026, 3, 10)),
    ]
    with pytest.raises(rules.ClaimRuleError) as caught:
        rules.price(asked, diagnoses=["E11.9"], authorized_units={"A4253": 150})
    assert caught.value.field == "lines[1].units"
    assert "160 units of A4253 exceed the 150 authorised" in caught.value.detail


def test_charges_are_exact_cents_from_the_fee_schedule() -> None:
    asked = [
        rules.Line("A4253", 3, date(2026, 3, 3)),
        rules.Line("E0260", 1, date(2026, 3, 3), ("RR",)),
    ]
    lines = rules.price(asked, diagnoses=["E11.9"], authorized_units=None)
    assert [line.charge for line in lines] == [Decimal("2.43"), Decimal("178.40")]
    assert rules.total(lines) == Decimal("180.83")
    assert rules.to_cents(rules.total(lines)) == 18083
    assert rules.from_cents(18083) == Decimal("180.83")
    half = rules.ClaimRules(rounding=rules.Rounding.half_even)
    assert rules.money(Decimal("0.125")) == Decimal("0.13")
    assert rules.money(Decimal("0.125"), half) == Decimal("0.12")
    with pytest.raises(TypeError):
        rules.money(0.1)  # type: ignore[arg-type]


def test_the_filing_window_warns_at_three_quarters_and_escalates_before_it_closes() -> None:
    start = datetime(2026, 1, 1)
    window = rules.filing_window(start, rules.ClaimRules(filing_days=120))
    assert window.closes == datetime(2026, 5, 1)
    assert window.warn_at == start + timedelta(days=90)
    assert window.escalate_at == window.closes - timedelta(days=7)
    with pytest.raises(ValueError, match="30-180"):
        rules.ClaimRules(filing_days=200)
