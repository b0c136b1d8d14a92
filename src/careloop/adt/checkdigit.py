"""The check digit schemes of HL7 table 0061 whose algorithm HL7 itself gives (the CK
and CX data types: number^check digit^scheme): M10 and M11 (pure).

ISO (ISO 7064, a family of algorithms the code does not narrow down), NPI (the check
digit is the NPI's own last digit) and BCV (a bank card's validation number) are not
verified: the scheme names no single computation the receiver can repeat.
"""

from __future__ import annotations

from collections.abc import Callable


def mod10(number: str) -> int:
    """HL7's Mod10: the digits in odd positions from the right, as a number, doubled,
    and the digits in even positions; the sum of all their digits, taken up to the next
    multiple of 10 (12345 -> 5, 401 -> 0, 9999 -> 4, 99999999 -> 8)."""
    digits = [int(d) for d in reversed(number)]
    odd = "".join(str(d) for d in reversed(digits[0::2])) or "0"
    even = "".join(str(d) for d in digits[1::2])
    total = sum(int(d) for d in str(int(odd) * 2) + even)
    return (10 - total % 10) % 10


def mod11(number: str) -> int:
    """HL7's Mod11: each digit from the units up weighted 2, 3, 4, 5, 6, 7, 2, ...;
    c1 = the sum mod 11 (1 if that is 0); the check digit is (11 - c1) mod 10
    (1234567 -> 4)."""
    total = sum(int(d) * (2 + i % 6) for i, d in enumerate(reversed(number)))
    c1 = total % 11 or 1
    return (11 - c1) % 10


#: The schemes verified, by their table 0061 code.
SCHEMES: dict[str, Callable[[str], int]] = {"M10": mod10, "M11": mod11}


def problem(number: str, check_digit: str, scheme: str) -> str | None:
    """What is wrong with ``number`` and its check digit under ``scheme``, in plain
    words, or None (right, or a scheme that is not verified)."""
    compute = SCHEMES.get(scheme.upper())
    if compute is None:
        return None
    if not number.isascii() or not number.isdigit():
        return f"the check digit scheme {scheme} needs a number in digits"
    if not check_digit:
        return f"it names the check digit scheme {scheme} but gives no check digit"
    if check_digit != str(compute(number)):
        return f"its check digit does not agree with the number ({scheme})"
    return None
