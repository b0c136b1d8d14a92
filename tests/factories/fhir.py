"""A referral transaction Bundle as a hospital EHR sends it: the DOMAIN.md §9 home-health
start plus oxygen (Da Vinci PAS style DeviceRequest), relative to the test clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.factories.referral import VALID_NPI

PATIENT = "urn:uuid:6f1c0d2e-0001-4b7e-9a51-000000000001"
COVERAGE = "urn:uuid:6f1c0d2e-0002-4b7e-9a51-000000000002"
PAYER = "urn:uuid:6f1c0d2e-0003-4b7e-9a51-000000000003"
PRACTITIONER = "urn:uuid:6f1c0d2e-0004-4b7e-9a51-000000000004"
ROLE = "urn:uuid:6f1c0d2e-0005-4b7e-9a51-000000000005"
HOSPITAL = "urn:uuid:6f1c0d2e-0006-4b7e-9a51-000000000006"
CONDITION_1 = "urn:uuid:6f1c0d2e-0007-4b7e-9a51-000000000007"
CONDITION_2 = "urn:uuid:6f1c0d2e-0008-4b7e-9a51-000000000008"
VISITS = "urn:uuid:6f1c0d2e-0009-4b7e-9a51-000000000009"
OXYGEN = "urn:uuid:6f1c0d2e-0010-4b7e-9a51-000000000010"

HCPCS = "https://bluebutton.cms.gov/resources/codesystem/hcpcs"
ORDER_SYSTEM = "urn:oid:2.16.840.1.113883.3.1234.5"

#: Entry indexes, for the expressions a test expects.
I_PATIENT, I_COVERAGE, I_PAYER, I_PRACTITIONER, I_ROLE, I_HOSPITAL = range(6)
I_CONDITION_1, I_CONDITION_2, I_VISITS, I_OXYGEN = range(6, 10)


def _entry(url: str, resource: dict[str, Any], **request: str) -> dict[str, Any]:
    return {
        "fullUrl": url,
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }


def referral_bundle(
    now: datetime,
    *,
    order_id: str = "HOSP-ORD-1",
    first_name: str = "Dorothy",
    last_name: str = "Hale",
    npi: str = VALID_NPI,
    conditional: bool = False,
) -> dict[str, Any]:
    today = now.date()
    visits: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [{"system": ORDER_SYSTEM, "value": order_id}],
        "status": "active",
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": HCPCS, "code": "G0299"}], "text": "Skilled nursing visits"},
        "quantityQuantity": {"value": 8},
        "occurrenceTiming": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}},
        "subject": {"reference": PATIENT},
        "requester": {"reference": ROLE},
        "authoredOn": (today - timedelta(days=1)).isoformat(),
        "insurance": [{"reference": COVERAGE}],
        "reasonReference": [{"reference": CONDITION_1}],
        "note": [{"text": "Oxygen 2 L/min continuous."}],
    }
    if_none_exist = {"ifNoneExist": f"identifier={ORDER_SYSTEM}|{order_id}"} if conditional else {}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            _entry(
                PATIENT,
                {
                    "resourceType": "Patient",
                    "name": [{"use": "official", "family": last_name, "given": [first_name]}],
                    "birthDate": "1945-01-23",
                    "gender": "female",
                    "telecom": [{"system": "phone", "value": "860-555-0142"}],
                    "address": [
                        {
                            "line": ["41 Asylum St"],
                            "city": "Hartford",
                            "state": "CT",
                            "postalCode": "06103",
                        }
                    ],
                    "communication": [
                        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}}
                    ],
                },
            ),
            _entry(
                COVERAGE,
                {
                    "resourceType": "Coverage",
                    "status": "active",
                    "subscriberId": "NEH448812301",
                    "beneficiary": {"reference": PATIENT},
                    "payor": [{"reference": PAYER}],
                },
            ),
            _entry(
                PAYER,
                {
                    "resourceType": "Organization",
                    "identifier": [
                        {"system": "https://careloop.org/fhir/sid/payer", "value": "NEHP"}
                    ],
                    "name": "New England Health Plan",
                },
            ),
            _entry(
                PRACTITIONER,
                {
                    "resourceType": "Practitioner",
                    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": npi}],
                    "name": [{"family": "Osei", "given": ["Amara"], "prefix": ["Dr."]}],
                },
            ),
            _entry(
                ROLE,
                {
                    "resourceType": "PractitionerRole",
                    "practitioner": {"reference": PRACTITIONER},
                    "organization": {"reference": HOSPITAL},
                    "telecom": [{"system": "phone", "value": "860-555-0100"}],
                },
            ),
            _entry(HOSPITAL, {"resourceType": "Organization", "name": "Hartford General Hospital"}),
            _entry(CONDITION_1, _condition("J44.1")),
            _entry(CONDITION_2, _condition("Z99.81")),
            _entry(VISITS, visits, **if_none_exist),
            _entry(
                OXYGEN,
                {
                    "resourceType": "DeviceRequest",
                    "identifier": [{"system": ORDER_SYSTEM, "value": f"{order_id}-O2"}],
                    "status": "active",
                    "intent": "original-order",
                    "codeCodeableConcept": {"coding": [{"system": HCPCS, "code": "E1390"}]},
                    "parameter": [{"code": {"text": "quantity"}, "valueQuantity": {"value": 1}}],
                    "subject": {"reference": PATIENT},
                    "requester": {"reference": ROLE},
                    "authoredOn": (today - timedelta(days=1)).isoformat(),
                },
            ),
        ],
    }


def _condition(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
        "subject": {"reference": PATIENT},
    }
