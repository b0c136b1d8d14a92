"""How a page runs: the session cookie names the actor, the form carries the CSRF token,
the use case runs in one transaction (web.transaction.run_authenticated, the same helper
as the JSON API), and the template is rendered after the commit, in the same trip to a
worker thread.

A page handler parses its input and hands ``work`` to :func:`page`. ``work`` calls the
services (the very ones the API calls) and returns what to show: a :class:`Page` (a
template and its values) or a :class:`Redirect`. Domain errors become pages here: 404
looks the same whether the case does not exist or is another organisation's.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import (
    DomainError,
    FieldError,
    ForbiddenError,
    RuleViolationError,
    TooManyRequestsError,
)
from careloop.core.text import block_problem
from careloop.identity import service as identity_service
from careloop.identity.errors import SecondFactorRequiredError, SessionEndedError
from careloop.identity.service import PortalPrincipal
from careloop.portal import presenters, templates
from careloop.settings import Settings
from careloop.web import problems
from careloop.web.transaction import clock_of, run_authenticated

SESSION_COOKIE = "careloop_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

Form = Mapping[str, str]


class CsrfRefusedError(ForbiddenError):
    code = "csrf_refused"
    title = "This form did not come from your CareLoop session"


@dataclass(frozen=True)
class Page:
    """A template to render (after the commit) with its values."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    set_session: str | None = None


@dataclass(frozen=True)
class Redirect:
    to: str
    set_session: str | None = None
    clear_session: bool = False


@dataclass(frozen=True)
class Download:
    """A file made by a service (the written confirmation PDF), sent as it is."""

    body: bytes
    media_type: str
    filename: str
    set_session: str | None = None
    #: Always saved, never shown in the browser (an uploaded document).
    attachment: bool = False


Outcome = Page | Redirect | Download


