"""The HTML portal at ``/``: staff console, referral form, referrer, provider and member
pages (DESIGN.md §4). Server-rendered Jinja2 over the same services as the JSON API;
htmx (installed from the npm registry by ``make``) for small interactions, each page
working without JavaScript too."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from careloop.fhir.outcome import from_domain_error, outcome_response
from careloop.portal import (
    cases,
    contacts,
    disputes,
    documents,
    escalations,
    faxes,
    intake,
    member,
    provider,
    referrer,
    reports,
    signin,
    staff,
    webhooks,
)
from careloop.portal.security import SecurityHeadersMiddleware
from careloop.portal.web import error_page
from careloop.settings import Settings
from careloop.web import problems
from careloop.web.params import UncleanParameterError

STATIC_DIR = Path(__file__).parent / "static"

#: The page paths whose POST bodies are file uploads (their own body limit).
UPLOAD_PATHS = documents.UPLOAD_PATHS + faxes.UPLOAD_PATHS


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the pages, their static files and the security headers on ``app``."""
    for module in (
        signin,
        staff,
        cases,
        contacts,
        escalations,
        disputes,
        documents,
        faxes,
        intake,
        referrer,
        provider,
        member,
        webhooks,
        reports,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.secure_cookies)
    app.add_exception_handler(UncleanParameterError, _unclean_parameter)


def _unclean_parameter(request: Request, exc: Exception) -> Response:
    """A page's URL with characters no text may hold: the error page (the JSON API keeps
    its problem+json, FHIR its OperationOutcome)."""
    assert isinstance(exc, UncleanParameterError)
    if request.url.path.startswith("/api/"):
        return problems.domain_error(request, exc)
    if request.url.path.startswith("/fhir"):
        fhir = from_domain_error(exc)
        return outcome_response(fhir.status, fhir.issues)
    return error_page(request, exc, None)
