"""FHIR R4 routes under ``/fhir`` (thin: parse, call one operation, answer FHIR JSON).

Authentication and organisation scoping are the JSON API's (bearer token, one
transaction per request); every error is an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.dates import judged_at
from careloop.core.errors import DomainError
from careloop.fhir import capability, intake, read, search, transaction
from careloop.fhir.outcome import FhirError, FhirResponse, from_domain_error, outcome_response
from careloop.identity.permissions import may, require
from careloop.referral import bulk, refusals
from careloop.referral.api import Intake
from careloop.referral.idempotency import Submission
from careloop.referral.schemas import ReferralCreate
from careloop.settings import Settings
from careloop.web.routes import REFUSED_STATUSES, refuse
from careloop.web.transaction import Credentials, cached_actor, clock_of, use_case

router = APIRouter(prefix="/fhir", tags=["fhir"])

# A FHIR resource in JSON; its shape is the resource type's (https://hl7.org/fhir/R4/).
#: The issues of a refused Bundle that say why (warnings do not refuse it).
_ERRORS_ONLY = frozenset({"error", "fatal"})
_RESOURCE = {
    "type": "object",
    "properties": {"resourceType": {"type": "string"}},
    "required": ["resourceType"],
}
_FHIR: dict[str, Any] = {"content": {"application/fhir+json": {"schema": _RESOURCE}}}
_OUTCOME = {"description": "OperationOutcome", **_FHIR}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token", **_FHIR},
    403: {"description": "The token's role may not do this", **_FHIR},
    422: {"description": "A parameter holds characters no text may hold", **_FHIR},
    404: {"description": "No such resource, or not yours to see", **_FHIR},
}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + router.prefix


async def _answer(
    call: Callable[[], Awaitable[Any]],
    status: int = 200,
    expressions: Any = None,
    headers: Callable[[Any], dict[str, str]] | None = None,
) -> Response:
    try:
        content = await call()
        return FhirResponse(content, status_code=status, headers=headers and headers(content))
    except FhirError as exc:
        return outcome_response(exc.status, exc.issues)
    except DomainError as exc:
        error = from_domain_error(exc, expressions)
        return outcome_response(error.status, error.issues)


def _grouped(
    request: Request, session: Session, actor: Actor, draft: ReferralCreate, key: str | None
) -> Submission:
    """Store the referral with the submissions that arrive meanwhile, through the JSON
    API's group commit (``referral.api.intake_group``). This request's transaction has
    only read (the caller, an ``ifNoneExist`` search): it ends now, so that the group
    may write (SQLite has one writer)."""
    session.commit()
    group: Intake = request.app.state.intake
    return group.run(bulk.SubmitRequest(actor, draft, key))


def _parsed_on_loop(
    request: Request, credentials: Credentials, body: bytes
) -> tuple[Actor, intake.ReferralBundle] | None:
    """The caller and its bundle, read on the event loop (``web.routes.parsed_on_loop``):
    when the caller's token is in the cache, it may refer, and the bundle is a good one.
    Otherwise None: the worker-thread path answers, and records a refusal, as always."""
    actor = cached_actor(request, credentials)
    if actor is None or not may(actor, "referral:create"):
        return None
    try:
        with judged_at(clock_of(request).now()):
            data = transaction.read_json(
                body,
                request.headers.get("content-type"),
                max_depth=request.app.state.settings.max_json_depth,
            )
            bundle = intake.parse_bundle(data, body)
    except (FhirError, DomainError):
        return None
    return actor, bundle


@router.get(
    "/metadata",
    summary="CapabilityStatement (FHIR 4.0.1)",
    response_class=FhirResponse,
    responses={200: {"description": "CapabilityStatement", **_FHIR}},
)
async def metadata() -> Response:
    return FhirResponse(capability.capability_statement())


@router.post(
    "",
    summary="Create a case from a referral transaction Bundle",
    description=(
        "A transaction Bundle of Patient, Coverage, Practitioner (NPI), optional "
        "Organization / PractitionerRole, Conditions (ICD-10-CM) and a ServiceRequest or "
        "DeviceRequest (HCPCS or CPT) creates one case. An invalid entry rejects the whole "
        "bundle (422 OperationOutcome naming each bad field's FHIRPath); the intake "
        "findings come back as warnings on the Task entry. `ifNoneExist` on the request's "
        "identifier makes a retry return the same case."
    ),
    response_class=FhirResponse,
    responses={
        200: {"description": "transaction-response Bundle", **_FHIR},
        400: {"description": "Not JSON, or not a Bundle", **_FHIR},
        415: {"description": "Not application/fhir+json or application/json", **_FHIR},
        **_ERRORS,
        422: {"description": "Invalid entries, each named; nothing stored", **_FHIR},
    },
)
@router.post("/", include_in_schema=False)
async def transaction_bundle(request: Request, credentials: Credentials) -> Response:
    body = await request.body()
    settings: Settings = request.app.state.settings
    clock = clock_of(request)
    base = _base(request)
    parsed: list[intake.ReferralBundle] = []

    def refused(session: Session, actor: Actor, exc: DomainError) -> None:
        reasons = refusals.reasons_of_error(exc)
        refusals.record(session, actor, "fhir", reasons, clock=clock, rolled_back=True)

    known = _parsed_on_loop(request, credentials, body)
    if known is not None and known[1].conditional is None:
        actor, bundle = known
        # The usual case under load: a known caller's good bundle, no ifNoneExist. It
        # waits for its group on the event loop, as the JSON API's referrals do.
        group: Intake = request.app.state.intake
        try:
            try:
                submission = await group.submit(bulk.SubmitRequest(actor, bundle.draft, None))
            except DomainError as exc:
                await refuse(request, credentials, exc, refused)
        except DomainError as exc:
            error = from_domain_error(exc, bundle.expressions)
            return outcome_response(error.status, error.issues)
        return FhirResponse(
            transaction.response_bundle(bundle, transaction.created(submission), base=base)
        )
    if known is not None:  # ifNoneExist searches the database first: on a worker thread
        parsed.append(known[1])

    def work(session: Session, actor: Actor) -> dict[str, Any]:
        # A caller who may not refer learns nothing about its body (403 first).
        require(actor, "referral:create")
        try:
            if not parsed:  # not read on the event loop (or refused there): read it now
                data = transaction.read_json(
                    body,
                    request.headers.get("content-type"),
                    max_depth=settings.max_json_depth,
                )
                parsed.append(intake.parse_bundle(data, body))
            bundle = parsed[0]
            result = transaction.submit_bundle(
                session,
                actor,
                bundle,
                clock=clock,
                idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
                submit=partial(_grouped, request, session),
            )
        except FhirError as exc:  # what the Bundle is: not JSON, not a referral
            if exc.status in REFUSED_STATUSES:
                reasons = refusals.reasons_of_fhir(
                    [(i.code, i.expression) for i in exc.issues if i.severity in _ERRORS_ONLY]
                )
                refusals.record(session, actor, "fhir", reasons, clock=clock, rolled_back=True)
            raise
        except DomainError as exc:  # the referral it carries breaks a rule
            if exc.status in REFUSED_STATUSES:
                refused(session, actor, exc)
            raise
        return transaction.response_bundle(bundle, result, base=base)

    try:
        return FhirResponse(await use_case(request, credentials, work))
    except FhirError as exc:
        return outcome_response(exc.status, exc.issues)
    except DomainError as exc:
        error = from_domain_error(exc, parsed[0].expressions if parsed else None)
        return outcome_response(error.status, error.issues)


@router.get(
    "/Task",
    summary="Search Tasks (_id, patient, status, identifier, _lastUpdated, _count, _offset)",
    response_class=FhirResponse,
    responses={200: {"description": "searchset Bundle", **_FHIR}, 400: _OUTCOME, **_ERRORS},
)
async def search_tasks(request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    base = _base(request)
    params = list(request.query_params.multi_items())
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")

    async def call() -> dict[str, Any]:
        return await use_case(
            request,
            credentials,
            lambda session, actor: search.search_tasks(
                session, actor, search.parse_query(params, strict=strict), clock=clock, base=base
            ),
        )

    return await _answer(call)


@router.get(
    "/{resource_type}/{resource_id}",
    summary="Read a Task, Patient, Coverage, Practitioner, Condition, ServiceRequest or "
    "DeviceRequest",
    response_class=FhirResponse,
    responses={200: {"description": "The resource", **_FHIR}, **_ERRORS},
)
async def read_resource(
    resource_type: str, resource_id: str, request: Request, credentials: Credentials
) -> Response:
    clock = clock_of(request)

    async def call() -> dict[str, Any]:
        return await use_case(
            request,
            credentials,
            lambda session, actor: read.read_resource(
                session, actor, resource_type, resource_id, clock=clock
            ),
        )

    return await _answer(call, headers=_version_headers)


def _version_headers(resource: dict[str, Any]) -> dict[str, str]:
    """FHIR R4 read: the resource's version as its ETag, its last change as Last-Modified."""
    meta = resource["meta"]
    changed = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
    return {
        "ETag": f'W/"{meta["versionId"]}"',
        "Last-Modified": format_datetime(changed, usegmt=True),
    }
