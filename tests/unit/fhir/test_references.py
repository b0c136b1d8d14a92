"""Every ``urn:uuid`` reference of a referral Bundle must be the fullUrl of one of its
entries (careloop.fhir.intake): found the same way whether the Bundle's JSON text is at
hand (its references read from the text) or not (each resource walked), and named at
the element that holds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.core.dates import judged_at
from careloop.fhir.intake import parse_bundle
from careloop.fhir.outcome import FhirError
from tests.factories.fhir import (
    CONDITION_1,
    I_CONDITION_2,
    I_PATIENT,
    I_VISITS,
    PRACTITIONER,
    referral_bundle,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NOWHERE = "urn:uuid:0b9f3c4e-5a6d-4e7f-8091-a2b3c4d5e6f7"


def _supporting_info(resources: list[dict[str, Any]], ref: str) -> str:
    resources[I_VISITS]["supportingInfo"] = [{"reference": CONDITION_1}, {"reference": ref}]
    return f"Bundle.entry[{I_VISITS}].resource.supportingInfo[1].reference"


def _general_practitioner(resources: list[dict[str, Any]], ref: str) -> str:
    resources[I_PATIENT]["generalPractitioner"] = [{"reference": ref}]
    return f"Bundle.entry[{I_PATIENT}].resource.generalPractitioner[0].reference"


def _extension(resources: list[dict[str, Any]], ref: str) -> str:
    resources[I_PATIENT]["extension"] = [
        {"url": "http://example.org/fhir/care-team", "valueReference": {"reference": ref}}
    ]
    return f"Bundle.entry[{I_PATIENT}].resource.extension[0].valueReference.reference"


def _asserter(resources: list[dict[str, Any]], ref: str) -> str:
    resources[I_CONDITION_2]["asserter"] = {"reference": ref, "display": "Dr. Ng : cardiology"}
    return f"Bundle.entry[{I_CONDITION_2}].resource.asserter.reference"


PLACES = [_supporting_info, _general_practitioner, _extension, _asserter]


def _issues(data: dict[str, Any], text: bytes | None) -> list[tuple[str | None, str]]:
    with judged_at(NOW):
        try:
            parse_bundle(data, text)
        except FhirError as exc:
            return [(i.expression, i.diagnostics) for i in exc.issues]
    return []


@settings(max_examples=60, deadline=None)
@given(
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=4, unique=True),
    dangling=st.lists(st.booleans(), min_size=4, max_size=4),
    indent=st.sampled_from([None, 2]),
    escaped=st.booleans(),
)
def test_a_reference_to_no_entry_is_named_with_or_without_the_text(
    places: list[Any], dangling: list[bool], indent: int | None, escaped: bool
) -> None:
    bundle = referral_bundle(NOW, last_name="O’Brien-陈")
    resources = [entry["resource"] for entry in bundle["entry"]]
    expected = set()
    for place, bad in zip(places, dangling, strict=False):
        where = place(resources, NOWHERE if bad else PRACTITIONER)
        if bad:
            expected.add(where)
    text = json.dumps(bundle, indent=indent, ensure_ascii=escaped).encode()
    data = json.loads(text)
    with_text, walked = _issues(data, text), _issues(data, None)
    assert with_text == walked
    assert {where for where, _ in with_text} == expected
    assert all(f"{NOWHERE} is not the fullUrl of any entry." == m for _, m in with_text)


@pytest.mark.parametrize("place", PLACES, ids=lambda p: p.__name__.strip("_"))
def test_a_reference_to_an_entry_passes(place: Any) -> None:
    bundle = referral_bundle(NOW)
    place([entry["resource"] for entry in bundle["entry"]], PRACTITIONER)
    text = json.dumps(bundle).encode()
    assert _issues(json.loads(text), text) == []
