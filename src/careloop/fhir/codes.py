"""The code systems and identifier systems CareLoop reads and writes in FHIR, and which
request type (ServiceRequest or DeviceRequest) an item is."""

from __future__ import annotations

from careloop.codes import SupplyMode, lookup_hcpcs
from careloop.referral.enums import CodeSystem

NPI = "http://hl7.org/fhir/sid/us-npi"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
HCPCS = "https://bluebutton.cms.gov/resources/codesystem/hcpcs"  # as Da Vinci PAS writes it
CPT = "http://www.ama-assn.org/go/cpt"
CASE_NUMBER = "https://careloop.org/fhir/sid/case-number"
PAYER = "https://careloop.org/fhir/sid/payer"
CASE_STATUS = "https://careloop.org/fhir/CodeSystem/case-status"
FINDING = "https://careloop.org/fhir/CodeSystem/intake-finding"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
#: Identifier types (HL7 v2 table 0203): ``MR`` is a hospital's medical record number.
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
MEDICAL_RECORD = "MR"

#: Other spellings of the same code systems that EHRs send.
ITEM_SYSTEMS: dict[str, CodeSystem] = {
    HCPCS: CodeSystem.HCPCS,
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": CodeSystem.HCPCS,
    "urn:oid:2.16.840.1.113883.6.285": CodeSystem.HCPCS,
    CPT: CodeSystem.CPT,
    "urn:oid:2.16.840.1.113883.6.12": CodeSystem.CPT,
}
ICD10CM_SYSTEMS = frozenset({ICD10CM, "urn:oid:2.16.840.1.113883.6.90"})
SYSTEM_URI = {CodeSystem.HCPCS: HCPCS, CodeSystem.CPT: CPT}

# HCPCS Level II letters of things delivered to keep or rent: A supplies, B enteral,
# E durable equipment, K temporary DME codes, L orthotics and prosthetics (CMS HCPCS
# Level II code set structure). Visits, drugs and per-diem services are ServiceRequests.
_DEVICE_LETTERS = frozenset("ABEKL")


def request_type(code: str, system: CodeSystem) -> str:
    """``DeviceRequest`` for equipment and supplies (as in the Da Vinci PAS examples),
    ``ServiceRequest`` for visits, infusion services and every CPT code."""
    if system is not CodeSystem.HCPCS:
        return "ServiceRequest"
    entry = lookup_hcpcs(code)
    if entry is not None:
        return "ServiceRequest" if entry.supply_mode is SupplyMode.service else "DeviceRequest"
    return "DeviceRequest" if code[:1].upper() in _DEVICE_LETTERS else "ServiceRequest"
