"""The HTML portal at ``/``: staff console, referral form, referrer, provider and member
pages (DESIGN.md §4). Server-rendered Jinja2 over the same services as the JSON API;
htmx (installed from the npm registry by ``make``) for small interactions, each page
working without JavaScript too."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from careloop.portal import (
    cases,
    contacts,
    escalations,
    intake,
    member,
    provider,
    referrer,
    signin,
    staff,
)
from careloop.portal.security import SecurityHeadersMiddleware
from careloop.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the pages, their static files and the security headers on ``app``."""
    for module in (signin, staff, cases, contacts, escalations, intake, referrer, provider, member):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
