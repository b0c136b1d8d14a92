"""Phone normalisation to E.164, including the synthetic 555-01XX demo range."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.codes import normalise_phone


class TestNormalisePhone:
    @pytest.mark.parametrize(
        "value",
        ["860-555-0123", "(860) 555-0123", "+1 860 555 0123", "8605550123", "1-860-555-0123"],
    )
    def test_returns_e164_when_number_is_valid_us_number(self, value: str) -> None:
        assert normalise_phone(value) == "+18605550123"

    @pytest.mark.parametrize("area_code", ["860", "212", "617", "312", "415", "787"])
    def test_accepts_whole_fictional_range_when_demo_data_uses_555_01xx(
        self, area_code: str
    ) -> None:
        for line in range(100, 200):
            assert normalise_phone(f"{area_code}-555-0{line}") == f"+1{area_code}5550{line}"

    def test_drops_extension_when_number_has_one(self) -> None:
        assert normalise_phone("860-555-0123 ext. 12") == "+18605550123"

    @pytest.mark.parametrize(
        "value",
        [
            "555-0123",  # no area code
            "123-456-7890",  # area codes never start with 1
            "860-123-4567",  # exchanges never start with 1
            "+44 20 7946 0958",  # valid, but British
            "416-555-0123",  # valid, but Canadian
            "abc",
            "",
        ],
    )
    def test_returns_none_when_number_is_not_a_valid_us_number(self, value: str) -> None:
        assert normalise_phone(value) is None

    @given(st.text(max_size=30))
    def test_returns_none_or_e164_when_given_any_text(self, value: str) -> None:
        result = normalise_phone(value)
        assert result is None or (result.startswith("+1") and len(result) == 12)
        if result is not None:
            assert normalise_phone(result) == result


def _parsed_generally(value: str) -> str | None:
    """What ``normalise_phone`` answers through phonenumbers' own parsing alone."""
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.region_code_for_number(number) not in {"US", "PR", "VI", "GU", "AS", "MP"}:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class TestEverydaySpellings:
    """The everyday spellings skip phonenumbers' general parsing: same answers."""

    @given(
        area=st.integers(200, 999),
        exchange=st.integers(200, 999),
        line=st.integers(0, 9999),
        spelling=st.sampled_from(
            [
                "{a}-{b}-{c}",
                "({a}) {b}-{c}",
                "({a}){b}-{c}",
                "{a}.{b}.{c}",
                "{a} {b} {c}",
                "{a}{b}{c}",
            ]
        ),
    )
    def test_gives_what_the_general_parse_gives(
        self, area: int, exchange: int, line: int, spelling: str
    ) -> None:
        value = spelling.format(a=area, b=exchange, c=f"{line:04d}")
        assert normalise_phone.__wrapped__(value) == _parsed_generally(value)

    @given(st.text(alphabet="0123456789()-. +x", max_size=20))
    def test_gives_what_the_general_parse_gives_for_any_digits(self, value: str) -> None:
        assert normalise_phone.__wrapped__(value) == _parsed_generally(value)
