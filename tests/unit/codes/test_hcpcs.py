"""HCPCS/CPT format checks and the shipped home-care HCPCS table."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.codes import (
    CPT_FORMAT,
    HCPCS_FORMAT,
    HcpcsCategory,
    HcpcsTableError,
    ServiceLine,
    SupplyMode,
    code_format_problem,
    hcpcs_table,
    lookup_hcpcs,
    search_hcpcs,
)
from careloop.codes.hcpcs import parse_hcpcs_csv

HEADER = "code,description,service_line,category,complex,supply_mode\n"
HOME_HEALTH_CATEGORIES = {
    HcpcsCategory.nursing,
    HcpcsCategory.therapy,
    HcpcsCategory.aide,
    HcpcsCategory.social_work,
}


def shipped_rows() -> list[list[str]]:
    path = resources.files("careloop.codes").joinpath("data").joinpath("hcpcs_home_care.csv")
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


class TestShippedTable:
    def test_has_at_least_250_rows_when_loaded(self) -> None:
        assert len(hcpcs_table()) >= 250

    def test_has_exact_header_and_no_duplicate_codes_when_read_raw(self) -> None:
        header, *rows = shipped_rows()
        assert header == [
            "code",
            "description",
            "service_line",
            "category",
            "complex",
            "supply_mode",
        ]
        codes = [row[0] for row in rows]
        assert len(codes) == len(set(codes))
        assert len(codes) == len(hcpcs_table())

    def test_every_row_is_well_formed_when_loaded(self) -> None:
        for code, item in hcpcs_table().items():
            assert code == item.code
            assert HCPCS_FORMAT.match(code), code
            assert item.description and item.description == item.description.strip()
            assert isinstance(item.service_line, ServiceLine)
            assert isinstance(item.category, HcpcsCategory)
            assert isinstance(item.supply_mode, SupplyMode)
            assert isinstance(item.complex, bool)

    def test_home_health_rows_are_services_when_service_line_is_home_health(self) -> None:
        for item in hcpcs_table().values():
            is_home_health = item.service_line is ServiceLine.home_health
            assert is_home_health == (item.category in HOME_HEALTH_CATEGORIES), item.code
            if is_home_health:
                assert item.supply_mode is SupplyMode.service, item.code

    def test_every_category_is_used_when_loaded(self) -> None:
        assert {item.category for item in hcpcs_table().values()} == set(HcpcsCategory)

    def test_marks_power_wheelchair_complex_when_group_3(self) -> None:
        item = lookup_hcpcs("K0856")
        assert item is not None
        assert item.complex
        assert item.category is HcpcsCategory.complex_rehab

    def test_marks_power_wheelchair_not_complex_when_group_1(self) -> None:
        item = lookup_hcpcs("K0816")
        assert item is not None and not item.complex

    def test_classifies_oxygen_concentrator_as_dme_oxygen_rental_when_looked_up(self) -> None:
        item = lookup_hcpcs("E1390")
        assert item is not None
        assert (item.service_line, item.category, item.supply_mode) == (
            ServiceLine.dme,
            HcpcsCategory.oxygen,
            SupplyMode.rental,
        )
        assert item.description.startswith("Oxygen concentrator, single delivery port")

    @pytest.mark.parametrize(
        ("code", "category"),
        [
            ("E0260", HcpcsCategory.hospital_bed),
            ("K0001", HcpcsCategory.mobility),
            ("A6212", HcpcsCategory.wound_care),
            ("E0601", HcpcsCategory.respiratory),
            ("B4035", HcpcsCategory.enteral),
            ("S9500", HcpcsCategory.infusion),
            ("G0299", HcpcsCategory.nursing),
            ("G0151", HcpcsCategory.therapy),
        ],
    )
    def test_puts_domain_examples_in_expected_category_when_looked_up(
        self, code: str, category: HcpcsCategory
    ) -> None:
        item = lookup_hcpcs(code)
        assert item is not None and item.category is category


class TestLookupHcpcs:
    def test_finds_item_when_code_is_lower_case_with_spaces(self) -> None:
        item = lookup_hcpcs("  e1390 ")
        assert item is not None and item.code == "E1390"

    @pytest.mark.parametrize("code", ["E9999", "", "99509", "E12345"])
    def test_returns_none_when_code_is_not_in_table(self, code: str) -> None:
        assert lookup_hcpcs(code) is None


class TestCodeFormatProblem:
    @pytest.mark.parametrize("code", ["E1390", "e1390", " K0001 ", "A6212", "V2020"])
    def test_returns_none_when_hcpcs_code_is_letter_and_four_digits(self, code: str) -> None:
        assert code_format_problem(code, "HCPCS") is None

    @pytest.mark.parametrize("code", ["E12345", "1390", "", "EE139", "W1234", "E139O"])
    def test_explains_shape_when_hcpcs_code_is_malformed(self, code: str) -> None:
        assert code_format_problem(code, "HCPCS") == (
            "a HCPCS code is one letter and four digits, like E1390"
        )

    def test_points_at_cpt_when_hcpcs_field_holds_cpt_code(self) -> None:
        problem = code_format_problem("99509", "HCPCS")
        assert problem is not None and "looks like a CPT code" in problem

    @pytest.mark.parametrize("code", ["99509", "1036F", "0591T", "0591t"])
    def test_returns_none_when_cpt_code_is_five_digits_or_category_ii_iii(self, code: str) -> None:
        assert code_format_problem(code, "CPT") is None

    @pytest.mark.parametrize("code", ["9950", "995091", "1036X", "E1390"])
    def test_explains_shape_when_cpt_code_is_malformed(self, code: str) -> None:
        problem = code_format_problem(code, "cpt")
        assert problem is not None and "a CPT code is five digits" in problem

    def test_raises_when_code_system_is_unknown(self) -> None:
        with pytest.raises(ValueError, match="unknown code system"):
            code_format_problem("E1390", "ICD-10")

    @given(st.from_regex(r"\A[A-V][0-9]{4}\Z"))
    def test_accepts_every_code_when_generated_from_hcpcs_shape(self, code: str) -> None:
        assert code_format_problem(code, "HCPCS") is None

    def test_regexes_match_whole_string_when_used_with_match(self) -> None:
        assert HCPCS_FORMAT.match("E12345") is None
        assert HCPCS_FORMAT.match("E1390\n") is None
        assert CPT_FORMAT.match("995091") is None


class TestParseHcpcsCsv:
    def test_parses_rows_when_text_is_well_formed(self) -> None:
        items = parse_hcpcs_csv(
            HEADER + 'E1390,"Oxygen concentrator, single",dme,oxygen,false,rental\n'
        )
        assert items["E1390"].description == "Oxygen concentrator, single"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("code,descripton,service_line,category,complex,supply_mode\n", "header"),
            ("", "header"),
            (HEADER + "E1390,Concentrator,dme,oxygen,false\n", "line 2: expected 6 fields"),
            (HEADER + "E13900,Concentrator,dme,oxygen,false,rental\n", "line 2"),
            (HEADER + "E1390,Concentrator,durable,oxygen,false,rental\n", "line 2"),
            (HEADER + "E1390,Concentrator,dme,gas,false,rental\n", "line 2"),
            (HEADER + "E1390,Concentrator,dme,oxygen,no,rental\n", "complex must be"),
            (HEADER + "E1390,Concentrator,dme,oxygen,false,lease\n", "line 2"),
            (HEADER + "E1390, Concentrator,dme,oxygen,false,rental\n", "padded"),
            (
                HEADER
                + "E1390,Concentrator,dme,oxygen,false,rental\n"
                + "E1390,Concentrator,dme,oxygen,false,rental\n",
                "line 3: duplicate code E1390",
            ),
        ],
    )
    def test_fails_loudly_when_table_text_is_bad(self, text: str, message: str) -> None:
        with pytest.raises(HcpcsTableError, match=message):
            parse_hcpcs_csv(text)


class TestSearchHcpcs:
    def test_lists_codes_with_prefix_first_when_query_is_code_prefix(self) -> None:
        results = search_hcpcs("e04", limit=50)
        assert results
        assert all(item.code.startswith("E04") for item in results)
        assert [item.code for item in results] == sorted(item.code for item in results)

    def test_requires_every_word_when_query_is_words(self) -> None:
        results = search_hcpcs("Hospital BED")
        assert "E0260" in {item.code for item in results}
        for item in results:
            assert "hospital" in item.description.lower() and "bed" in item.description.lower()

    def test_respects_limit_when_many_rows_match(self) -> None:
        assert len(search_hcpcs("wheelchair", limit=3)) == 3

    @pytest.mark.parametrize(("query", "limit"), [("", 20), (" ", 20), ("oxygen", 0)])
    def test_returns_nothing_when_query_blank_or_limit_zero(self, query: str, limit: int) -> None:
        assert search_hcpcs(query, limit) == []
