"""The HTML portal at ``/``: staff console, referral form, referrer, provider and member
pages (DESIGN.md §4). Server-rendered Jinja2 over the same services as the JSON API;
htmx (installed from the npm registry by ``make``) for small interactions, each page
working without JavaScript too."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from careloop.core.errors import FieldError
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
from careloop.portal.web import Page, error_page, render, wants_page
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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)


#: What a browser reads for an address the portal cannot serve, by status.
_ADDRESS_PAGES = {
    404: (
        "Page not found",
        "There is no page at this address. Check the address, or start again from the menu.",
    ),
    405: (
        "Page not found",
        "This address takes a form, not a visit. Go back and use the page's buttons.",
    ),
    422: (
        "This address cannot be read",
        "The address holds a value this page does not understand (an old or edited "
        "link). Start again from the menu.",
    ),
}


def _address_page(request: Request, status: int) -> Response:
    title, detail = _ADDRESS_PAGES.get(
        status, ("Something went wrong", "This page could not be shown. Start again from the menu.")
    )
    return render(request, Page("error.html", {"title": title, "detail": detail}, status), None)


def _http_error(request: Request, exc: Exception) -> Response:
    """An address no page serves, or a method it does not take: a page for a browser,
    problem+json for the API and any other caller."""
    assert isinstance(exc, StarletteHTTPException)
    if wants_page(request):
        return _address_page(request, exc.status_code)
    return problems.http_error(request, exc)


#: The inputs of the search page (sent in the address), by the labels shown beside them:
#: a refusal of what was typed in one names it so, not as "a parameter".
_TYPED_IN = {
    "/staff/search": {
        "q": "Case number or member name",
        "birth_date": "Member's birth date",
        "external_id": "Order id from the referrer",
    },
}


def _typed_refusal(request: Request, errors: list[FieldError]) -> Response | None:
    """The page for words typed into a search that break a rule (too long, characters no
    text may hold), each named by its label; None when an error is on no such input."""
    labels = _TYPED_IN.get(request.url.path, {})
    if not errors or any(e.field not in labels for e in errors):
        return None
    named = "; ".join(f"{labels[e.field]}: {e.message}" for e in errors)
    unclean = any(e.message.startswith("must not contain") for e in errors)
    values = {
        "title": "What was typed holds characters no text may hold"
        if unclean
        else "What was typed cannot be searched for",
        "detail": f"{named}. Nothing was searched; change it and search again.",
    }
    return render(request, Page("error.html", values, 422), None)


def _request_validation(request: Request, exc: Exception) -> Response:
    """A page's query parameter that is no value of its kind (``?offset=abc``)."""
    assert isinstance(exc, RequestValidationError)
    if wants_page(request):
        typed = problems.field_errors(list(exc.errors()))
        return _typed_refusal(request, typed) or _address_page(request, 422)
    return problems.request_validation(request, exc)


def _unclean_parameter(request: Request, exc: Exception) -> Response:
    """A page's URL with characters no text may hold: the error page (the JSON API keeps
    its problem+json, FHIR its OperationOutcome)."""
    assert isinstance(exc, UncleanParameterError)
    if request.url.path.startswith("/api/"):
        return problems.domain_error(request, exc)
    if request.url.path.startswith("/fhir"):
        fhir = from_domain_error(exc)
        return outcome_response(fhir.status, fhir.issues)
    return _typed_refusal(request, list(exc.errors)) or error_page(request, exc, None)
