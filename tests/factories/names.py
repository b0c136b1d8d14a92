"""People's names in several scripts, for Hypothesis: the letters are curated so that
changing a name's case can be undone (no Turkish dotless i, no Arabic tatweel)."""

from __future__ import annotations

import string

from hypothesis import strategies as st

LATIN = string.ascii_letters + "àáâäçèéêëíîïñóôöúûüýÿøæßÀÁÂÄÇÈÉÊËÍÎÏÑÓÔÖÚÛÜÝØÆ"
CYRILLIC = "".join(chr(c) for c in range(0x0410, 0x0450)) + "Ёё"
GREEK = "".join(chr(c) for c in range(0x0391, 0x03AA) if c != 0x03A2) + "".join(
    chr(c) for c in range(0x03B1, 0x03CA)
)
ARABIC = "".join(chr(c) for c in range(0x0621, 0x063B)) + "".join(
    chr(c) for c in range(0x0641, 0x064B)
)
CJK = "".join(chr(c) for c in range(0x4E00, 0x4E00 + 400))
SCRIPTS = {"Chinese": CJK, "Cyrillic": CYRILLIC, "Arabic": ARABIC, "Greek": GREEK, "Latin": LATIN}


def name_in(letters: str, *, max_size: int = 12) -> st.SearchStrategy[str]:
    """A name written in one script's letters."""
    return st.text(st.sampled_from(letters), min_size=1, max_size=max_size)


#: A name in any one of the scripts.
names = st.sampled_from(list(SCRIPTS.values())).flatmap(name_in)
#: A name mixing letters of every script.
mixed_names = st.text(st.sampled_from("".join(SCRIPTS.values())), min_size=1, max_size=20)
