"""National Provider Identifier (NPI) checks.

An NPI is ten digits: a first digit of 1 (individual) or 2 (organisation), eight more digits,
and a Luhn check digit computed over the card-issuer prefix ``80840`` followed by the first
nine digits (CMS, "Requirements for National Provider Identifier check digit").
"""

from __future__ import annotations

import functools

__all__ = ["is_valid_npi", "make_npi", "npi_check_digit", "npi_problem"]

# The prefix 80840 always sits in the same Luhn positions in front of the nine digits, so its
# contribution is a constant: 8 + (4 doubled) + 8 + (0 doubled) + 0 = 24.
_PREFIX_SUM = 24
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit d doubled, digits of the result summed
_ZERO = ord("0")


def _is_ascii_digits(value: str, length: int) -> bool:
    # str.isdigit alone accepts other scripts' digits ("١٢٣"), which no NPI contains.
    return len(value) == length and value.isascii() and value.isdigit()


def npi_check_digit(first_nine: str) -> int:
    """Luhn check digit for an NPI whose first nine digits are ``first_nine``.

    Raises ValueError unless ``first_nine`` is exactly nine ASCII digits.
    """
    if not _is_ascii_digits(first_nine, 9):
        raise ValueError("first_nine must be exactly 9 digits")
    total = _PREFIX_SUM
    for position, char in enumerate(first_nine):
        digit = ord(char) - _ZERO
        # Counting from the right of the 9 digits, the 1st, 3rd, ... are doubled; with nine
        # digits those are the even positions counted from the left.
        total += _DOUBLED[digit] if position % 2 == 0 else digit
    return (10 - total % 10) % 10


@functools.lru_cache(maxsize=4096)
def npi_problem(value: str) -> str | None:
    """None when ``value`` is a well-formed NPI, else a short reason in plain words.

    The value is checked as given: callers strip form input first. Remembered: a bulk
    file names the same few ordering clinicians on thousands of rows.
    """
    if not _is_ascii_digits(value, 10):
        return "must be 10 digits"
    if value[0] not in "12":
        return "must start with 1 or 2"
    if npi_check_digit(value[:9]) != ord(value[9]) - _ZERO:
        return "check digit does not match; please re-check the number for a typo"
    return None


def is_valid_npi(value: str) -> bool:
    """True when ``value`` is a well-formed NPI (see ``npi_problem``)."""
    return npi_problem(value) is None


def make_npi(first_nine: str) -> str:
    """A valid NPI made by appending the check digit to ``first_nine`` (synthetic data).

    Raises ValueError unless ``first_nine`` is nine digits starting with 1 or 2, so the result
    always passes ``npi_problem``.
    """
    check = npi_check_digit(first_nine)
    if first_nine[0] not in "12":
        raise ValueError("an NPI must start with 1 or 2")
    return f"{first_nine}{check}"
