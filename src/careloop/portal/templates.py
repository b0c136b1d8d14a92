"""The Jinja2 environment of the portal: autoescaped templates, the display filters
(times in a named zone, durations, plain-language statuses) and the values every page
gets (who is signed in, their navigation, the CSRF token)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

from fastapi import Request
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from careloop.core.actor import STAFF_ROLES, Role
from careloop.identity.service import PortalPrincipal
from careloop.portal import formlabels, presenters
from careloop.settings import Settings
from careloop.web.transaction import clock_of
from careloop.workqueue.rules import due_text


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("careloop.portal", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["day"] = day
    env.filters["iso"] = iso
    env.filters["status_words"] = presenters.status_words
    env.filters["words"] = presenters.words
    env.filters["relative"] = relative
    env.filters["window"] = presenters.window_words
    env.filters["event_words"] = event_words
    env.filters["rule_words"] = presenters.rule_words
    env.filters["language"] = presenters.language_words
    env.filters["field_words"] = presenters.field_words
    env.filters["requested_by"] = presenters.requested_by_words
    env.filters["decided_by"] = presenters.decided_by_words
    env.filters["done_by"] = presenters.done_by_words
    env.globals["form_labels"] = formlabels.form_labels
    return env


def event_words(event: Any, zone: str) -> tuple[str, list[tuple[str, str]]]:
    """A timeline event (``type`` and ``data``) as a sentence and its plain details."""
    return presenters.event_words(event.type, dict(event.data), zone)


def render(template: str, values: dict[str, Any]) -> str:
    return environment().get_template(template).render(values)


def when(value: datetime | None, zone: str) -> str:
    """``Tue 24 Nov 2026, 09:00 EST``: the instant in the zone the reader works in."""
    if value is None:
        return "—"
    return presenters.instant_words(value, zone)


def day(value: date | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%a %d %b %Y")


def iso(value: datetime) -> str:
    """Machine-readable instant for <time datetime> and the countdown script."""
    return value.isoformat()


def relative(value: datetime, now: datetime) -> str:
    """``due in 45 min`` / ``2 h 10 min late`` (the work queue's wording)."""
    return due_text(now, value)


def navigation(role: Role) -> list[tuple[str, str]]:
    """(label, path) of the pages a role uses, in the order they use them."""
    if role in STAFF_ROLES:
        pages = [
            ("Work queue", "/staff"),
            ("Find a case", "/staff/search"),
            ("New referral", "/referrals/new"),
            ("Figures", "/staff/figures"),
            ("Reports", "/staff/reports"),
        ]
        if role is not Role.clinical_reviewer:
            pages.append(("Faxed orders", "/faxes"))
        # Supervisors look after the coordination centre's webhooks.
        if role is Role.supervisor:
            pages.append(("Webhooks", "/webhooks"))
        return pages
    if role is Role.referring_clinician:
        return [("Our referrals", "/referrer"), ("New referral", "/referrals/new")]
    if role is Role.provider_staff:
        return [("Offers and cases", "/provider")]
    if role is Role.member:
        return [("My case", "/member")]
    if role is Role.admin:
        return [("Webhooks", "/webhooks")]
    return []


def base_values(
    request: Request, principal: PortalPrincipal | None, settings: Settings
) -> dict[str, Any]:
    signed_in = principal is not None and principal.complete
    return {
        "path": request.url.path,
        "user": principal.actor if signed_in and principal else None,
        "csrf_token": principal.csrf_token if principal else "",
        "partial_session": principal is not None and not principal.complete,
        "nav": navigation(principal.actor.role) if signed_in and principal else [],
        "zone": settings.display_time_zone,
        "demo": settings.environment == "demo",
        "now": clock_of(request).now(),
    }
