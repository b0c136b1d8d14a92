"""ICD-10-CM diagnosis codes: shape, billability, descriptions and search.

The code set comes from the ``simple_icd_10_cm`` package (CMS ICD-10-CM, April 2026 release).
A diagnosis on a referral must be billable, that is a leaf of the code tree (J44.1, not the
category J44); chapters and blocks ("J40-J4A") are never accepted.
"""

from __future__ import annotations

import functools
import heapq
import importlib
import re
import warnings
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType

__all__ = [
    "Icd10Check",
    "Icd10Status",
    "check_icd10",
    "icd10_description",
    "normalise_icd10",
    "search_icd10",
]

# A letter, two letters-or-digits, then optionally a dot and up to four more (the 7-character
# codes such as S72.001A). Applied after stripping and upper-casing.
_SHAPE = re.compile(r"([A-Z][0-9A-Z]{2})\.?([0-9A-Z]{0,4})")
_CODE_PREFIX = re.compile(r"[A-Z][0-9][0-9A-Z]{0,5}")
_WORD = re.compile(r"[a-z0-9]+")
_MAX_SUGGESTIONS = 5
# Query words this short match whole description words only ("1" in "type 1 diabetes");
# longer ones match anywhere inside a word ("diab" finds "diabetes").
_SHORT_WORD = 2


class Icd10Status(StrEnum):
    billable = "billable"
    not_billable = "not_billable"
    unknown = "unknown"
    malformed = "malformed"


@dataclass(frozen=True, slots=True)
class Icd10Check:
    """Outcome of checking one diagnosis code.

    ``suggestions`` lists up to five billable codes under a non-billable category.
    """

    code: str
    status: Icd10Status
    description: str | None = None
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _CodeSet:
    entries: Mapping[str, tuple[bool, str]]  # dotted code -> (is billable leaf, description)
    module: ModuleType


@dataclass(frozen=True, slots=True)
class _SearchIndex:
    leaves: tuple[tuple[str, str], ...]  # (code, description) of billable codes, in code order
    by_dotless: tuple[str, ...]  # dotless leaf codes, sorted, for prefix search
    dotless_rank: tuple[int, ...]  # index into ``leaves`` for each entry of ``by_dotless``
    vocabulary: tuple[str, ...]  # distinct lower-case description words
    postings: tuple[tuple[int, ...], ...]  # for each vocabulary word, indexes into ``leaves``


def normalise_icd10(code: str) -> str:
    """Canonical spelling: stripped, upper-case, dot after the third character ("J44.1").

    Text that is not shaped like a code is returned stripped and upper-cased, unchanged
    otherwise, so a malformed entry stays recognisable.
    """
    text = code.strip().upper()
    match = _SHAPE.fullmatch(text)
    if match is None:
        return text
    category, rest = match.groups()
    return f"{category}.{rest}" if rest else category


@functools.cache
def _code_set() -> _CodeSet:
    # The package parses its XML when imported (over a second), so it is loaded on first use
    # rather than when careloop.codes is imported. Its import also emits DeprecationWarnings
    # about importlib.resources.read_text/open_text that are not ours to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = importlib.import_module("simple_icd_10_cm")
    entries: dict[str, tuple[bool, str]] = {}
    for raw in module.get_all_codes(True):
        code = str(raw)
        if _SHAPE.fullmatch(code) is None:  # chapters ("10") and blocks ("J40-J4A")
            continue
        entries[code] = (bool(module.is_leaf(code)), str(module.get_description(code)))
    return _CodeSet(entries=entries, module=module)


def _suggestions(code: str) -> tuple[str, ...]:
    code_set = _code_set()
    leaves: list[str] = []
    for raw in code_set.module.get_descendants(code):
        descendant = str(raw)
        entry = code_set.entries.get(descendant)
        if entry is not None and entry[0]:
            leaves.append(descendant)
            if len(leaves) == _MAX_SUGGESTIONS:
                break
    return tuple(leaves)


