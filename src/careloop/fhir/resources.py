"""Mappers from a case to the FHIR R4 resources it is read as.

Every resource is built from the case on read, with ids derived from the case number:
``Task/CL-2026-000123``, ``Patient/CL-2026-000123``, ``Coverage/…``, ``Practitioner/…``,
``Condition/CL-2026-000123-1`` (diagnosis 1), ``ServiceRequest/CL-2026-000123-1`` or
``DeviceRequest/CL-2026-000123-1`` (item line 1). Each passes through :func:`emit`, which
validates it against the ``fhir.resources`` R4B model of its type.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from careloop.fhir import codes
from careloop.fhir.shapes import SHAPES
from careloop.referral.enums import CodeSystem, ReferralStatus, Severity
from careloop.referral.schemas import FindingRead, ItemRead, ReferralRead
from careloop.referral.views import CaseView

#: The resource types a case is read as (GET /fhir/{type}/{id}).
READABLE = (
    "Task",
    "Patient",
    "Coverage",
    "Practitioner",
    "Condition",
    "ServiceRequest",
    "DeviceRequest",
)

# Case status -> FHIR Task.status (http://hl7.org/fhir/task-status); the case status
# itself rides in businessStatus.
TASK_STATUS: dict[ReferralStatus, str] = {
    ReferralStatus.received: "received",
    ReferralStatus.needs_clarification: "on-hold",
    ReferralStatus.acknowledged: "in-progress",
    ReferralStatus.eligibility_verified: "in-progress",
    ReferralStatus.authorization_pending: "in-progress",
    ReferralStatus.authorized: "in-progress",
    ReferralStatus.denied: "on-hold",
    ReferralStatus.offered: "in-progress",
    ReferralStatus.accepted: "accepted",
    ReferralStatus.unplaced: "on-hold",
    ReferralStatus.scheduled: "in-progress",
    ReferralStatus.missed: "in-progress",
    ReferralStatus.fulfilled: "completed",
    ReferralStatus.closed: "completed",
    ReferralStatus.cancelled: "cancelled",
}

STATUS_LABEL: dict[ReferralStatus, str] = {
    ReferralStatus.received: "Received",
    ReferralStatus.needs_clarification: "Needs clarification",
    ReferralStatus.acknowledged: "Acknowledged",
    ReferralStatus.eligibility_verified: "Eligibility verified",
    ReferralStatus.authorization_pending: "Prior authorization pending",
    ReferralStatus.authorized: "Authorized",
    ReferralStatus.denied: "Denied",
    ReferralStatus.offered: "Offered to a provider",
    ReferralStatus.accepted: "Accepted by a provider",
    ReferralStatus.unplaced: "No provider found",
    ReferralStatus.scheduled: "Scheduled",
    ReferralStatus.missed: "Visit or delivery missed",
    ReferralStatus.fulfilled: "Fulfilled",
    ReferralStatus.closed: "Closed",
    ReferralStatus.cancelled: "Cancelled",
}

_URGENCY_PRIORITY = {"routine": "routine", "urgent": "urgent", "discharge": "asap"}


def emit(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once its R4B model accepts it (a failure is a bug: 500)."""
    SHAPES.validate(get_fhir_model_class(resource["resourceType"]), resource)
    return resource


def emit_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """A Bundle whose entries' resources each came from :func:`emit`: the Bundle itself
    (its type, total, links, each entry's request, response and outcome) is checked by
    its R4B model without checking those resources a second time."""
    shell = (
        {
            **bundle,
            "entry": [
                {k: v for k, v in entry.items() if k != "resource"} for entry in bundle["entry"]
            ],
        }
        if "entry" in bundle
        else bundle
    )
    SHAPES.validate(get_fhir_model_class("Bundle"), shell)
    return bundle


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def version_id(case: ReferralRead) -> str:
    """The version of the case's resources: it changes whenever the case does (FHIR
    R4 Meta.versionId), taken from the moment it last changed, in microseconds. It was
    "1" for ever, so a client comparing versions never saw a Task move."""
    return str(int(case.updated_at.timestamp() * 1_000_000))


def _meta(case: ReferralRead) -> dict[str, Any]:
    return {"versionId": version_id(case), "lastUpdated": _instant(case.updated_at)}