@dataclass(frozen=True)
class PageContext:
    """What ``work`` gets: the transaction's session, who is acting, and the request's
    clock and settings."""

    request: Request
    session: Session
    principal: PortalPrincipal
    clock: Clock
    settings: Settings

    @property
    def actor(self) -> Actor:
        return self.principal.actor


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (files are not accepted by any page)."""
    form = await request.form()
    return {k: v for k, v in form.multi_items() if isinstance(v, str)}


class FormTextError(RuleViolationError):
    code = "form_text_invalid"
    title = "The form holds characters no text may hold"


def form_text_error(form: Form, prefix: str = "") -> FormTextError | None:
    """The form's fields that hold what no text may (core.text: NUL and other control
    characters but line breaks and tabs, bidirectional controls, unpaired surrogates);
    names and identifiers are checked further by the models the pages send them to.
    Each error names its input without ``prefix.`` (as a move's own errors do)."""
    head = f"{prefix}." if prefix else ""
    errors = [
        FieldError(name.removeprefix(head) if head else name, problem)
        for name, value in form.items()
        if (problem := block_problem(name) or block_problem(value))
    ]
    if not errors:
        return None
    return FormTextError(
        "The form holds characters that no text may hold: "
        f"{errors[0].message.removeprefix('must not contain ')}. Nothing was saved; "
        "remove them and send the form again.",
        errors=errors,
    )


async def page(
    request: Request,
    work: Callable[[PageContext], Outcome],
    *,
    form: Form | None = None,
    allow_partial: bool = False,
    on_error: Callable[[DomainError], Outcome | None] | None = None,
    checks_text: bool = False,
) -> Response:
    """Run ``work`` for the signed-in user in one transaction and answer with its page.

    POSTs are refused (403) unless the form (or the X-CSRF-Token header htmx sends)
    carries the session's CSRF token. ``allow_partial`` admits a session that has passed
    the password but not yet the second factor (the sign-in pages only). A form holding
    characters no text may hold is refused before ``work`` with a page of its own, unless
    ``checks_text``: then ``work`` checks it (``form_text_error``) and refuses it beside
    the field, on the form, as its other refusals."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return _to_sign_in(request)
    return await run_in_threadpool(
        _run, request, token, work, form or {}, allow_partial, on_error, checks_text
    )


def _run(
    request: Request,
    token: str,
    work: Callable[[PageContext], Outcome],
    form: Form,
    allow_partial: bool,
    on_error: Callable[[DomainError], Outcome | None] | None,
    checks_text: bool = False,
) -> Response:
    clock = clock_of(request)
    settings = settings_of(request)

    def authenticate(session: Session) -> PortalPrincipal:
        principal = identity_service.portal_principal(
            session,
            token,
            clock=clock,
            ip=request.client.host if request.client else None,
            request_id=getattr(request.state, "request_id", None),
        )
        if request.method == "POST":
            _check_csrf(request, form, principal)
            # Checked once the caller is known and may post here, before any use case.
            if not checks_text and (unclean := form_text_error(form)) is not None:
                raise unclean
        if not allow_partial and not principal.complete:
            raise SecondFactorRequiredError("Give the code from your authenticator first.")
        return principal

    principal_seen: list[PortalPrincipal] = []

    def run(session: Session, principal: PortalPrincipal) -> Outcome:
        principal_seen.append(principal)
        return work(PageContext(request, session, principal, clock, settings))

    try:
        outcome = run_authenticated(request, authenticate, run)
    except SessionEndedError:
        return _to_sign_in(request, clear=True)
    except SecondFactorRequiredError:
        return RedirectResponse("/signin/totp", status_code=303)
    except DomainError as exc:
        refused_early = isinstance(exc, CsrfRefusedError | FormTextError)
        handled = on_error(exc) if on_error and not refused_early else None
        principal = principal_seen[0] if principal_seen else None
        if handled is None:
            return error_page(request, exc, principal)
        outcome = handled
    return respond(request, outcome, principal_seen[0] if principal_seen else None)


def _check_csrf(request: Request, form: Form, principal: PortalPrincipal) -> None:
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise CsrfRefusedError(
            "The form's security token is missing or out of date (an old tab, or a page "
            "from another site). Reload the page and send it again."
        )


def _to_sign_in(request: Request, *, clear: bool = False) -> Response:
    if request.method == "GET" and not request.headers.get("hx-request"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response: Response = RedirectResponse(
            f"/signin?next={quote(target, safe='')}", status_code=303
        )
    else:
        response = render(
            request,
            Page(
                "error.html",
                {"title": "Please sign in", "detail": "Your session has ended; sign in again."},
                status=401,
            ),
            None,
        )
    if clear:
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def respond(request: Request, outcome: Outcome, principal: PortalPrincipal | None) -> Response:
    settings = settings_of(request)
    if isinstance(outcome, Redirect):
        response: Response = RedirectResponse(outcome.to, status_code=303)
        if outcome.clear_session:
            response.delete_cookie(SESSION_COOKIE, path="/")
    elif isinstance(outcome, Download):
        disposition = "attachment" if outcome.attachment else "inline"
        response = Response(
            outcome.body,
            media_type=outcome.media_type,
            headers={
                "Content-Disposition": f'{disposition}; filename="{outcome.filename}"',
                "Cache-Control": "no-store",
            },
        )
    else:
        response = render(request, outcome, principal)
    if outcome.set_session:
        set_session_cookie(response, outcome.set_session, settings)
    return response


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no cross-site POST carries it), Secure
    outside the plain-HTTP demo; a session cookie (no Max-Age): the server ends it."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def wants_page(request: Request) -> bool:
    """Whether an error is answered with a page (a browser on a portal address)."""
    return problems.is_page_request(request.url.path, request.headers.get("accept", ""))


def render(request: Request, outcome: Page, principal: PortalPrincipal | None) -> HTMLResponse:
    html = templates.render(
        outcome.template,
        templates.base_values(request, principal, settings_of(request)) | outcome.values,
    )
    return HTMLResponse(html, status_code=outcome.status)


def error_page(
    request: Request, exc: DomainError, principal: PortalPrincipal | None
) -> HTMLResponse:
    """A domain error as a page with its status: the title and the detail the service
    wrote (never PHI, never driver text)."""
    values = {"title": presenters.title_words(exc.title), "detail": exc.detail, "code": exc.code}
    response = render(request, Page("error.html", values, status=exc.status), principal)
    if isinstance(exc, TooManyRequestsError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response