@functools.lru_cache(maxsize=8192)
def check_icd10(code: str) -> Icd10Check:
    """Check one ICD-10-CM code: malformed, unknown, not billable (with suggestions), billable."""
    normalised = normalise_icd10(code)
    if _SHAPE.fullmatch(normalised) is None:
        return Icd10Check(code=normalised, status=Icd10Status.malformed)
    entry = _code_set().entries.get(normalised)
    if entry is None:
        return Icd10Check(code=normalised, status=Icd10Status.unknown)
    billable, description = entry
    if billable:
        return Icd10Check(code=normalised, status=Icd10Status.billable, description=description)
    return Icd10Check(
        code=normalised,
        status=Icd10Status.not_billable,
        description=description,
        suggestions=_suggestions(normalised),
    )


def icd10_description(code: str) -> str | None:
    """Official description of a code (billable or a category), or None if not in the set."""
    entry = _code_set().entries.get(normalise_icd10(code))
    return entry[1] if entry is not None else None


@functools.cache
def _search_index() -> _SearchIndex:
    leaves = tuple(
        (code, description)
        for code, (billable, description) in _code_set().entries.items()
        if billable
    )
    dotless = sorted((code.replace(".", ""), rank) for rank, (code, _) in enumerate(leaves))
    word_postings: dict[str, list[int]] = {}
    for rank, (_, description) in enumerate(leaves):
        for word in set(_WORD.findall(description.lower())):
            word_postings.setdefault(word, []).append(rank)
    vocabulary = tuple(word_postings)
    return _SearchIndex(
        leaves=leaves,
        by_dotless=tuple(key for key, _ in dotless),
        dotless_rank=tuple(rank for _, rank in dotless),
        vocabulary=vocabulary,
        postings=tuple(tuple(sorted(word_postings[word])) for word in vocabulary),
    )


@functools.lru_cache(maxsize=512)
def _matching_words(query_word: str) -> tuple[int, ...]:
    """Vocabulary positions of the description words that ``query_word`` matches."""
    vocabulary = _search_index().vocabulary
    if len(query_word) <= _SHORT_WORD:
        return tuple(i for i, word in enumerate(vocabulary) if word == query_word)
    return tuple(i for i, word in enumerate(vocabulary) if query_word in word)


def _ranks_with_word(query_word: str) -> set[int]:
    postings = _search_index().postings
    ranks: set[int] = set()
    for position in _matching_words(query_word):
        ranks.update(postings[position])
    return ranks


def _prefix_ranks(prefix: str, limit: int) -> list[int]:
    index = _search_index()
    start = bisect_left(index.by_dotless, prefix)
    ranks: list[int] = []
    for position in range(start, min(start + limit, len(index.by_dotless))):
        if not index.by_dotless[position].startswith(prefix):
            break
        ranks.append(index.dotless_rank[position])
    return sorted(ranks)


def _word_ranks(words: list[str], limit: int) -> list[int]:
    # Intersect from the rarest word so the working set stays small.
    candidates = sorted((_ranks_with_word(word) for word in set(words)), key=len)
    found = candidates[0].intersection(*candidates[1:])
    return heapq.nsmallest(limit, found)


def search_icd10(query: str, limit: int = 20) -> list[tuple[str, str]]:
    """Billable codes as (code, description): code-prefix matches first, then codes whose
    description contains every word of the query (case-insensitive), both in code order."""
    text = query.strip()
    if limit <= 0 or not text:
        return []
    leaves = _search_index().leaves
    ranks: list[int] = []
    prefix = text.upper().replace(".", "")
    if _CODE_PREFIX.fullmatch(prefix):
        ranks = _prefix_ranks(prefix, limit)
    words = _WORD.findall(text.lower())
    if words and len(ranks) < limit:
        seen = set(ranks)
        extra = _word_ranks(words, limit + len(seen))
        ranks.extend(rank for rank in extra if rank not in seen)
    return [leaves[rank] for rank in ranks[:limit]]