def _ref(kind: str, ident: str, display: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": f"{kind}/{ident}"}
    if display:
        out["display"] = display
    return out


def item_id(case_number: str, line: int) -> str:
    return f"{case_number}-{line}"


def item_type(item: ItemRead) -> str:
    return codes.request_type(item.code, CodeSystem(item.code_system))


def business_status(case: ReferralRead) -> dict[str, Any]:
    label = STATUS_LABEL[case.status]
    errors = sum(1 for f in case.findings if f.severity is Severity.error)
    text = label if not errors else f"{label}: {errors} item(s) to fix"
    return {
        "coding": [{"system": codes.CASE_STATUS, "code": case.status.value, "display": label}],
        "text": text,
    }


def task(view: CaseView) -> dict[str, Any]:
    """The case's progress as a Task: status and businessStatus from the case status,
    owner the accepted provider, restriction.period.end the service deadline."""
    case = view.read
    n = case.case_number
    identifiers: list[dict[str, Any]] = [{"system": codes.CASE_NUMBER, "value": n}]
    if case.external_id:
        identifiers.append({"value": case.external_id})
    focus = [_ref(item_type(i), item_id(n, i.line)) for i in case.items]
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": n,
        "meta": _meta(case),
        "identifier": identifiers,
        "basedOn": focus,
        "status": TASK_STATUS[case.status],
        "businessStatus": business_status(case),
        "intent": "order",
        "priority": _URGENCY_PRIORITY[case.urgency.value],
        "code": {"text": "Coordinate home-based care"},
        "focus": focus[0],
        "for": _ref("Patient", n),
        "authoredOn": _instant(case.created_at),
        "lastModified": _instant(case.updated_at),
        "restriction": {"period": {"end": _instant(case.service_due_at)}},
    }
    if case.ordering_provider.npi or case.ordering_provider.name:
        resource["requester"] = _ref("Practitioner", n, case.ordering_provider.name)
    if view.provider is not None:
        resource["owner"] = {
            "identifier": {"system": codes.NPI, "value": view.provider.npi},
            "display": view.provider.name,
        }
    if case.cancel_reason:
        resource["statusReason"] = {"text": case.cancel_reason}
    return emit(resource)


def patient(view: CaseView) -> dict[str, Any]:
    case = view.read
    m = case.member
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": case.case_number,
        "meta": _meta(case),
        "name": [{"use": "official", "family": m.last_name, "given": [m.first_name]}],
        "birthDate": m.birth_date.isoformat(),
    }
    if m.sex:
        resource["gender"] = m.sex
    if m.hospital_mrn:
        resource["identifier"] = [
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": codes.IDENTIFIER_TYPE, "code": codes.MEDICAL_RECORD}]
                },
                "value": m.hospital_mrn.value,
                "assigner": {"display": m.hospital_mrn.assigning_authority},
            }
        ]
    if m.phone:
        resource["telecom"] = [{"system": "phone", "value": m.phone}]
    a = m.address
    address = {
        k: v
        for k, v in {
            "line": [x for x in (a.line1, a.line2) if x] or None,
            "city": a.city,
            "state": a.state,
            "postalCode": a.zip,
        }.items()
        if v
    }
    if address:
        resource["address"] = [address]
    if m.language:
        resource["communication"] = [{"language": {"coding": [{"code": m.language}]}}]
    return emit(resource)


def coverage(view: CaseView) -> dict[str, Any]:
    case = view.read
    c = case.coverage
    payor: dict[str, Any] = {"display": c.payer_name or c.payer_id or "Payer not named"}
    if c.payer_id:
        payor["identifier"] = {"system": codes.PAYER, "value": c.payer_id}
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": case.case_number,
        "meta": _meta(case),
        "status": "active",
        "beneficiary": _ref("Patient", case.case_number),
        "payor": [payor],
    }
    if c.member_id:
        resource["subscriberId"] = c.member_id
    if c.group_number:
        resource["class"] = [
            {
                "type": {"coding": [{"system": codes.COVERAGE_CLASS, "code": "group"}]},
                "value": c.group_number,
            }
        ]
    return emit(resource)


def practitioner(view: CaseView) -> dict[str, Any]:
    case = view.read
    p = case.ordering_provider
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": case.case_number,
        "meta": _meta(case),
    }
    if p.npi:
        resource["identifier"] = [{"system": codes.NPI, "value": p.npi}]
    if p.name:
        resource["name"] = [{"text": p.name}]
    telecom = [{"system": s, "value": v} for s, v in (("phone", p.phone), ("fax", p.fax)) if v]
    if telecom:
        resource["telecom"] = telecom
    return emit(resource)


