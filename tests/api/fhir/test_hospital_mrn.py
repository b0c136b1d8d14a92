"""The hospital's medical record number (Patient.identifier typed MR, with its assigner)
is kept on the case, for the hospital's admission and discharge feed, and read back."""

from __future__ import annotations

from fastapi.testclient import TestClient

from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import expressions, get, post_bundle, task_of, valid
from tests.factories.fhir import referral_bundle

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def _with_identifier(clock: FixedClock, identifier: dict[str, object]) -> dict[str, object]:
    bundle = referral_bundle(clock.now())
    bundle["entry"][0]["resource"]["identifier"] = [
        {"system": "urn:oid:2.16.840.1.113883.4.1", "value": "123-45-6789"},  # not an MR
        identifier,
    ]
    return bundle


def test_the_record_number_and_its_assigner_are_kept_and_read_back(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    bundle = _with_identifier(
        clock, {"type": MR, "value": "MRN-0042117", "assigner": {"display": "HARTFORD-GEN"}}
    )
    response = post_bundle(client, tokens.hartford, bundle)
    assert response.status_code == 200, response.text
    n = task_of(response)["resource"]["id"]
    case = client.get(f"/api/v1/referrals/{n}", headers=Tokens.header(tokens.hartford)).json()
    assert case["member"]["hospital_mrn"] == {
        "value": "MRN-0042117",
        "assigning_authority": "HARTFORD-GEN",
    }
    patient = valid(get(client, tokens.hartford, f"Patient/{n}").json())
    [identifier] = patient["identifier"]
    assert identifier["value"] == "MRN-0042117"
    assert identifier["assigner"] == {"display": "HARTFORD-GEN"}
    assert identifier["type"] == MR


def test_a_record_number_without_its_authority_names_the_field(
    client: TestClient, tokens: Tokens, clock: FixedClock
) -> None:
    response = post_bundle(
        client, tokens.hartford, _with_identifier(clock, {"type": MR, "value": "MRN-1"})
    )
    assert response.status_code in (400, 422), response.text
    assert "Bundle.entry[0].resource.identifier[1].assigner" in expressions(response)
