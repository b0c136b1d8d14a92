"""POST /fhir: a referral transaction Bundle as an EHR sends it (RELIABILITY.md row 31:
structurally valid output; the bundle is one transaction, rejected whole)."""

from __future__ import annotations

import copy
import json
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from careloop.core.actor import Role
from careloop.core.clock import FixedClock
from tests.api.conftest import Tokens
from tests.api.fhir.conftest import expressions, get, post_bundle, stored, task_of, valid
from tests.factories.fhir import (
    I_CONDITION_1,
    I_CONDITION_2,
    I_COVERAGE,
    I_OXYGEN,
    I_PATIENT,
    I_PRACTITIONER,
    I_VISITS,
    referral_bundle,
)
from tests.factories.identity import make_user

Bundle = dict[str, Any]


def resource(bundle: Bundle, index: int) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][index]["resource"]
    return found


def at(index: int, path: str) -> str:
    return f"Bundle.entry[{index}].resource.{path}"


class TestCreate:
    def test_one_case_with_a_location_for_every_entry_and_the_task_last(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = post_bundle(client, tokens.hartford, referral_bundle(clock.now()))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/fhir+json"
        body = valid(response.json())
        assert body["type"] == "transaction-response"
        task = task_of(response)
        n = task["resource"]["id"]
        locations = [e["response"].get("location") for e in body["entry"]]
        assert locations == [
            f"Patient/{n}",
            f"Coverage/{n}",
            None,  # the payer Organization: part of the coverage
            f"Practitioner/{n}",
            None,  # the PractitionerRole: the clinician's office
            None,  # the hospital Organization
            f"Condition/{n}-1",
            f"Condition/{n}-2",
            f"ServiceRequest/{n}-1",
            f"DeviceRequest/{n}-2",
            f"Task/{n}",
        ]
        assert {
            e["response"]["status"] for e in body["entry"] if e["response"].get("location")
        } == {"201 Created"}

    def test_every_created_resource_reads_back_valid_and_as_the_json_api_stored_it(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = post_bundle(client, tokens.hartford, referral_bundle(clock.now()))
        locations = [
            e["response"]["location"]
            for e in response.json()["entry"]
            if "location" in e["response"]
        ]
        read = {loc: valid(get(client, tokens.hartford, loc).json()) for loc in locations}
        n = task_of(response)["resource"]["id"]
        case = client.get(f"/api/v1/referrals/{n}", headers=Tokens.header(tokens.hartford)).json()
        patient = read[f"Patient/{n}"]
        assert (
            (patient["name"][0]["given"][0], patient["name"][0]["family"])
            == (
                case["member"]["first_name"],
                case["member"]["last_name"],
            )
            == ("Dorothy", "Hale")
        )
        assert patient["birthDate"] == case["member"]["birth_date"] == "1945-01-23"
        assert read[f"Coverage/{n}"]["subscriberId"] == case["coverage"]["member_id"]
        assert read[f"Practitioner/{n}"]["identifier"][0]["value"] == "1234567893"
        assert case["ordering_provider"] == {
            "npi": "1234567893",
            "name": "Dr. Amara Osei",
            "organization": "Hartford General Hospital",
            "phone": "860-555-0100",
            "fax": None,
        }
        assert [d["code"] for d in case["diagnoses"]] == ["J44.1", "Z99.81"]
        assert [(i["code"], i["quantity"], i["frequency"]) for i in case["items"]] == [
            ("G0299", 8, "2x per week"),
            ("E1390", 1, None),
        ]
        assert case["channel"] == "fhir"
        assert case["external_id"] == "HOSP-ORD-1"
        assert case["signed_order"]["signer_npi"] == "1234567893"
        visits = read[f"ServiceRequest/{n}-1"]
        assert visits["code"]["coding"][0]["code"] == "G0299"
        assert visits["subject"] == {"reference": f"Patient/{n}"}
        oxygen = read[f"DeviceRequest/{n}-2"]
        assert oxygen["codeCodeableConcept"]["coding"][0]["code"] == "E1390"

    def test_accepts_plain_application_json(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = post_bundle(
            client, tokens.intake, referral_bundle(clock.now()), content_type="application/json"
        )
        assert response.status_code == 200, response.text

    def test_a_trailing_slash_is_the_same_endpoint(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = client.post(
            "/fhir/",
            json=referral_bundle(clock.now()),
            headers={**Tokens.header(tokens.intake), "content-type": "application/fhir+json"},
        )
        assert response.status_code == 200, response.text

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        first=st.text(st.characters(categories=["Lu", "Ll", "Lo"]), min_size=1, max_size=30).filter(
            str.strip
        ),
        last=st.sampled_from(["Hale", "王", "Кузнецова", "العلي", "Παπαδοπούλου", "O'Brien-Núñez"]),
    )
    def test_names_in_every_script_come_back_as_sent(
        self, client: TestClient, tokens: Tokens, clock: FixedClock, first: str, last: str
    ) -> None:
        bundle = referral_bundle(clock.now(), first_name=first, last_name=last)
        n = task_of(post_bundle(client, tokens.intake, bundle))["resource"]["id"]
        patient = valid(get(client, tokens.intake, f"Patient/{n}").json())
        assert patient["name"][0] == {
            "use": "official",
            "family": last,
            "given": [unicodedata.normalize("NFC", first).strip()],  # as every name is kept
        }


def _bad_npi(b: Bundle) -> None:
    resource(b, I_PRACTITIONER)["identifier"][0]["value"] = "1234567890"


def _unknown_diagnosis(b: Bundle) -> None:
    resource(b, I_CONDITION_2)["code"]["coding"][0]["code"] = "Q99.999"


def _malformed_item(b: Bundle) -> None:
    resource(b, I_OXYGEN)["codeCodeableConcept"]["coding"][0]["code"] = "E13900"


def _zero_quantity(b: Bundle) -> None:
    resource(b, I_VISITS)["quantityQuantity"]["value"] = 0


def _huge_quantity(b: Bundle) -> None:
    resource(b, I_VISITS)["quantityQuantity"]["value"] = 1e300  # a whole number past 64 bits


def _dangling_reference(b: Bundle) -> None:
    resource(b, I_VISITS)["subject"]["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"


def _bad_birth_date(b: Bundle) -> None:
    resource(b, I_PATIENT)["birthDate"] = "23/01/1945"


def _name_too_long(b: Bundle) -> None:
    resource(b, I_PATIENT)["name"][0]["family"] = "H" * 101


def _service_as_device(b: Bundle) -> None:
    resource(b, I_OXYGEN)["codeCodeableConcept"]["coding"][0]["code"] = "G0299"


BAD: dict[str, tuple[Callable[[Bundle], None], set[str]]] = {
    "npi check digit": (_bad_npi, {at(I_PRACTITIONER, "identifier[0].value")}),
    "unknown ICD-10-CM code": (_unknown_diagnosis, {at(I_CONDITION_2, "code.coding[0].code")}),
    "malformed HCPCS code": (_malformed_item, {at(I_OXYGEN, "codeCodeableConcept.coding[0].code")}),
    "zero quantity": (_zero_quantity, {at(I_VISITS, "quantityQuantity.value")}),
    "huge quantity": (_huge_quantity, {at(I_VISITS, "quantityQuantity.value")}),
    "dangling urn:uuid": (_dangling_reference, {at(I_VISITS, "subject.reference")}),
    "birth date not a FHIR date": (_bad_birth_date, {at(I_PATIENT, "birthDate")}),
    "family name too long": (_name_too_long, {at(I_PATIENT, "name[0].family")}),
    "a visit sent as a device": (_service_as_device, {at(I_OXYGEN, "resourceType")}),
}


class TestOneBadEntryStoresNothing:
    @pytest.mark.parametrize("case", sorted(BAD))
    def test_rejected_whole_naming_the_bad_field(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock, case: str
    ) -> None:
        spoil, expected = BAD[case]
        bundle = referral_bundle(clock.now())
        spoil(bundle)
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == "application/fhir+json"
        valid(response.json())
        assert expressions(response) == expected
        assert stored(session) == before

    def test_every_bad_field_is_named_at_once(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now())
        for name in ("npi check digit", "unknown ICD-10-CM code", "malformed HCPCS code"):
            BAD[name][0](bundle)
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422
        assert expressions(response) == {
            at(I_PRACTITIONER, "identifier[0].value"),
            at(I_CONDITION_2, "code.coding[0].code"),
            at(I_OXYGEN, "codeCodeableConcept.coding[0].code"),
        }
        assert stored(session) == before

    def test_bad_values_in_a_bundle_shaped_like_one_already_taken_are_each_named(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        """A shape the R4B models took once is judged by its values' FHIR types after
        (careloop.fhir.shapes): a bad value still rejects the bundle, named at its path."""
        first = post_bundle(client, tokens.hartford, referral_bundle(clock.now()))
        assert first.status_code == 200, first.text
        bundle = referral_bundle(clock.now(), last_name="Marsh", order_id="HOSP-ORD-2")
        resource(bundle, I_PATIENT)["birthDate"] = "1945-02-30"
        resource(bundle, I_OXYGEN)["status"] = "on  hold"
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {at(I_PATIENT, "birthDate"), at(I_OXYGEN, "status")}
        assert stored(session) == before

    def test_an_entry_of_a_type_the_referral_does_not_take_rejects_the_bundle(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now())
        bundle["entry"].append(
            {
                "fullUrl": "urn:uuid:6f1c0d2e-0099-4b7e-9a51-000000000099",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                },
                "request": {"method": "POST", "url": "Observation"},
            }
        )
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422
        assert expressions(response) == {"Bundle.entry[10].resource.resourceType"}
        assert stored(session) == before

    @pytest.mark.parametrize("kind", ["Foo", 5])
    def test_an_entry_of_no_known_resource_type_is_named_not_a_server_error(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock, kind: Any
    ) -> None:
        bundle = referral_bundle(clock.now())
        bundle["entry"].append(
            {"resource": {"resourceType": kind}, "request": {"method": "POST", "url": "Foo"}}
        )
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {"Bundle.entry[10].resource.resourceType"}
        assert stored(session) == before

    def test_nesting_past_the_depth_limit_is_400_not_a_server_error(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        """Extensions nested 200 deep: the R4B models would recurse past Python's limit."""
        bundle = referral_bundle(clock.now())
        nested: dict[str, Any] = {"url": "https://example.org/x", "valueString": "x"}
        for _ in range(200):
            nested = {"url": "https://example.org/x", "extension": [nested]}
        resource(bundle, I_PATIENT)["extension"] = [nested]
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 400, response.text
        issue = valid(response.json())["issue"][0]
        assert issue["code"] == "structure"
        assert "nested deeper than" in issue["diagnostics"]
        assert stored(session) == before

    @pytest.mark.parametrize(
        "index, field, value, words",
        [
            (I_PATIENT, "birthDate", "0000-01-01", "YYYY-MM-DD"),
            (I_PATIENT, "birthDate", "1945-13-01", "YYYY-MM-DD"),
            (I_PATIENT, "birthDate", 19450123, "written as text"),
            (I_VISITS, "authoredOn", "2026-11-23T25:00:00Z", "time zone"),
        ],
    )
    def test_a_date_not_written_as_fhir_writes_one_says_the_format(
        self,
        client: TestClient,
        session: Session,
        tokens: Tokens,
        clock: FixedClock,
        index: int,
        field: str,
        value: Any,
        words: str,
    ) -> None:
        bundle = referral_bundle(clock.now())
        resource(bundle, index)[field] = value
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {at(index, field)}
        diagnostics = response.json()["issue"][0]["diagnostics"]
        assert words in diagnostics and "regex" not in diagnostics
        assert "Datetimes" not in diagnostics
        assert stored(session) == before

    @pytest.mark.parametrize(
        "where",
        [
            (I_COVERAGE, "beneficiary"),
            (I_CONDITION_1, "subject"),
            (I_VISITS, "reasonReference[0]"),
            (I_VISITS, "insurance[0]"),
        ],
    )
    def test_a_urn_uuid_that_names_no_entry_rejects_the_bundle_wherever_it_is(
        self,
        client: TestClient,
        session: Session,
        tokens: Tokens,
        clock: FixedClock,
        where: tuple[int, str],
    ) -> None:
        index, path = where
        bundle = referral_bundle(clock.now())
        target = resource(bundle, index)
        name, _, position = path.partition("[")
        holder = target[name][int(position.rstrip("]"))] if position else target[name]
        holder["reference"] = "urn:uuid:00000000-0000-4000-8000-000000000000"
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {at(index, f"{path}.reference")}
        assert stored(session) == before

    @pytest.mark.parametrize(
        "index, path", [(I_COVERAGE, "beneficiary"), (I_CONDITION_1, "subject")]
    )
    def test_a_reference_to_the_wrong_kind_of_entry_rejects_the_bundle(
        self,
        client: TestClient,
        session: Session,
        tokens: Tokens,
        clock: FixedClock,
        index: int,
        path: str,
    ) -> None:
        bundle = referral_bundle(clock.now())
        resource(bundle, index)[path]["reference"] = bundle["entry"][I_COVERAGE]["fullUrl"]
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {at(index, f"{path}.reference")}
        assert "Must refer to a Patient" in response.text
        assert stored(session) == before

    def test_two_entries_with_one_full_url_are_named_as_such(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now())
        bundle["entry"][I_CONDITION_2]["fullUrl"] = bundle["entry"][I_PATIENT]["fullUrl"]
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {f"Bundle.entry[{I_CONDITION_2}].fullUrl"}
        assert f"entry[{I_PATIENT}]" in response.json()["issue"][0]["diagnostics"]
        assert stored(session) == before

    @pytest.mark.parametrize(
        "entry, expected, words",
        [
            ("not an entry", "Bundle.entry[10]", "JSON object"),
            (
                {"request": {"method": "POST", "url": "Patient"}},
                "Bundle.entry[10].resource",
                "resource",
            ),
            (
                {"resource": None, "request": {"method": "POST", "url": "Patient"}},
                "Bundle.entry[10].resource",
                "resource",
            ),
        ],
    )
    def test_an_entry_without_a_resource_is_named_in_plain_words(
        self,
        client: TestClient,
        session: Session,
        tokens: Tokens,
        clock: FixedClock,
        entry: Any,
        expected: str,
        words: str,
    ) -> None:
        bundle = referral_bundle(clock.now())
        bundle["entry"].append(entry)
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422, response.text
        assert expressions(response) == {expected}
        diagnostics = valid(response.json())["issue"][0]["diagnostics"]
        assert words in diagnostics and "Invalid JSON" not in diagnostics
        assert stored(session) == before

    @pytest.mark.parametrize("url", ["Coverage", "Patient/1", "Task"])
    def test_a_request_url_that_is_not_the_resources_type_is_400_naming_it(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock, url: str
    ) -> None:
        bundle = referral_bundle(clock.now())
        bundle["entry"][I_PATIENT]["request"] = {"method": "POST", "url": url}
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 400, response.text
        assert expressions(response) == {f"Bundle.entry[{I_PATIENT}].request.url"}
        diagnostics = valid(response.json())["issue"][0]["diagnostics"]
        assert "must name the resource's type (Patient)" in diagnostics
        assert stored(session) == before

    def test_a_batch_is_not_a_transaction(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = {**referral_bundle(clock.now()), "type": "batch"}
        response = post_bundle(client, tokens.hartford, bundle)
        assert (response.status_code, expressions(response)) == (422, {"Bundle.type"})


class TestChannelConventions:
    def test_malformed_json_is_400_operation_outcome(
        self, client: TestClient, tokens: Tokens
    ) -> None:
        response = post_bundle(client, tokens.hartford, b'{"resourceType": "Bundle",')
        assert response.status_code == 400
        assert valid(response.json())["issue"][0]["code"] == "structure"

    def test_another_media_type_is_415_operation_outcome(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        response = post_bundle(
            client, tokens.hartford, referral_bundle(clock.now()), content_type="text/plain"
        )
        assert response.status_code == 415
        assert valid(response.json())["issue"][0]["code"] == "not-supported"

    def test_not_a_bundle_is_400(self, client: TestClient, tokens: Tokens) -> None:
        response = post_bundle(client, tokens.hartford, {"resourceType": "Patient"})
        assert (response.status_code, expressions(response)) == (400, {"Bundle"})

    @pytest.mark.parametrize("escaped", [False, True])
    def test_a_key_written_twice_in_one_object_is_400_naming_it(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock, escaped: bool
    ) -> None:
        """Two parsers may keep either value (RELIABILITY.md A.4): which birth date?"""
        text = json.dumps(referral_bundle(clock.now()))
        second = '"birthDate": "1990-05-05"' if not escaped else '"birthDate": "1990\\u002d05-05"'
        text = text.replace('"birthDate": "1945-01-23"', f'"birthDate": "1945-01-23", {second}')
        before = stored(session)
        response = post_bundle(client, tokens.hartford, text)
        assert response.status_code == 400, response.text
        assert expressions(response) == {at(I_PATIENT, "birthDate")}
        assert "twice" in response.json()["issue"][0]["diagnostics"]
        assert stored(session) == before

    @pytest.mark.parametrize(
        "method, path, status, code",
        [
            ("GET", "/fhir/Patient", 404, "not-found"),
            ("GET", "/fhir/Task/CL-2026-000001/_history", 404, "not-found"),
            ("PUT", "/fhir/Task/CL-2026-000001", 405, "not-supported"),
            ("DELETE", "/fhir/Task/CL-2026-000001", 405, "not-supported"),
        ],
    )
    def test_no_such_route_or_method_is_an_operation_outcome(
        self, client: TestClient, tokens: Tokens, method: str, path: str, status: int, code: str
    ) -> None:
        response = client.request(method, path, headers=Tokens.header(tokens.hartford))
        assert response.status_code == status
        assert response.headers["content-type"] == "application/fhir+json"
        assert valid(response.json())["issue"][0]["code"] == code
        if status == 405:
            assert "GET" in response.headers["allow"]

    def test_a_body_over_the_limit_is_413_operation_outcome(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now())
        resource(bundle, I_VISITS)["note"] = [{"text": "x" * 2_000_000}]
        before = stored(session)
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/fhir+json"
        issue = valid(response.json())["issue"][0]
        assert (issue["code"], "larger than" in issue["diagnostics"]) == ("too-costly", True)
        assert stored(session) == before

    def test_no_token_is_401_operation_outcome(self, client: TestClient, clock: FixedClock) -> None:
        response = client.post(
            "/fhir",
            json=referral_bundle(clock.now()),
            headers={"content-type": "application/fhir+json"},
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert valid(response.json())["issue"][0]["code"] == "login"

    def test_a_role_that_may_not_refer_is_refused_with_an_operation_outcome(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        before = stored(session)
        response = post_bundle(client, tokens.provider, referral_bundle(clock.now()))
        assert response.status_code == 403
        assert valid(response.json())["issue"][0]["code"] == "forbidden"
        assert stored(session)["referrals"] == before["referrals"]


class TestFindings:
    def test_findings_are_warnings_and_the_business_status_as_the_json_api_reports_them(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now())
        visits = resource(bundle, I_VISITS)
        del visits["authoredOn"]  # no signed order
        del resource(bundle, I_OXYGEN)["authoredOn"]
        del resource(bundle, I_COVERAGE)["subscriberId"]  # no member id
        resource(bundle, I_CONDITION_1)["code"]["coding"][0]["code"] = "J44"  # a category
        entry = task_of(post_bundle(client, tokens.hartford, bundle))
        n = entry["resource"]["id"]
        case = client.get(f"/api/v1/referrals/{n}", headers=Tokens.header(tokens.hartford)).json()
        outcome = valid(entry["response"]["outcome"])
        warnings = {
            (i["details"]["coding"][0]["code"], i["diagnostics"], i.get("expression", [None])[0])
            for i in outcome["issue"]
        }
        assert {i["severity"] for i in outcome["issue"]} == {"warning"}
        assert {(code, message) for code, message, _ in warnings} == {
            (f["code"], f["message"]) for f in case["findings"]
        }
        where = {code: expression for code, _, expression in warnings}
        assert where["signed_order_missing"] == at(I_VISITS, "authoredOn")
        assert where["diagnosis_not_billable"] == at(I_CONDITION_1, "code.coding[0].code")
        assert case["status"] == "needs_clarification"
        task = valid(get(client, tokens.hartford, f"Task/{n}").json())
        assert task["status"] == "on-hold"
        assert task["businessStatus"]["coding"][0]["code"] == "needs_clarification"
        errors = sum(1 for f in case["findings"] if f["severity"] == "error")
        assert task["businessStatus"]["text"] == f"Needs clarification: {errors} item(s) to fix"

    def test_a_complete_bundle_has_no_warning_and_is_received(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        entry = task_of(post_bundle(client, tokens.hartford, referral_bundle(clock.now())))
        assert [i["severity"] for i in entry["response"]["outcome"]["issue"]] == ["information"]
        assert entry["resource"]["status"] == "received"
        assert entry["resource"]["businessStatus"]["coding"][0]["code"] == "received"

    def test_a_second_order_for_the_same_member_is_flagged_as_a_possible_duplicate(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        first = task_of(post_bundle(client, tokens.hartford, referral_bundle(clock.now())))
        second_bundle = referral_bundle(clock.now(), order_id="HOSP-ORD-2")
        second = task_of(post_bundle(client, tokens.hartford, second_bundle))
        codes = [i["details"]["coding"][0]["code"] for i in second["response"]["outcome"]["issue"]]
        assert "possible_duplicate" in codes
        # A referrer learns only that the coordinator will check, never another case's number.
        assert first["resource"]["id"] not in str(second["response"]["outcome"])


class TestConditionalCreate:
    def test_the_retry_returns_the_same_case(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now(), conditional=True)
        first = task_of(post_bundle(client, tokens.hartford, bundle))
        after_first = stored(session)["referrals"]
        second = task_of(post_bundle(client, tokens.hartford, copy.deepcopy(bundle)))
        assert second["resource"]["id"] == first["resource"]["id"]
        assert (first["response"]["status"], second["response"]["status"]) == (
            "201 Created",
            "200 OK",
        )
        assert stored(session)["referrals"] == after_first

    def test_a_colleague_of_the_same_organisation_gets_the_same_case(
        self, client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
    ) -> None:
        _, colleague = make_user(
            session,
            clock=clock,
            role=Role.referring_clinician,
            email="colleague@hartford.test",
            organization="Hartford General",
        )
        bundle = referral_bundle(clock.now(), conditional=True)
        first = task_of(post_bundle(client, tokens.hartford, bundle))
        second = task_of(post_bundle(client, colleague, bundle))
        assert second["resource"]["id"] == first["resource"]["id"]

    def test_another_organisation_with_the_same_identifier_gets_its_own_case(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now(), conditional=True)
        first = task_of(post_bundle(client, tokens.hartford, bundle))
        other = task_of(post_bundle(client, tokens.albany, bundle))
        assert other["resource"]["id"] != first["resource"]["id"]

    def test_if_none_exist_must_name_the_requests_identifier(
        self, client: TestClient, tokens: Tokens, clock: FixedClock
    ) -> None:
        bundle = referral_bundle(clock.now(), conditional=True)
        bundle["entry"][I_VISITS]["request"]["ifNoneExist"] = "identifier=urn:x|OTHER"
        response = post_bundle(client, tokens.hartford, bundle)
        assert response.status_code == 422
        assert expressions(response) == {f"Bundle.entry[{I_VISITS}].request.ifNoneExist"}
