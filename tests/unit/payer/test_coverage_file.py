"""The coverage file: each bad row named by line, field and rule; good rows parsed."""

from __future__ import annotations

import io
from datetime import date

import pytest

from careloop.payer.coverage_file import CoverageFileError, CoverageRow, read_rows

HEADER = (
    "payer_code,plan_code,plan_name,member_id,last_name,birth_date,effective_on,"
    "terminates_on,prior_auth\n"
)


def rows(text: str) -> list[object]:
    return list(read_rows(io.StringIO(HEADER + text)))


def test_good_row_is_normalised() -> None:
    (row,) = rows(
        "nehp,gold,NEHP Gold,neh-448 812301,Hale,1945-01-23,2026-01-01,,"
        "E1390 service_line:home_health;e0260\n"
    )
    assert isinstance(row, CoverageRow)
    assert (row.payer_code, row.plan_code, row.member_id) == ("NEHP", "GOLD", "NEH448812301")
    assert row.birth_date == date(1945, 1, 23) and row.terminates_on is None
    assert row.prior_auth == ("E0260", "E1390", "service_line:home_health")


def test_each_problem_names_line_field_and_rule() -> None:
    (problems,) = rows("NEHP,GOLD,Gold,,Hale,23/01/1945,2026-13-01,,X12 service_line:spa\n")
    assert isinstance(problems, list)
    found = {(p.line, p.field) for p in problems}
    assert found == {
        (2, "member_id"),
        (2, "birth_date"),
        (2, "effective_on"),
        (2, "prior_auth"),
    }
    assert any("service line 'spa'" in p.message for p in problems)


def test_termination_before_effective_date_is_refused() -> None:
    (problems,) = rows("NEHP,GOLD,Gold,M1234,,,2026-05-01,2026-04-30,\n")
    assert isinstance(problems, list)
    assert [(p.field, p.message) for p in problems] == [("terminates_on", "is before effective_on")]


def test_a_file_without_the_required_columns_is_not_a_coverage_file() -> None:
    with pytest.raises(CoverageFileError, match="missing: member_id"):
        list(read_rows(io.StringIO("payer_code,plan_code,plan_name,effective_on\n")))
