"""A refused submission is kept as field and rule only: list positions dropped, the
JSON API's and FHIR's errors named by the bulk import's rules, never a value sent."""

from __future__ import annotations

from careloop.core.errors import FieldError, RuleViolationError
from careloop.referral import refusals
from careloop.report import rules
from careloop.web.body import MalformedJsonError


def test_fields_lose_their_list_positions() -> None:
    assert refusals.generic_field("items.0.code") == "items.code"
    assert refusals.generic_field("diagnoses.12") == "diagnoses"
    assert refusals.generic_field("Bundle.entry[2].resource.birthDate") == (
        "Bundle.entry.resource.birthDate"
    )


def test_errors_become_rules_without_what_was_sent() -> None:
    exc = RuleViolationError(
        "2 field(s) are invalid",
        errors=[
            FieldError("member.birth_date", "is required"),
            FieldError("diagnoses.0.code", "J44 is a category, not a billable code"),
        ],
    )
    assert refusals.reasons_of_error(exc) == [
        ("member.birth_date", "required"),
        ("diagnoses.code", "invalid_value"),
    ]
    assert refusals.reasons_of_error(MalformedJsonError("not JSON")) == [("", "malformed_json")]
    assert refusals.reasons_of_fhir([("structure", None), ("required", "Bundle.entry[0]")]) == [
        ("", "not_readable"),
        ("Bundle.entry", "required"),
    ]


def test_the_report_says_each_reason_in_plain_words() -> None:
    assert rules.refusal_words("member.birth_date", "required") == "Member birth date: missing"
    assert rules.refusal_words("", "malformed_json") == "The submission: not readable as JSON"
    assert rules.refusal_words("file", "unsupported_file_type") == "File: not a PDF or TIFF"
