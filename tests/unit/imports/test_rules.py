"""Bulk-file rules without a database: a CSV row as the API's JSON, refusals named as
the API names fields, progress."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from careloop.imports import rules
from careloop.imports.files import field_kinds
from tests.factories.names import names


class TestRowShape:
    def test_nests_dotted_columns_and_numbers_list_positions(self) -> None:
        header = [
            "external_id",
            "member.first_name",
            "items.0.code",
            "items.0.quantity",
            "items.1.code",
            "items.1.rental",
            "diagnoses.0.code",
            "member.access_barriers.0",
        ]
        shape = rules.RowShape(header, field_kinds())
        row = shape.build(["X1", "Ann", "E1390", "2", "G0299", "yes", "J44.1", "stairs"])
        assert row == {
            "external_id": "X1",
            "member": {"first_name": "Ann", "access_barriers": ["stairs"]},
            "items": [{"code": "E1390", "quantity": 2}, {"code": "G0299", "rental": True}],
            "diagnoses": [{"code": "J44.1"}],
        }

    def test_leaves_empty_cells_out_and_fills_a_skipped_item_with_an_empty_one(self) -> None:
        shape = rules.RowShape(["items.0.code", "items.1.code", "items.2.code"], field_kinds())
        assert shape.build(["", "", ""]) == {}
        assert shape.build(["", "", "E1390"]) == {"items": [{}, {}, {"code": "E1390"}]}

    def test_keeps_a_number_that_is_no_whole_number_as_text_for_the_model_to_refuse(
        self,
    ) -> None:
        shape = rules.RowShape(["items.0.quantity"], field_kinds())
        assert shape.build(["two"]) == {"items": [{"quantity": "two"}]}

    @given(first=names, last=names)
    def test_text_cells_come_through_unchanged(self, first: str, last: str) -> None:
        shape = rules.RowShape(["member.first_name", "member.last_name"], field_kinds())
        assert shape.build([first, last]) == {"member": {"first_name": first, "last_name": last}}

    @given(
        rows=st.lists(
            st.lists(st.sampled_from(["", "", "X", "2", "yes", "two"]), min_size=8, max_size=8),
            min_size=1,
            max_size=12,
        )
    )
    def test_rows_built_from_a_remembered_shape_equal_those_built_column_by_column(
        self, rows: list[list[str]]
    ) -> None:
        header = [
            "external_id",
            "member.first_name",
            "member.access_barriers.0",
            "member.access_barriers.2",
            "items.0.code",
            "items.0.quantity",
            "items.2.rental",
            "diagnoses.1.code",
        ]
        shape = rules.RowShape(header, field_kinds())
        for cells in rows:  # as JSON: the same fields in the same order
            slowly = json.dumps(shape.build_slowly(cells))
            assert json.dumps(shape.build(cells)) == slowly
            assert json.dumps(shape.build(cells)) == slowly, "once remembered"


class TestColumns:
    def test_every_field_of_the_referral_is_a_known_column(self) -> None:
        known = set(field_kinds())
        assert {"member.address.zip", "items.*.quantity", "signed_order.signed_on"} <= known
        assert rules.unknown_columns(["items.3.code", "patient.name"], known) == ["patient.name"]

    def test_numbers_and_yes_no_fields_are_typed(self) -> None:
        kinds = field_kinds()
        assert kinds["items.*.quantity"] == "integer"
        assert kinds["items.*.rental"] == "boolean"
        assert kinds["member.birth_date"] == "string"


class TestRules:
    def test_names_the_rule_of_each_validation_error(self) -> None:
        assert rules.rule_of("missing") == "required"
        assert rules.rule_of("date_from_datetime_parsing") == "date"
        assert rules.rule_of("enum") == "unknown_code"
        assert rules.rule_of("something_new") == "something_new"
        assert rules.field_of(("items", 0, "code")) == "items.0.code"
        assert rules.field_of(()) == "row"

    @given(done=st.integers(0, 10_000), total=st.integers(1, 10_000))
    def test_progress_stays_below_100_until_the_job_has_finished(
        self, done: int, total: int
    ) -> None:
        assert 0 <= rules.percent_done(done, total, finished=False) <= 99
        assert rules.percent_done(done, total, finished=True) == 100
