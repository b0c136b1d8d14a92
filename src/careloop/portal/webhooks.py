"""The webhooks page for an organisation's admins (and the coordination centre's
supervisors): each receiver, what it hears about, whether it is working, and, when it
was paused after repeated failures, why, in words, with a button to resume it.
Registering one is done through the API (``POST /api/v1/webhooks``), which shows the
signing secret once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from careloop.portal.web import Page, PageContext, Redirect, page, read_form
from careloop.webhook import EVENT_LABELS, SubscriptionStatus, WebhookRead
from careloop.webhook import service as webhook_service

router = APIRouter(include_in_schema=False)

WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _view(hook: WebhookRead) -> dict[str, Any]:
    paused = hook.status is SubscriptionStatus.paused
    return {
        "id": hook.id,
        "url": hook.url,
        "description": hook.description,
        "hears": [EVENT_LABELS[e] for e in hook.events],
        "paused": paused,
        "state": "Paused" if paused else "Working",
        "pause_reason": hook.pause_reason,
        "paused_at": hook.paused_at,
        "failures": hook.consecutive_failures,
        "last_success_at": hook.last_success_at,
        "last_failure_at": hook.last_failure_at,
    }


@router.get("/webhooks")
async def webhooks(request: Request) -> Response:
    def work(ctx: PageContext) -> Page:
        hooks = webhook_service.list_subscriptions(ctx.session, ctx.actor)
        return Page("webhooks/list.html", {"hooks": [_view(h) for h in hooks.items]})

    return await page(request, work)


@router.post("/webhooks/{webhook_id}/resume")
async def resume(request: Request, webhook_id: WebhookId) -> Response:
    form = await read_form(request)

    def work(ctx: PageContext) -> Redirect:
        webhook_service.resume_subscription(ctx.session, ctx.actor, webhook_id, clock=ctx.clock)
        return Redirect("/webhooks")

    return await page(request, work, form=form)
