"""A shape the R4B models have accepted is judged again by its values' own validators
(careloop.fhir.shapes): whatever it accepts, the model accepts, and what the model
refuses it never accepts; a refusal is the model's own, with the model's errors."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from careloop.fhir.bindings import binding_issues
from careloop.fhir.shapes import ShapeCache
from tests.factories.fhir import referral_bundle

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
Path = tuple[str | int, ...]


def _documents() -> list[tuple[Any, dict[str, Any]]]:
    """Each resource of the tests' referral bundle with its model, the Bundle without
    them, and an answer's Bundle with an OperationOutcome inside an entry."""
    bundle = referral_bundle(NOW)
    out: list[tuple[Any, dict[str, Any]]] = [
        (get_fhir_model_class(e["resource"]["resourceType"]), e["resource"])
        for e in bundle["entry"]
    ]
    shell = {
        **bundle,
        "entry": [{k: v for k, v in e.items() if k != "resource"} for e in bundle["entry"]],
    }
    answer = {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [
            {"response": {"status": "201 Created", "location": "Patient/CL-1", "etag": 'W/"1"'}},
            {
                "response": {
                    "status": "201 Created",
                    "location": "Task/CL-1",
                    "lastModified": "2026-03-02T15:00:00Z",
                    "outcome": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "warning",
                                "code": "business-rule",
                                "diagnostics": "Worth checking",
                                "expression": ["Bundle.entry[0].resource.birthDate"],
                            }
                        ],
                    },
                }
            },
        ],
    }
    bundle_model = get_fhir_model_class("Bundle")
    return [*out, (bundle_model, shell), (bundle_model, answer)]


DOCUMENTS = _documents()


def _paths(value: Any, at: Path = ()) -> list[Path]:
    """Every place in the document (objects, lists and primitive values)."""
    found: list[Path] = [at] if at else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*at, index))
    return found


def _replace(document: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(document)
    node = out
    for part in path[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_DELETE = object()
_VALUES = (
    st.sampled_from(
        [
            "",
            " ",
            "a b",
            "a  b",
            " a",
            "x\ty",
            "1945-01-23",
            "1945-02-30",
            "1945-13",
            "1945",
            "2026-03-02T15:00:00Z",
            "2026-03-02T15:00:00",
            "urn:uuid:6f1c0d2e-0001-4b7e-9a51-000000000001",
            "Patient/1",
            "official",
            "female",
            "transaction",
            "POST",
            "PATCH",
            "8",
            "8.5",
            "1e3",
            "J44.1",
            "ab$c",
            "résumé",
            "active",
            "order",
            "open",
            "phone",
            "Phone",
        ]
    )
    | st.text(max_size=4)
    | st.integers(min_value=-3, max_value=3)
    | st.sampled_from([0.5, 8.0, 1e300, True, False, None, [], {}, [None], [""], {"x": 1}])
    | st.just(_DELETE)
)


def _verdict(check: Any, model: Any, document: Any) -> Any:
    try:
        check(model, document)
    except ValidationError as exc:
        return exc.errors(include_url=False, include_context=False)
    except (KeyError, TypeError) as exc:  # fhir_core's, for a resourceType it cannot use
        return repr(exc)
    return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_shape_cache_judges_as_the_model_does(data: st.DataObject) -> None:
    model, document = data.draw(st.sampled_from(DOCUMENTS))
    shapes = ShapeCache()
    shapes.validate(model, document)  # learnt: the model accepted it
    assert len(shapes) == 1
    changed = document
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(changed)
        if not paths:
            break
        changed = _replace(changed, data.draw(st.sampled_from(paths)), data.draw(_VALUES))
    assert _verdict(shapes.validate, model, changed) == _verdict(
        lambda m, d: m.model_validate(d), model, changed
    )


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("birthDate",), "1945-02-30"),
        (("gender",), "fe  male"),
        (("name", 0, "use"), ""),
        (("telecom", 0, "system"), "pager "),
    ],
)
def test_a_bad_value_in_a_known_shape_gets_the_model_s_errors(path: Path, bad: str) -> None:
    model, patient = DOCUMENTS[0]
    shapes = ShapeCache()
    shapes.validate(model, patient)
    changed = _replace(patient, path, bad)
    with pytest.raises(ValidationError) as caught:
        shapes.validate(model, changed)
    with pytest.raises(ValidationError) as expected:
        model.model_validate(changed)
    assert caught.value.errors(include_context=False) == expected.value.errors(
        include_context=False
    )


def test_a_refused_document_teaches_nothing_and_the_oldest_shape_goes_first() -> None:
    model, patient = DOCUMENTS[0]
    shapes = ShapeCache(max_shapes=2)
    with pytest.raises(ValidationError):
        shapes.validate(model, {**patient, "gender": "unknown-field", "bogus": 1})
    assert len(shapes) == 0
    without = {key: {k: v for k, v in patient.items() if k != key} for key in patient}
    shapes.validate(model, without["gender"])
    shapes.validate(model, without["birthDate"])
    shapes.validate(model, without["gender"])  # used again: the newest
    shapes.validate(model, without["telecom"])
    assert len(shapes) == 2
    oldest, newest = (shape for _, shape in shapes._known)
    assert "gender" not in oldest and "telecom" not in newest  # the one without birthDate: gone


def test_what_it_cannot_take_apart_goes_to_the_model() -> None:
    model, patient = DOCUMENTS[0]
    shapes = ShapeCache()
    shapes.validate(model, {**patient, "fhir_comments": "a comment"})  # a union: not learnt
    assert len(shapes) == 0
    shapes.validate(model, {**patient, "birthDate": datetime(1945, 1, 23)})  # not JSON
    assert len(shapes) == 0
    with pytest.raises(ValidationError):
        shapes.validate(model, {**patient, "birthDate": object()})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_documents_judged_together_get_each_its_own_verdict(data: st.DataObject) -> None:
    shapes = ShapeCache()
    for model, document in DOCUMENTS:
        shapes.validate(model, document)
    documents = []
    for model, document in DOCUMENTS:
        changed = document
        if data.draw(st.booleans()):
            path = data.draw(st.sampled_from(_paths(document)))
            changed = _replace(document, path, data.draw(_VALUES))
        documents.append((model, changed))
    try:
        together = shapes.validate_all(documents)
    except (KeyError, TypeError):
        return  # fhir_core's own, for a resourceType it cannot use (as above)
    assert [v and v.errors(include_url=False, include_context=False) for v in together.errors] == [
        _verdict(lambda m, d: m.model_validate(d), m, d) for m, d in documents
    ]
    if together.by_shape:  # then every code is one its required binding allows
        assert all(binding_issues(d, m, "Resource") == [] for m, d in documents)


def test_a_code_its_binding_does_not_allow_is_not_passed_by_its_shape() -> None:
    """The models take any code (they list a required binding's codes without checking
    them); a known shape passes its documents only when each code is allowed, so that
    the intake need not walk the bundle again for its codes."""
    shapes = ShapeCache()
    for model, document in DOCUMENTS:
        shapes.validate(model, document)
    assert shapes.validate_all(DOCUMENTS).by_shape
    request = next(i for i, (m, _) in enumerate(DOCUMENTS) if m.__name__ == "ServiceRequest")
    model, document = DOCUMENTS[request]
    opened = [*DOCUMENTS]
    opened[request] = (model, {**document, "status": "open"})
    verdicts = shapes.validate_all(opened)
    assert verdicts.errors == [None] * len(opened)  # the models' verdict: accepted
    assert not verdicts.by_shape
    assert [i.expression for i in binding_issues(opened[request][1], model, "S")] == ["S.status"]
