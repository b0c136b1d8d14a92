"""Free text that reaches a case record: normalised, bounded, and free of control tricks.

NUL and other control characters break downstream systems (CSV, HL7, fax cover pages);
bidirectional overrides make "Smith" display as something else (Trojan Source); a lone
surrogate is not text at all. Such input is refused with a message naming the rule.
Everything else (SQL, HTML, quotes, accents, emoji in notes) is kept verbatim: it is
escaped where it is rendered, never "cleaned" on the way in.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"
_FORBIDDEN_LINE = re.compile(f"[\\x00-\\x1f\\x7f{_BIDI_CONTROLS}\\ud800-\\udfff]")
# Multi-line text (notes) may keep line breaks and tabs.
_FORBIDDEN_BLOCK = re.compile(
    f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f{_BIDI_CONTROLS}\\ud800-\\udfff]"
)


def _problem(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\x00":
        return "must not contain the NUL character"
    if char in _BIDI_CONTROLS:
        return "must not contain bidirectional override characters"
    if "\ud800" <= char <= "\udfff":
        return "must not contain unpaired surrogate characters"
    return "must not contain control characters"


def clean_line(value: str) -> str:
    match = _FORBIDDEN_LINE.search(value)
    if match:
        raise ValueError(_problem(match))
    return unicodedata.normalize("NFC", value).strip()


def clean_block(value: str) -> str:
    match = _FORBIDDEN_BLOCK.search(value)
    if match:
        raise ValueError(_problem(match))
    return unicodedata.normalize("NFC", value).strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


Line = Annotated[str, StringConstraints(max_length=200), AfterValidator(clean_line)]
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(clean_line),
    AfterValidator(_not_blank),
]
ShortCode = Annotated[str, StringConstraints(max_length=40), AfterValidator(clean_line)]
Block = Annotated[str, StringConstraints(max_length=4000), AfterValidator(clean_block)]
