"""NPI check digits (CMS: Luhn over the prefix 80840 and the first nine digits)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.codes import is_valid_npi, make_npi, npi_check_digit, npi_problem

first_nine_digits = st.from_regex(r"\A[12][0-9]{8}\Z")


def luhn_is_valid(number: str) -> bool:
    """Textbook Luhn, used as an independent oracle."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class TestNpiProblem:
    @pytest.mark.parametrize("npi", ["1234567893", "1000000004", "2000000002"])
    def test_returns_none_when_npi_is_valid(self, npi: str) -> None:
        assert npi_problem(npi) is None
        assert is_valid_npi(npi)

    @pytest.mark.parametrize("value", ["", "123456789", "12345678931", "12345 6789", "12345678a3"])
    def test_asks_for_ten_digits_when_length_or_characters_are_wrong(self, value: str) -> None:
        assert npi_problem(value) == "must be 10 digits"

    def test_asks_for_ten_digits_when_digits_are_not_ascii(self) -> None:
        assert npi_problem("١٢٣٤٥٦٧٨٩٣") == "must be 10 digits"

    def test_rejects_surrounding_spaces_when_not_stripped_by_caller(self) -> None:
        assert npi_problem(" 1234567893") == "must be 10 digits"

    def test_reports_first_digit_when_npi_starts_with_other_digit(self) -> None:
        assert npi_problem("3234567893") == "must start with 1 or 2"

    def test_reports_check_digit_without_revealing_it_when_last_digit_is_wrong(self) -> None:
        problem = npi_problem("1234567890")
        assert problem is not None
        assert "check digit does not match" in problem
        assert not any(char.isdigit() for char in problem)


class TestNpiCheckDigit:
    def test_returns_cms_example_digit_when_given_cms_example(self) -> None:
        assert npi_check_digit("123456789") == 3

    @pytest.mark.parametrize("value", ["12345678", "1234567890", "12345678x", ""])
    def test_raises_when_input_is_not_nine_digits(self, value: str) -> None:
        with pytest.raises(ValueError):
            npi_check_digit(value)

    @given(first_nine_digits)
    def test_agrees_with_textbook_luhn_when_prefixed_with_80840(self, first_nine: str) -> None:
        assert luhn_is_valid(f"80840{first_nine}{npi_check_digit(first_nine)}")


class TestMakeNpi:
    @given(first_nine_digits)
    def test_yields_valid_npi_when_given_any_nine_digits_starting_1_or_2(
        self, first_nine: str
    ) -> None:
        npi = make_npi(first_nine)
        assert npi.startswith(first_nine)
        assert npi_problem(npi) is None

    @given(first_nine_digits, st.integers(0, 9), st.integers(1, 9))
    def test_invalidates_npi_when_any_single_digit_changes(
        self, first_nine: str, position: int, shift: int
    ) -> None:
        npi = make_npi(first_nine)
        changed_digit = str((int(npi[position]) + shift) % 10)
        changed = npi[:position] + changed_digit + npi[position + 1 :]
        assert not is_valid_npi(changed)

    def test_raises_when_first_digit_is_not_1_or_2(self) -> None:
        with pytest.raises(ValueError, match="start with 1 or 2"):
            make_npi("323456789")
