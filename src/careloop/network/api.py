"""JSON routes of the provider network (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from careloop.network import service
from careloop.network.schemas import (
    PROVIDER_EXAMPLE,
    CredentialIn,
    NetworkIn,
    ProviderCreate,
    ProviderPage,
    ProviderRead,
)
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix="/api/v1/providers", tags=["providers"])

ProviderId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The provider's id")]

_ONE = {**COMMON, 404: {"description": "No such provider, or not yours to see", **PROBLEM}}


@router.post(
    "",
    status_code=201,
    response_model=ProviderRead,
    summary="Onboard a provider organisation",
    description=(
        "Adds a DME supplier, home-health agency or infusion pharmacy with its service "
        "lines, service area, payer networks and fee schedules, and credentials. The NPI "
        "check digit, the EIN prefix and the NUCC taxonomy format are verified (422 when "
        "wrong); what is missing shows on the onboarding checklist, and the provider is "
        "offered work only while the checklist is complete and nothing has expired."
    ),
    responses={**COMMON, **BODY, 409: {"description": "NPI already in the network", **PROBLEM}},
    openapi_extra=json_body(ProviderCreate, PROVIDER_EXAMPLE),
)
async def onboard_provider(request: Request, credentials: Credentials) -> ProviderRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        ProviderCreate,
        lambda session, actor, body: service.onboard_provider(session, actor, body, clock=clock),
        permission="provider:manage",
    )


@router.get("", response_model=ProviderPage, summary="List providers", responses=COMMON)
def list_providers(
    request: Request,
    credentials: Credentials,
    offerable_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProviderPage:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_providers(
            session, actor, limit=limit, offset=offset, offerable_only=offerable_only, clock=clock
        ),
    )


@router.get(
    "/{provider_id}",
    response_model=ProviderRead,
    summary="A provider with its onboarding checklist",
    responses=_ONE,
)
def get_provider(
    provider_id: ProviderId, request: Request, credentials: Credentials
) -> ProviderRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_provider(session, actor, provider_id, clock=clock),
    )


def _post(model: type[Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"responses": {**_ONE, **BODY}, "openapi_extra": json_body(model, example)}


@router.post(
    "/{provider_id}/credentials",
    response_model=ProviderRead,
    summary="Record a credential (licence, W-9, CAQH, accreditation, insurance)",
    **_post(
        CredentialIn,
        {"kind": "liability_insurance", "identifier": "POL-22871", "expires_on": "2027-03-31"},
    ),
)
async def add_credential(
    provider_id: ProviderId, request: Request, credentials: Credentials
) -> ProviderRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        CredentialIn,
        lambda session, actor, body: service.add_credential(
            session, actor, provider_id, body, clock=clock
        ),
        permission="provider:manage",
    )


@router.post(
    "/{provider_id}/networks",
    response_model=ProviderRead,
    summary="Join a payer network, with its fee schedule",
    **_post(
        NetworkIn,
        {
            "payer_id": "NEHP",
            "effective_from": "2026-01-01",
            "fee_schedule": [{"code": "E0260", "mode": "rental", "allowed_amount": "142.00"}],
        },
    ),
)
async def add_network(
    provider_id: ProviderId, request: Request, credentials: Credentials
) -> ProviderRead:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        NetworkIn,
        lambda session, actor, body: service.add_network(
            session, actor, provider_id, body, clock=clock
        ),
        permission="provider:manage",
    )


REQUEST_MODELS = (ProviderCreate, CredentialIn, NetworkIn)
