"""ICD-10-CM checks against the packaged CMS code set."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.codes import (
    Icd10Status,
    check_icd10,
    icd10_description,
    normalise_icd10,
    search_icd10,
)

CANONICAL_SHAPE = re.compile(r"[A-Z][0-9A-Z]{2}(\.[0-9A-Z]{1,4})?")
code_like = st.from_regex(r"\A[A-Za-z][0-9A-Za-z]{2}\.?[0-9A-Za-z]{0,4}\Z")


class TestNormaliseIcd10:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("j441", "J44.1"), (" J44.1 ", "J44.1"), ("j44", "J44"), ("s72001a", "S72.001A")],
    )
    def test_returns_canonical_code_when_given_loose_spelling(
        self, raw: str, expected: str
    ) -> None:
        assert normalise_icd10(raw) == expected

    def test_keeps_text_recognisable_when_input_is_not_code_shaped(self) -> None:
        assert normalise_icd10(" j40-j4a ") == "J40-J4A"

    @given(st.text())
    def test_is_idempotent_when_given_any_text(self, raw: str) -> None:
        once = normalise_icd10(raw)
        assert normalise_icd10(once) == once

    @given(code_like)
    def test_puts_dot_after_third_character_when_input_is_code_shaped(self, raw: str) -> None:
        normalised = normalise_icd10(raw)
        assert normalised.replace(".", "") == raw.replace(".", "").upper()
        assert "." not in normalised or normalised.index(".") == 3


class TestCheckIcd10:
    def test_reports_not_billable_with_leaf_suggestions_when_code_is_category(self) -> None:
        result = check_icd10("J44")
        assert result.status is Icd10Status.not_billable
        assert result.description == "Other chronic obstructive pulmonary disease"
        assert {"J44.0", "J44.1", "J44.9"} <= set(result.suggestions)
        assert len(result.suggestions) <= 5
        assert all(check_icd10(code).status is Icd10Status.billable for code in result.suggestions)

    def test_reports_billable_with_description_when_code_is_leaf(self) -> None:
        result = check_icd10("J44.1")
        assert result.status is Icd10Status.billable
        assert result.description is not None and "exacerbation" in result.description
        assert result.suggestions == ()

    def test_normalises_code_when_input_is_lower_case_without_dot(self) -> None:
        result = check_icd10("j441")
        assert (result.code, result.status) == ("J44.1", Icd10Status.billable)

    def test_reports_billable_when_code_has_seventh_character(self) -> None:
        assert check_icd10("S72.001A").status is Icd10Status.billable

    def test_suggests_seventh_character_codes_when_extension_is_missing(self) -> None:
        result = check_icd10("S72.001")
        assert result.status is Icd10Status.not_billable
        assert "S72.001A" in result.suggestions

    @pytest.mark.parametrize("code", ["496", "J40-J4A", "10", "", "J4", "J44.12345", "E11/9"])
    def test_reports_malformed_when_code_is_icd9_block_chapter_or_garbage(self, code: str) -> None:
        result = check_icd10(code)
        assert result.status is Icd10Status.malformed
        assert result.description is None

    @pytest.mark.parametrize("code", ["J44.10", "E11.99", "U99"])
    def test_reports_unknown_when_code_is_shaped_right_but_not_in_code_set(self, code: str) -> None:
        assert check_icd10(code).status is Icd10Status.unknown

    @settings(deadline=None)
    @given(st.text(max_size=12))
    def test_never_raises_and_flags_malformed_consistently_when_given_any_text(
        self, raw: str
    ) -> None:
        result = check_icd10(raw)
        assert result.code == normalise_icd10(raw)
        shaped = CANONICAL_SHAPE.fullmatch(result.code) is not None
        assert (result.status is Icd10Status.malformed) is not shaped
        if result.status is Icd10Status.billable:
            assert result.description
        if result.status is not Icd10Status.not_billable:
            assert result.suggestions == ()


class TestIcd10Description:
    def test_returns_official_text_when_code_exists(self) -> None:
        assert icd10_description("e11.9") == "Type 2 diabetes mellitus without complications"

    def test_returns_none_when_code_is_unknown(self) -> None:
        assert icd10_description("J44.10") is None


class TestSearchIcd10:
    def test_returns_billable_codes_under_prefix_when_query_is_a_code(self) -> None:
        codes = [code for code, _ in search_icd10("J44")]
        assert codes == ["J44.0", "J44.1", "J44.81", "J44.89", "J44.9"]

    def test_matches_every_word_when_query_is_words(self) -> None:
        results = search_icd10("Chronic OBSTRUCTIVE exacerbation")
        assert ("J44.1", icd10_description("J44.1")) in results
        for code, description in results:
            assert check_icd10(code).status is Icd10Status.billable
            lowered = description.lower()
            assert all(word in lowered for word in ("chronic", "obstructive", "exacerbation"))

    def test_matches_partial_words_when_query_word_is_a_fragment(self) -> None:
        results = search_icd10("type 2 diab without complic")
        assert ("E11.9", "Type 2 diabetes mellitus without complications") in results

    def test_respects_limit_when_many_codes_match(self) -> None:
        assert len(search_icd10("fracture", limit=7)) == 7

    @pytest.mark.parametrize(("query", "limit"), [("", 20), ("   ", 20), ("fracture", 0)])
    def test_returns_nothing_when_query_is_blank_or_limit_is_zero(
        self, query: str, limit: int
    ) -> None:
        assert search_icd10(query, limit) == []

    def test_returns_nothing_when_no_description_matches(self) -> None:
        assert search_icd10("zzzzqqq") == []
