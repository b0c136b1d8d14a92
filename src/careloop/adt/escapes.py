"""HL7 v2 escape sequences in a field's text, read back to the text itself (pure).

python-hl7's own reading loses what follows an escaped escape character
(``O\\E\\x`` -> ``O``, ``A\\E\\F\\E\\B`` -> ``A|B``) and reads hexadecimal data
(``\\XC3AB\\``) a byte per character whatever the message's character set; a name
written that way no longer matched its case.

- ``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``: the field, component, subcomponent, repetition and
  escape characters the message's MSH-1 and MSH-2 name;
- ``\\Xhh...\\``: bytes in the message's character set (MSH-18: UTF-8 when it says so or
  when they read as UTF-8, else ISO 8859-1);
- ``\\H\\ \\N\\`` (highlighting), ``\\.br\\`` and the other formatting commands,
  ``\\C...\\ \\M...\\`` (character set switches) and ``\\Z...\\`` (local): left out, with
  a space for a line break;
- an escape character with no closing one is kept as it is.
"""

from __future__ import annotations

import re


def unescape(text: str, *, separators: str, escape: str, charset: str = "") -> str:
    """``text`` with its escape sequences read; ``separators`` as python-hl7 gives them
    (segment, field, repetition, component, subcomponent)."""
    if not escape or escape not in text:
        return text
    simple = {
        "F": separators[1],
        "R": separators[2],
        "S": separators[3],
        "T": separators[4],
        "E": escape,
    }
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        end = text.find(escape, i + 1) if char == escape else -1
        if end == -1:
            out.append(char)
            i += 1
            continue
        out.append(_sequence(text[i + 1 : end], simple, charset))
        i = end + 1
    return "".join(out)


_HEX = re.compile(r"X((?:[0-9A-Fa-f]{2})+)")


def _sequence(body: str, simple: dict[str, str], charset: str) -> str:
    if body in simple:
        return simple[body]
    if hexadecimal := _HEX.fullmatch(body):
        data = bytes.fromhex(hexadecimal[1])
        utf8 = "UTF-8" in charset.upper() or not charset
        try:
            return data.decode("utf-8") if utf8 else data.decode("latin-1")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    if body.startswith(".br") or body.startswith(".sp"):
        return " "
    # Highlighting, formatting, character set switches, local escapes: no text.
    return ""
