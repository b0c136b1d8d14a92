"""What a referral bundle may not carry without a word: a resource contained in another
(its diagnosis or coverage would be dropped) and a subject outside the bundle (another
case's Patient, another organisation's: the case would be taken as the bundle Patient's).
Each is refused whole (422 naming the field), nothing stored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import expressions, post_bundle, stored, task_of, valid
from tests.factories.fhir import (
    I_CONDITION_2,
    I_COVERAGE,
    I_OXYGEN,
    I_PATIENT,
    I_VISITS,
    referral_bundle,
)


def _at(index: int, path: str) -> str:
    return f"Bundle.entry[{index}].resource.{path}"


def test_a_contained_resource_is_refused_naming_it(
    client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    bundle = referral_bundle(clock.now())
    visits = bundle["entry"][I_VISITS]["resource"]
    visits["contained"] = [
        {
            "resourceType": "Condition",
            "id": "dx",
            "subject": {"reference": bundle["entry"][I_PATIENT]["fullUrl"]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]},
        }
    ]
    visits["reasonReference"].append({"reference": "#dx"})
    before = stored(session)
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == {_at(I_VISITS, "contained")}
    assert valid(response.json())["issue"][0]["code"] == "not-supported"
    assert stored(session) == before


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (I_VISITS, "subject"),
        (I_OXYGEN, "subject"),  # the second request is checked as the first is
        (I_COVERAGE, "beneficiary"),
        (I_CONDITION_2, "subject"),
    ],
)
def test_a_subject_outside_the_bundle_is_refused_even_one_the_caller_may_not_see(
    client: TestClient,
    session: Session,
    tokens: Tokens,
    clock: FixedClock,
    index: int,
    path: str,
) -> None:
    albany = task_of(post_bundle(client, tokens.albany, referral_bundle(clock.now())))
    other = f"Patient/{albany['resource']['id']}"
    for reference in (other, f"http://hospital.example/fhir/{other}"):
        bundle = referral_bundle(clock.now(), order_id="FOREIGN-1")
        bundle["entry"][index]["resource"][path] = {"reference": reference}
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {_at(index, f"{path}.reference")}
        assert "the bundle's Patient" in response.text
        assert stored(session) == before


def test_a_subject_naming_the_bundle_patient_by_its_id_is_taken(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    bundle = referral_bundle(clock.now())
    bundle["entry"][I_PATIENT]["resource"]["id"] = "pat-1"
    bundle["entry"][I_OXYGEN]["resource"]["subject"] = {"reference": "Patient/pat-1"}
    assert task_of(post_bundle(client, tokens.hartford, bundle))["response"]["status"] == (
        "201 Created"
    )


def test_a_code_outside_its_required_binding_is_refused_naming_each(
    client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    # The R4B models list these codes but do not check them: "open" was read as an
    # order not yet signed, "Phone" dropped the member's phone, without a word.
    bundle = referral_bundle(clock.now())
    bundle["entry"][I_VISITS]["resource"]["status"] = "open"
    bundle["entry"][I_OXYGEN]["resource"]["intent"] = "ordered"
    bundle["entry"][I_PATIENT]["resource"]["telecom"][0]["system"] = "Phone"
    bundle["entry"][I_PATIENT]["resource"]["name"][0]["use"] = "legal"
    bundle["entry"][I_COVERAGE]["resource"]["status"] = "valid"
    bundle["entry"][I_COVERAGE]["request"]["method"] = "post"
    before = stored(session)
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == {
        _at(I_VISITS, "status"),
        _at(I_OXYGEN, "intent"),
        _at(I_PATIENT, "telecom[0].system"),
        _at(I_PATIENT, "name[0].use"),
        _at(I_COVERAGE, "status"),
        f"Bundle.entry[{I_COVERAGE}].request.method",
    }
    issues = valid(response.json())["issue"]
    assert {issue["code"] for issue in issues} == {"code-invalid"}
    status = next(i for i in issues if i["expression"] == [_at(I_VISITS, "status")])
    assert "'open'" in status["diagnostics"] and "active" in status["diagnostics"]
    assert stored(session) == before


def test_codes_of_their_bindings_are_taken_and_a_task_is_refused_as_a_type(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    bundle = referral_bundle(clock.now())
    bundle["entry"][I_VISITS]["resource"]["intent"] = "original-order"
    bundle["entry"][I_PATIENT]["resource"]["name"][0]["use"] = "usual"
    assert task_of(post_bundle(client, tokens.hartford, bundle))
    # A Task's own codes are not judged by a list the models read wrong: the entry is
    # refused for what it is, a type a referral does not take.
    task = {"resourceType": "Task", "status": "in-progress", "intent": "order"}
    bundle["entry"].append({"resource": task, "request": {"method": "POST", "url": "Task"}})
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == {
        f"Bundle.entry[{len(bundle['entry']) - 1}].resource.resourceType"
    }


def test_a_value_its_fhir_type_does_not_allow_is_said_in_words_not_a_regular_expression(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    bundle = referral_bundle(clock.now())
    patient = bundle["entry"][I_PATIENT]["resource"]
    patient["name"] = [
        {"use": "old", "family": "Old", "given": ["Former"]},
        {"use": "official", "family": "", "given": ["x" * 101]},
    ]
    patient["gender"] = " female"
    patient["id"] = "a b"
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 422, response.text
    said = {i["expression"][0]: i["diagnostics"] for i in valid(response.json())["issue"]}
    assert said == {
        _at(I_PATIENT, "name[1].family"): (
            "The text is empty: FHIR has no empty strings; leave the element out instead."
        ),
        _at(I_PATIENT, "gender"): (
            "A code is not empty and has no space at its start or end, nor two in a row."
        ),
        _at(I_PATIENT, "id"): "An id holds only letters, digits, '-' and '.' (at most 64).",
    }
    # Once the types are right, the given name too long is named at its index.
    patient["name"][1]["family"], patient["gender"], patient["id"] = "Hale", "female", "p1"
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 422, response.text
    assert expressions(response) == {_at(I_PATIENT, "name[1].given[0]")}
