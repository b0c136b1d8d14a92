"""OperationOutcome: how every error on ``/fhir`` is answered (STYLE.md §5), and the
FHIR JSON response type."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.responses import Response

from careloop.core.errors import DomainError

FHIR_JSON = "application/fhir+json"
CARELOOP_CODES = "https://careloop.org/fhir/CodeSystem/problem"

# HTTP status -> OperationOutcome issue type (http://hl7.org/fhir/issue-type).
_ISSUE_TYPE = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
}


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:  # what orjson does not write (an integer past 64 bits)
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str
    code: str
    diagnostics: str
    expression: str | None = None
    detail_code: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.detail_code:
            out["details"] = {"coding": [{"system": CARELOOP_CODES, "code": self.detail_code}]}
        if self.expression:
            out["expression"] = [self.expression]
        return out


@dataclass
class FhirError(Exception):
    """An error answered as an OperationOutcome with ``status``."""

    status: int
    issues: Sequence[Issue] = field(default_factory=list)


def outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    if not issues:
        issues = [Issue("information", "informational", "All OK")]
    return {"resourceType": "OperationOutcome", "issue": [i.as_dict() for i in issues]}


def outcome_response(status: int, issues: Sequence[Issue]) -> FhirResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return FhirResponse(outcome(issues), status_code=status, headers=headers)


def error(status: int, diagnostics: str, *, expression: str | None = None) -> FhirError:
    kind = _ISSUE_TYPE.get(status, "exception")
    return FhirError(status, [Issue("error", kind, diagnostics, expression)])


def from_domain_error(exc: DomainError, expressions: Mapping[str, str] | None = None) -> FhirError:
    """The domain error as an OperationOutcome; field paths of the JSON contract become
    the FHIRPath of the bundle element they came from, where ``expressions`` knows it."""
    kind = _ISSUE_TYPE.get(exc.status, "exception")
    known = expressions or {}
    if exc.errors:
        issues = [
            Issue("error", kind, e.message, expression_for(e.field, known), exc.code)
            for e in exc.errors
        ]
    else:
        where = expression_for(exc.field, known) if exc.field else None
        issues = [Issue("error", kind, exc.detail or exc.title, where, exc.code)]
    return FhirError(exc.status, issues)


def expression_for(field_path: str, expressions: Mapping[str, str]) -> str | None:
    """The FHIRPath for a dotted field of the JSON contract, or of its closest parent."""
    path = field_path
    while path:
        if path in expressions:
            return expressions[path]
        path = path.rpartition(".")[0]
    return None
