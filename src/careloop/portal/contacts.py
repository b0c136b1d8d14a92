"""Contacts and notes on the case page (DOMAIN.md §9, the call script).

"Log a contact" opens a panel whose form carries ``started_at`` as the server set it
when the panel was rendered: the timer starts when the agent opens it (loaded by htmx
when the panel is opened, or as a page of its own without JavaScript; no inline
script). ``ended_at`` is the time of submit unless typed. The notes form offers internal
or shared with the referrer. Both call the services the API calls; a refusal comes back
beside the fields (422), nothing written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from careloop.core.errors import RuleViolationError
from careloop.identity.permissions import may
from careloop.interaction import service as interaction_service
from careloop.interaction.rules import (
    ContactKind,
    ContactOutcome,
    ContactReason,
    Direction,
    NoteVisibility,
    PartyKind,
    address_problems,
    kind_words,
    party_words,
    reason_words,
    time_problems,
)
from careloop.interaction.schemas import ContactCreate, NoteCreate
from careloop.portal import forms
from careloop.portal.web import Form, Page, PageContext, Redirect, form_text_error, page, read_form
from careloop.referral import service as referral_service

router = APIRouter(include_in_schema=False)

CaseNumber = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]

#: The contact form's inputs, named as the API's fields.
CONTACT_INPUTS = (
    "started_at",
    "ended_at",
    "kind",
    "direction",
    "party.kind",
    "party.name",
    "party.organization",
    "party.phone",
    "party.email",
    "reason",
    "summary",
    "case_number_given",
    "agent_name_given",
    "outcome",
    "follow_up_due_at",
)
_LOCAL_TIMES = ("ended_at", "follow_up_due_at")
_CHECKBOXES = ("case_number_given", "agent_name_given")


def choices() -> dict[str, Any]:
    """The coded lists with their plain words (no codes on screen)."""
    return {
        "kinds": [(k.value, kind_words(k)) for k in ContactKind],
        "directions": [("inbound", "They contacted us"), ("outbound", "We contacted them")],
        "parties": [(p.value, party_words(p).capitalize()) for p in PartyKind],
        "reasons": [(r.value, reason_words(r).capitalize()) for r in ContactReason],
        "outcomes": [("resolved", "Resolved on this contact"), ("follow_up", "Needs a follow-up")],
    }


def contact_body(form: Form, zone: str) -> tuple[ContactCreate | None, dict[str, str]]:
    """The API's request from the panel's inputs; times typed in the member's zone."""
    data: dict[str, Any] = {}
    for name in CONTACT_INPUTS:
        value = form.get(name, "").strip()
        if name in _CHECKBOXES:
            data[name] = value == "yes"
            continue
        if not value:
            continue
        if name in _LOCAL_TIMES:
            value = _local(value, zone)
        node = data
        parts = name.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return forms.validate(ContactCreate, forms.ParsedForm(data))


def _local(value: str, zone: str) -> str:
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value
    if naive.tzinfo is not None:
        return naive.isoformat()
    return naive.replace(tzinfo=ZoneInfo(zone)).isoformat()


def _panel_values(ctx: PageContext, case_number: str, form: Mapping[str, str]) -> dict[str, Any]:
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    values = dict(form)
    # The timer starts now, as the server renders the panel.
    values.setdefault("started_at", ctx.clock.now().isoformat())
    values.setdefault("direction", Direction.inbound.value)
    values.setdefault("kind", ContactKind.call.value)
    values.setdefault("outcome", ContactOutcome.resolved.value)
    return {
        "case": case,
        "form": values,
        "errors": {},
        "staff": ctx.actor.is_staff,
        "started": _instant(values["started_at"]),
        "note_only": False,
        **choices(),
    }


def refusal(prefix: str, errors: dict[str, str]) -> dict[str, Any]:
    """The messages beside the fields, and the summary above the form that names each
    field by its label (macros.html ``refused``)."""
    problem = {
        "prefix": prefix,
        "title": "Some fields need attention",
        "detail": "",
        "messages": list(errors.items()),
        "conflict": False,
        "allowed": [],
    }
    return {"errors": errors, "problem": problem}


