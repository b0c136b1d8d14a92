"""JSON routes of webhooks (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from careloop.core.pagination import MAX_PAGE_SIZE, PageRequest
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case
from careloop.webhook import rules, service
from careloop.webhook.rules import DeliveryStatus
from careloop.webhook.schemas import (
    DeliveryList,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookRead,
)

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's id")]

_ONE = {**COMMON, 404: {"description": "No such webhook, or not your organisation's", **PROBLEM}}

DESCRIPTION = f"""
CareLoop POSTs each event to the URL as JSON, `{{"id", "type", "created_at", "data"}}`,
with three headers:

- `CareLoop-Signature: t=<unix seconds>,v1=<hex>`: HMAC-SHA256 keyed with the webhook's
  secret (UTF-8 bytes of the `whsec_...` string) over `<t>` + `.` + the raw body bytes.
  Recompute it over the body exactly as received, compare in constant time, and refuse
  a `t` more than {rules.SIGNATURE_TOLERANCE.seconds // 60} minutes from your clock.
- `CareLoop-Delivery`: the message id, the same on every retry: drop what you already handled.
- `CareLoop-Event`: the event type.

Answer 2xx within {rules.TIMEOUT.seconds} seconds. Anything else (or no answer, or a
redirect) is retried with growing pauses (from {rules.FIRST_BACKOFF.seconds} s, doubling,
at most {rules.MAX_BACKOFF.seconds // 3600} h; {rules.MAX_ATTEMPTS} attempts); after
{rules.PAUSE_AFTER_FAILURES} failed attempts in a row the webhook is paused with the
reason, until resumed. The URL must be https and resolve only to public internet addresses.
"""


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Register a receiver for your organisation's case events",
    description=DESCRIPTION + "\nThe answer holds the signing `secret`: it is shown only here.",
    responses={**COMMON, **BODY, 422: {"description": "Invalid fields, each named", **PROBLEM}},
    openapi_extra=json_body(
        WebhookCreate,
        {
            "url": "https://hooks.example.org/careloop",
            "events": ["case.status_changed", "case.scheduled"],
            "description": "Discharge planning board",
        },
    ),
)
async def create_webhook(request: Request, credentials: Credentials) -> WebhookCreated:
    clock = clock_of(request)
    return await with_body(
        request,
        credentials,
        WebhookCreate,
        lambda session, actor, body: service.create_subscription(session, actor, body, clock=clock),
        permission="webhook:manage",
    )


@router.get(
    "",
    response_model=WebhookList,
    summary="Your organisation's webhooks",
    responses=COMMON,
)
def list_webhooks(request: Request, credentials: Credentials) -> WebhookList:
    return run_use_case(request, credentials, service.list_subscriptions)


@router.get(
    "/{webhook_id}",
    response_model=WebhookRead,
    summary="One webhook, with why it is paused if it is",
    responses=_ONE,
)
def get_webhook(webhook_id: WebhookId, request: Request, credentials: Credentials) -> WebhookRead:
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_subscription(session, actor, webhook_id),
    )


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook and the messages still queued for it",
    responses=_ONE,
)
def delete_webhook(webhook_id: WebhookId, request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    run_use_case(
        request,
        credentials,
        lambda session, actor: service.delete_subscription(session, actor, webhook_id, clock=clock),
    )
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/resume",
    response_model=WebhookRead,
    summary="Resume a paused webhook; the messages that waited are sent",
    responses=_ONE,
)
def resume_webhook(
    webhook_id: WebhookId, request: Request, credentials: Credentials
) -> WebhookRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.resume_subscription(session, actor, webhook_id, clock=clock),
    )


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryList,
    summary="The messages of a webhook, newest first, with each attempt's outcome",
    responses=_ONE,
)
def list_deliveries(
    webhook_id: WebhookId,
    request: Request,
    credentials: Credentials,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DeliveryList:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.list_deliveries(
            session, actor, webhook_id, PageRequest(limit, offset), status=status, clock=clock
        ),
    )


#: Request models documented through ``openapi_extra``; app.py adds their schemas.
REQUEST_MODELS = (WebhookCreate,)
