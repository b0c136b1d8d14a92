"""GET /fhir/metadata: the CapabilityStatement of what ``/fhir`` does."""

from __future__ import annotations

from functools import cache
from typing import Any

from careloop import __version__
from careloop.fhir import resources
from careloop.fhir.search import INCLUDES

_READ_ONLY = ("Patient", "Coverage", "Practitioner", "Condition", "ServiceRequest", "DeviceRequest")

TASK_SEARCH = (
    ("_id", "token", "The Task's id, its case number (CL-2026-000123)"),
    ("patient", "reference", "The case's Patient (Patient/CL-2026-000123); comma for any of"),
    ("status", "token", "Task status (received, on-hold, in-progress, ...); comma for any of"),
    ("identifier", "token", "The case number, or the order's identifier at the source"),
    (
        "_lastUpdated",
        "date",
        "When the case last changed (eq, ge, gt, le, lt prefixes; a year, month, day, "
        "minute, second or fraction; no zone is UTC)",
    ),
)


@cache
def capability_statement() -> dict[str, Any]:
    task = {
        "type": "Task",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchInclude": list(INCLUDES),
        "searchParam": [
            {"name": name, "type": kind, "documentation": doc} for name, kind, doc in TASK_SEARCH
        ],
    }
    created = [
        {
            "type": kind,
            "interaction": [{"code": "read"}],
            "documentation": "Created by a referral transaction Bundle; read from its case.",
        }
        for kind in _READ_ONLY
    ]
    return resources.emit(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-03",
            "publisher": "CareLoop",
            "kind": "instance",
            "software": {"name": "CareLoop", "version": __version__},
            "implementation": {"description": "CareLoop FHIR R4 endpoint"},
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": (
                        "POST a transaction Bundle (Patient, Coverage, Practitioner, "
                        "Conditions, a ServiceRequest or DeviceRequest) to create a case; "
                        "follow it as a Task. Conditional create with ifNoneExist on the "
                        "request's identifier."
                    ),
                    "security": {
                        "description": "Authorization: Bearer <token> (careloop token issue)."
                    },
                    "resource": [task, *created],
                    "interaction": [{"code": "transaction"}],
                }
            ],
        }
    )
