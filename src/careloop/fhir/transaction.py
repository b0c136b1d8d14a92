"""POST /fhir: a referral transaction Bundle becomes one case through the referral
domain's intake use case (the same checks, duplicate detection, clocks, timeline and
audit as ``POST /api/v1/referrals``), answered with a ``transaction-response`` Bundle."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.pagination import PageRequest
from careloop.fhir import resources
from careloop.fhir.intake import REQUEST_TYPES, ReferralBundle
from careloop.fhir.outcome import FhirError, Issue, expression_for, outcome
from careloop.referral import service as referral_service
from careloop.referral import views as referral_views
from careloop.referral.idempotency import Submission
from careloop.referral.schemas import ReferralCreate, ReferralFilter, ReferralRead
from careloop.referral.views import CaseView
from careloop.web.body import depth_exceeds, keys_written_once, plainly_within

MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})


def read_json(body: bytes, content_type: str | None, *, max_depth: int) -> Any:
    """The body as JSON: 415 for another media type, 400 when it is not JSON or nests
    deeper than ``max_depth`` (the R4B models would recurse past Python's own limit)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise FhirError(
            415,
            [
                Issue(
                    "error",
                    "not-supported",
                    f"Send the Bundle as application/fhir+json, not {media or 'no media type'}.",
                )
            ],
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # also a text nested past 1,024 levels
        raise FhirError(
            400, [Issue("error", "structure", f"The body is not JSON: {str(exc)[:120]}")]
        ) from None
    if isinstance(data, dict | list) and plainly_within(body, data, max_depth):
        return data
    if depth_exceeds(data, max_depth):
        message = f"The JSON is nested deeper than {max_depth} levels."
        raise FhirError(400, [Issue("error", "structure", message, "Bundle")])
    if not keys_written_once(body, data):
        # Parsers keep the first or the last of the two; which one was meant is unknown.
        where = _repeated_key(body)
        message = f"{where.rpartition('.')[2]} is written twice in one object; send it once."
        raise FhirError(400, [Issue("error", "structure", message, where)])
    return data


#: Marks, in an object read by :func:`_keep_repeats`, the key it writes twice.
_REPEATED = object()


def _keep_repeats(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            out[_REPEATED] = key
        out[key] = value
    return out


def _repeated_key(body: bytes) -> str:
    """The FHIRPath of the first key found written twice in one object of the body."""
    stack: list[tuple[str, Any]] = [("Bundle", json.loads(body, object_pairs_hook=_keep_repeats))]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if _REPEATED in node:
                return f"{path}.{node[_REPEATED]}"
            stack.extend((f"{path}.{k}", v) for k, v in node.items() if isinstance(k, str))
        elif isinstance(node, list):
            stack.extend((f"{path}[{n}]", v) for n, v in enumerate(node))
    return "Bundle"


@dataclass(frozen=True, slots=True)
class Outcome:
    view: CaseView
    created: bool


#: Stores a referral (the caller, the draft, an Idempotency-Key) and answers as the JSON
#: API does: ``referral.service.submit_referral`` in this transaction, or the intake's
#: group commit (``referral.bulk.submit_many`` behind ``web.group``) in one of its own.
Submit = Callable[[Actor, ReferralCreate, str | None], Submission]


def submit_bundle(
    session: Session,
    actor: Actor,
    bundle: ReferralBundle,
    *,
    clock: Clock,
    idempotency_ttl: timedelta,
    submit: Submit | None = None,
) -> Outcome:
    """Create the case, or with ``ifNoneExist`` return the case the caller can already
    see with that order identifier. Two racing retries of one bundle by one caller meet
    on the referral domain's idempotency key, so they too give one case."""
    key = None
    if bundle.conditional is not None:
        system, value = bundle.conditional
        found, _ = referral_views.search_referrals(
            session, actor, ReferralFilter(external_id=value), PageRequest(limit=1), clock=clock
        )
        if found:
            return Outcome(found[0], created=False)
        key = f"fhir-if-none-exist:{system or ''}|{value}"[:200]
    if submit is not None:
        submission = submit(actor, bundle.draft, key)
    else:
        submission = referral_service.submit_referral(
            session,
            actor,
            bundle.draft,
            clock=clock,
            idempotency_key=key,
            idempotency_ttl=idempotency_ttl,
        )
    if submission.replayed:
        view = referral_views.view_referral(session, actor, submission.case_number, clock=clock)
        return Outcome(view, created=False)
    return created(submission)


def created(submission: Submission) -> Outcome:
    """The outcome of a bundle that created its case (the answer the case was stored with)."""
    return Outcome(CaseView(ReferralRead.model_validate_json(submission.body), None), True)


def response_bundle(bundle: ReferralBundle, result: Outcome, *, base: str) -> dict[str, Any]:
    """One response entry per request entry, in order, then the case's Task with the
    intake findings as warnings in its outcome."""
    case = result.view.read
    n = case.case_number
    status = "201 Created" if result.created else "200 OK"
    etag = f'W/"{resources.version_id(case)}"'
    entries: list[dict[str, Any]] = []
    conditions = 0
    lines = 0
    for entry in bundle.entries:
        location: str | None = None
        if entry.kind in ("Patient", "Coverage", "Practitioner"):
            location = f"{entry.kind}/{n}"
        elif entry.kind == "Condition":
            conditions += 1
            location = f"Condition/{resources.item_id(n, conditions)}"
        elif entry.kind in REQUEST_TYPES:
            lines += 1
            location = f"{entry.kind}/{resources.item_id(n, lines)}"
        if location is None:
            entries.append(
                {
                    "response": {
                        "status": "200 OK",
                        "outcome": outcome(
                            [
                                Issue(
                                    "information",
                                    "informational",
                                    f"The {entry.kind} is kept as part of the case, not as "
                                    "a resource of its own.",
                                )
                            ]
                        ),
                    }
                }
            )
            continue
        entries.append({"response": {"status": status, "location": location, "etag": etag}})
    warnings = [
        resources.finding_issue(f, expression_for(f.field, bundle.expressions))
        for f in case.findings
    ]
    task_outcome: dict[str, Any] = (
        {"resourceType": "OperationOutcome", "issue": warnings} if warnings else outcome([])
    )
    entries.append(
        {
            "fullUrl": f"{base}/Task/{n}",
            "resource": resources.task(result.view),
            "response": {
                "status": status,
                "location": f"Task/{n}",
                "etag": etag,
                "lastModified": case.updated_at.isoformat().replace("+00:00", "Z"),
                "outcome": task_outcome,
            },
        }
    )
    return resources.emit_bundle(
        {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    )