def condition(view: CaseView, index: int) -> dict[str, Any]:
    case = view.read
    dx = case.diagnoses[index]
    coding: dict[str, Any] = {"system": codes.ICD10CM, "code": dx.code}
    if dx.description:
        coding["display"] = dx.description
    return emit(
        {
            "resourceType": "Condition",
            "id": item_id(case.case_number, index + 1),
            "meta": _meta(case),
            "code": {"coding": [coding]},
            "subject": _ref("Patient", case.case_number),
        }
    )


def _item_code(item: ItemRead) -> dict[str, Any]:
    coding: dict[str, Any] = {
        "system": codes.SYSTEM_URI[CodeSystem(item.code_system)],
        "code": item.code,
    }
    if item.catalog_description:
        coding["display"] = item.catalog_description
    out: dict[str, Any] = {"coding": [coding]}
    if item.description:
        out["text"] = item.description
    return out


def request(view: CaseView, line: int) -> dict[str, Any]:
    """Item ``line`` as the ServiceRequest or DeviceRequest it was ordered as."""
    case = view.read
    item = next(i for i in case.items if i.line == line)
    kind = item_type(item)
    n = case.case_number
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": item_id(n, line),
        "meta": _meta(case),
        "status": "active" if case.status not in _ENDED else "completed",
        "intent": "order",
        "subject": _ref("Patient", n),
        "priority": _URGENCY_PRIORITY[case.urgency.value],
    }
    if case.external_id:
        resource["identifier"] = [{"value": case.external_id}]
    if case.ordering_provider.npi or case.ordering_provider.name:
        resource["requester"] = _ref("Practitioner", n, case.ordering_provider.name)
    if case.signed_order:
        resource["authoredOn"] = case.signed_order.signed_on.isoformat()
    if case.coverage.payer_id or case.coverage.payer_name or case.coverage.member_id:
        resource["insurance"] = [_ref("Coverage", n)]
    reasons = [_ref("Condition", item_id(n, i + 1)) for i in range(len(case.diagnoses))]
    if kind == "DeviceRequest":
        resource["codeCodeableConcept"] = _item_code(item)
        resource["parameter"] = [
            {"code": {"text": "quantity"}, "valueQuantity": {"value": item.quantity}}
        ]
        if reasons:
            resource["reasonReference"] = reasons
    else:
        resource["code"] = _item_code(item)
        resource["quantityQuantity"] = {"value": item.quantity}
        if reasons:
            resource["reasonReference"] = reasons
        if item.frequency:
            resource["occurrenceTiming"] = {"code": {"text": item.frequency}}
    if case.requested_start and not item.frequency:
        resource["occurrencePeriod"] = {"start": case.requested_start.isoformat()}
    if case.notes:
        resource["note"] = [{"text": case.notes}]
    return emit(resource)


_ENDED = frozenset({ReferralStatus.fulfilled, ReferralStatus.closed, ReferralStatus.cancelled})


def finding_issue(finding: FindingRead, expression: str | None) -> dict[str, Any]:
    """An intake finding as an OperationOutcome warning (the case was still stored)."""
    issue: dict[str, Any] = {
        "severity": "warning",
        "code": "business-rule",
        "details": {
            "coding": [{"system": codes.FINDING, "code": finding.code}],
            "text": "Must be fixed before the case moves on"
            if finding.severity is Severity.error
            else "Worth checking",
        },
        "diagnostics": finding.message,
    }
    if expression:
        issue["expression"] = [expression]
    return issue


def _has(case: ReferralRead, kind: str) -> bool:
    if kind == "Coverage":
        c = case.coverage
        return bool(c.payer_id or c.payer_name or c.member_id)
    if kind == "Practitioner":
        return bool(case.ordering_provider.npi or case.ordering_provider.name)
    return True


def read_resource(view: CaseView, kind: str, ident: str) -> dict[str, Any] | None:
    """The resource ``kind/ident`` of the case, or None when the case has no such one."""
    n = view.read.case_number
    builders: dict[str, Callable[[CaseView], dict[str, Any]]] = {
        "Task": task,
        "Patient": patient,
        "Coverage": coverage,
        "Practitioner": practitioner,
    }
    if kind in builders:
        return builders[kind](view) if ident == n and _has(view.read, kind) else None
    suffix = ident[len(n) + 1 :] if ident.startswith(f"{n}-") else ""
    if not suffix.isdigit() or suffix.startswith("0"):
        return None  # one id per resource: -01 is not -1
    number = int(suffix)
    if kind == "Condition":
        return condition(view, number - 1) if 1 <= number <= len(view.read.diagnoses) else None
    item = next((i for i in view.read.items if i.line == number), None)
    if item is None or item_type(item) != kind:
        return None
    return request(view, number)