def _instant(value: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


@router.get("/cases/{case_number}/contact")
async def contact_panel(request: Request, case_number: CaseNumber) -> Response:
    """The panel (an htmx fragment when the case page opens it; a page otherwise)."""
    fragment = bool(request.headers.get("hx-request"))

    def work(ctx: PageContext) -> Page:
        values = _panel_values(ctx, case_number.upper(), {})
        return Page("cases/_contact_form.html" if fragment else "cases/contact.html", values)

    return await page(request, work)


@router.post("/cases/{case_number}/contacts")
async def log_contact(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def work(ctx: PageContext) -> Page | Redirect:
        values = _panel_values(ctx, cn, form)
        body, errors = contact_body(form, values["case"].time_zone)
        if (unclean := form_text_error(form)) is not None:
            body, errors = None, {**errors, **{e.field: e.message for e in unclean.errors}}
        if body is not None:
            try:
                with ctx.session.begin_nested():
                    interaction_service.log_contact(
                        ctx.session, ctx.actor, body, clock=ctx.clock, case_number=cn
                    )
                return Redirect(f"/cases/{cn}?done=contact")
            except RuleViolationError as exc:
                errors = {e.field: e.message for e in exc.errors}
        return Page("cases/contact.html", {**values, **refusal("contact", errors)}, status=422)

    return await page(request, work, form=form, checks_text=True)


@router.post("/cases/{case_number}/notes")
async def add_note(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def work(ctx: PageContext) -> Page | Redirect:
        data = {"text": form.get("text", ""), "visibility": form.get("visibility", "internal")}
        if not ctx.actor.is_staff:
            data["visibility"] = NoteVisibility.shared.value
        body, errors = forms.validate(NoteCreate, forms.ParsedForm(data))
        if (unclean := form_text_error(form)) is not None:
            body, errors = None, {**errors, **{e.field: e.message for e in unclean.errors}}
        if body is not None:
            interaction_service.add_note(ctx.session, ctx.actor, cn, body, clock=ctx.clock)
            return Redirect(f"/cases/{cn}?done=note#notes-title")
        case = referral_service.get_referral(ctx.session, ctx.actor, cn, clock=ctx.clock)
        values = {
            "case": case,
            "form": dict(form),
            **refusal("note", errors),
            "note_only": True,
            "staff": ctx.actor.is_staff,
        }
        return Page("cases/contact.html", {**values, **choices()}, status=422)

    return await page(request, work, form=form, checks_text=True)


def notes_of(ctx: PageContext, case_number: str) -> list[Any]:
    """The case's notes this actor may read (none for roles without notes)."""
    if not may(ctx.actor, "note:read"):
        return []
    return interaction_service.list_notes(
        ctx.session, ctx.actor, case_number, clock=ctx.clock
    ).items


# ---- the caller on the staff intake form -------------------------------------------------------

#: How the order came in, as the kind of contact it was.
_KIND_OF_CHANNEL = {
    "phone": ContactKind.call,
    "fax": ContactKind.fax,
    "email": ContactKind.email,
    "portal": ContactKind.portal_message,
}


def caller_values(ctx: PageContext) -> dict[str, Any]:
    """What the intake form's caller inputs need: the timer (set as the form is shown)
    and the party kinds in plain words."""
    return {
        "caller_started": ctx.clock.now().isoformat(),
        "caller_kinds": [p.value for p in PartyKind],
        "caller_labels": {p.value: party_words(p).capitalize() for p in PartyKind},
    }


def caller_contact(
    form: Form, channel: str, now: datetime
) -> tuple[ContactCreate | None, dict[str, str]]:
    """The inbound contact the intake agent is taking, from the form's ``caller.*``
    inputs (None when no caller is named); errors keyed by those inputs."""
    name = form.get("caller.name", "").strip()
    if not name:
        return None, {}
    data: dict[str, Any] = {
        "kind": _KIND_OF_CHANNEL.get(channel, ContactKind.call).value,
        "direction": Direction.inbound.value,
        "party": {"kind": form.get("caller.kind") or PartyKind.referrer.value, "name": name},
        "reason": ContactReason.other.value,
        "summary": "New referral taken",
        "started_at": form.get("caller.started_at", ""),
        "agent_name_given": form.get("caller.agent_name_given") == "yes",
        "outcome": ContactOutcome.resolved.value,
    }
    for part in ("organization", "phone"):
        value = form.get(f"caller.{part}", "").strip()
        if value:
            data["party"][part] = value
    body, errors = forms.validate(ContactCreate, forms.ParsedForm(data))
    if body is not None:
        started = body.started_at.astimezone(now.tzinfo)
        problems = [*time_problems(started, now, now), *address_problems(body.party.phone, None)]
        errors = {e.field: e.message for e in problems}
    renamed = {_caller_input(k): v for k, v in errors.items()}
    return (body if not renamed else None), renamed


def _caller_input(field: str) -> str:
    """``party.phone`` → ``caller.phone``; ``started_at`` → ``caller.started_at``."""
    return f"caller.{field.removeprefix('party.')}"
