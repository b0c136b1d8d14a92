"""Text that reaches a case record: normalised, bounded, and free of control tricks.

NUL and other control characters break downstream systems (CSV, HL7, fax cover pages,
PostgreSQL refuses NUL outright); bidirectional controls make "Smith" display as
something else (Trojan Source); zero-width characters make two identical-looking names
or case numbers differ; a lone surrogate is not text at all. Such input is refused with
a message naming the rule and the code point (RELIABILITY.md §2 B row 13).

Two kinds of text:

- **lines** (names, identifiers, codes, addresses, search terms, path and query
  parameters): no control character at all, no bidirectional control, no zero-width
  character, no surrogate;
- **blocks** (free-text notes and reasons): newline, carriage return and tab are kept;
  zero-width joiners are kept too (emoji sequences and several scripts need them), the
  rest is refused as in lines.

Everything else (SQL, HTML, quotes, accents, any script, emoji in notes) is kept
verbatim: it is escaped where it is rendered, never "cleaned" on the way in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

#: Bidirectional embeddings, overrides, isolates and marks (Unicode UAX #9).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Characters that take no room on screen: zero-width space, (non-)joiners, word
#: joiner, invisible operators, the byte-order mark / zero-width no-break space.
ZERO_WIDTH = "\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"
_SURROGATES = "\ud800-\udfff"
_C1 = "\x7f-\x9f"

_FORBIDDEN_LINE = re.compile(f"[\\x00-\\x1f{_C1}{BIDI_CONTROLS}{ZERO_WIDTH}{_SURROGATES}]")
# Multi-line text (notes) may keep line breaks, tabs and zero-width joiners.
_FORBIDDEN_BLOCK = re.compile(
    f"[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f{_C1}{BIDI_CONTROLS}\\ufeff{_SURROGATES}]"
)


def _problem(char: str) -> str:
    point = f"U+{ord(char):04X}"
    if char == "\x00":
        return "must not contain the NUL character (U+0000)"
    if char in BIDI_CONTROLS:
        return f"must not contain bidirectional control characters ({point})"
    if char in ZERO_WIDTH:
        return f"must not contain zero-width characters ({point})"
    if "\ud800" <= char <= "\udfff":
        return f"must not contain unpaired surrogate characters ({point})"
    return f"must not contain control characters ({point})"


def line_problem(value: str) -> str | None:
    """Why ``value`` may not be a name, identifier or parameter, or None when it may."""
    match = _FORBIDDEN_LINE.search(value)
    return _problem(match.group(0)) if match else None


def block_problem(value: str) -> str | None:
    """Why ``value`` may not be free text, or None when it may."""
    match = _FORBIDDEN_BLOCK.search(value)
    return _problem(match.group(0)) if match else None


def clean_line(value: str) -> str:
    if value.isascii() and value.isprintable():
        # No control character, nothing invisible, already NFC: most names and codes.
        return value.strip()
    problem = line_problem(value)
    if problem:
        raise ValueError(problem)
    return unicodedata.normalize("NFC", value).strip()


def clean_block(value: str) -> str:
    problem = block_problem(value)
    if problem:
        raise ValueError(problem)
    return unicodedata.normalize("NFC", value).strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be blank")
    return value


def strings_in(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON document (keys too) with its dotted path."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            yield ".".join(where) or "body", node
        elif isinstance(node, dict):
            for key, child in node.items():
                yield ".".join(where) or "body", key
                stack.append((child, (*where, key)))
        elif isinstance(node, list):
            stack.extend((child, (*where, str(i))) for i, child in enumerate(node))


#: A single line of text (address line, description, frequency).
Line = Annotated[str, StringConstraints(max_length=200), AfterValidator(clean_line)]
#: A person's or organisation's name: one line, not blank.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    AfterValidator(clean_line),
    AfterValidator(_not_blank),
]
#: An identifier or code (member id, NPI, phone, serial number, time zone).
ShortCode = Annotated[str, StringConstraints(max_length=40), AfterValidator(clean_line)]
#: A code that must be present (HCPCS, ICD-10-CM, fee schedule codes).
Code = Annotated[
    str,
    StringConstraints(min_length=1, max_length=12),
    AfterValidator(clean_line),
    AfterValidator(_not_blank),
]
#: Free text (notes, clinical rationale), up to 4,000 characters.
Block = Annotated[str, StringConstraints(max_length=4000), AfterValidator(clean_block)]
#: A short free-text reason (cancel, withdraw, decline notes), up to 500 characters.
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500),
    AfterValidator(clean_block),
    AfterValidator(_not_blank),
]
#: A short optional note, up to 500 characters.
ShortNote = Annotated[str, StringConstraints(max_length=500), AfterValidator(clean_block)]
