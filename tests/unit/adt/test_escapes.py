"""HL7 escape sequences read back to the text they stand for (pure)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from careloop.adt.answer import escape
from careloop.adt.escapes import unescape
from tests.factories.names import names

SEPARATORS = "\r|~^&"


def read(text: str, charset: str = "UNICODE UTF-8") -> str:
    return unescape(text, separators=SEPARATORS, escape="\\", charset=charset)


@pytest.mark.parametrize(
    ("written", "text"),
    [
        ("O\\S\\Neil", "O^Neil"),
        ("O\\E\\x", "O\\x"),  # python-hl7 read "O"
        ("A\\E\\F\\E\\B", "A\\F\\B"),  # python-hl7 read "A|B"
        ("\\F\\\\S\\\\T\\\\R\\\\E\\", "|^&~\\"),
        ("Zo\\XC3AB\\", "Zoë"),  # python-hl7 read "ZoÃ«"
        ("Bj\\H\\ö\\N\\rn", "Björn"),
        ("A\\.br\\B", "A B"),
        ("A\\", "A\\"),  # an escape character never closed is kept
    ],
)
def test_each_sequence_reads_as_the_standard_says(written: str, text: str) -> None:
    assert read(written) == text


def test_hexadecimal_data_is_read_in_the_messages_character_set() -> None:
    assert read("Zo\\XEB\\", "8859/1") == "Zoë"
    assert read("Zo\\XC3AB\\", "") == "Zoë"


@given(parts=st.lists(st.one_of(names, st.sampled_from(["|", "^", "&", "~", "\\"])), max_size=6))
@example(parts=["Дом", "\\", "F", "\\", "ик"])
def test_a_name_in_any_script_with_any_delimiter_reads_back_as_written(
    parts: list[str],
) -> None:
    name = "".join(parts)
    assert read(escape(name)) == name
