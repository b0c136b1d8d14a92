"""A member's name as a search reads it, folded in Python so that both databases compare
the same text: "muller" finds Müller, "zoe" finds Zoë, "陈美玲" finds 美玲 陈. Pure
functions; the folded name is stored with the case (``Referral.member_name_search``)
by intake's one writer."""

from __future__ import annotations

import functools
import unicodedata

#: Letters with a stroke, which have no decomposition to drop: most keyboards type them
#: without it ("Łukasiewicz" as "lukasiewicz").
_STROKES = str.maketrans("łøđħŧı", "lodhti")
#: Scripts whose writers put no space between surname and given name ("陈美玲").
_UNSPACED_SCRIPTS = ("CJK ", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")


@functools.lru_cache(maxsize=8192)
def search_fold(value: str) -> str:
    """A name, or a word typed in a search, as the search compares them: decomposed
    (NFKD), case-folded, without combining marks: "José Müller" → "jose muller", "ZOË" →
    "zoe". Unlike ``rules.fold_name`` (duplicates), punctuation stays: a "%" typed matches a "%"."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", value).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_STROKES)


def search_name(first_name: str, last_name: str) -> str:
    """What a name search reads of a member (stored with the case): the last and the
    first name folded (:func:`search_fold`) and, when the name is in a script written
    without spaces, both run together either way, as a coordinator types it: "陈 美玲
    陈美玲 美玲陈". Every word typed must be found in it."""
    last, first = search_fold(last_name), search_fold(first_name)
    both = f"{last_name}{first_name}"
    # Every script before Thai (U+0E00) writes spaces: most names end the test there.
    if max(both, default="") < "\u0e00" or not any(
        unicodedata.name(c, "").startswith(_UNSPACED_SCRIPTS) for c in both
    ):
        return f"{last} {first}"
    last_run, first_run = "".join(last.split()), "".join(first.split())
    return f"{last} {first} {last_run}{first_run} {first_run}{last_run}"
