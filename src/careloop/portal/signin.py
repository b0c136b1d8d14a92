"""Sign-in pages: e-mail and password, then (staff and provider users) a TOTP code or
enrolment with a QR code and recovery codes; sign-out ends the session on the server.

The sign-in form has no session yet, so its CSRF token is a double-submit cookie: a
random value in a SameSite=Strict cookie that the form must repeat.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from careloop.core.actor import STAFF_ROLES, Role
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.errors import (
    SecondFactorFailedError,
    SignInFailedError,
    SignInThrottledError,
)
from careloop.identity.secrets import totp_uri
from careloop.identity.service import NextStep
from careloop.portal.web import (
    CSRF_FIELD,
    Page,
    PageContext,
    Redirect,
    form_text_error,
    page,
    read_form,
    render,
    respond,
    set_session_cookie,
    settings_of,
)
from careloop.web.transaction import clock_of

router = APIRouter(include_in_schema=False)

SIGNIN_CSRF_COOKIE = "careloop_signin"
_NEXT_STEP_PATH = {
    NextStep.done: "/",
    NextStep.totp: "/signin/totp",
    NextStep.enrol: "/signin/enrol",
}


def home_of(role: Role) -> str:
    if role in STAFF_ROLES:
        return "/staff"
    return {
        Role.referring_clinician: "/referrer",
        Role.provider_staff: "/provider",
        Role.member: "/member",
    }.get(role, "/account")


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@router.get("/")
async def home(request: Request) -> Response:
    return await page(request, lambda ctx: Redirect(home_of(ctx.actor.role)))


@router.get("/account")
async def account(request: Request) -> Response:
    return await page(request, lambda ctx: Page("account.html"))


def _signin_page(
    request: Request,
    *,
    next_path: str,
    email: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(24)
    values = {"signin_token": token, "next": next_path, "email": email, "error": error}
    response = render(request, Page("signin.html", values, status=status), None)
    response.set_cookie(
        SIGNIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings_of(request).secure_cookies,
        path="/signin",
        max_age=3600,
    )
    return response


@router.get("/signin")
async def signin_form(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    return _signin_page(request, next_path=_safe_next(next))


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await read_form(request)
    next_path = _safe_next(form.get("next"))
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        return _signin_page(
            request,
            next_path=next_path,
            error="The sign-in form expired. Please try again.",
            status=403,
        )
    if (unclean := form_text_error(form)) is not None:
        return _signin_page(request, next_path=next_path, error=unclean.detail, status=422)
    email = form.get("email", "").strip()[:254]
    password = form.get("password", "")[:1000]
    settings = settings_of(request)
    database: Database = request.app.state.database
    clock = clock_of(request)
    ip = request.client.host if request.client else None

    def work() -> identity_service.SignIn:
        with database.unit_of_work() as session:
            return identity_service.sign_in(
                session,
                email,
                password,
                clock=clock,
                ip=ip,
                demo_skip_totp=settings.demo_skip_totp,
            )

    try:
        result = await run_in_threadpool(work)
    except SignInFailedError as exc:
        return _signin_page(request, next_path=next_path, email=email, error=exc.detail, status=401)
    except SignInThrottledError as exc:
        response = _signin_page(
            request, next_path=next_path, email=email, error=exc.detail, status=429
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    target = _NEXT_STEP_PATH[result.next_step]
    if result.next_step is NextStep.done:
        target = next_path
    elif next_path != "/":
        target += f"?next={quote(next_path, safe='')}"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, result.token, settings)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/signin")
    return response


# ---- second factor -------------------------------------------------------------------------


@router.get("/signin/totp")
async def totp_form(
    request: Request, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    def work(ctx: PageContext) -> Page | Redirect:
        if ctx.principal.complete:
            return Redirect(_safe_next(next))
        return Page("totp.html", {"next": _safe_next(next), "error": None})

    return await page(request, work, allow_partial=True)


@router.post("/signin/totp")
async def totp_check(request: Request) -> Response:
    form = await read_form(request)
    next_path = _safe_next(form.get("next"))

    def work(ctx: PageContext) -> Page | Redirect:
        token = identity_service.verify_second_factor(
            ctx.session, ctx.principal, form.get("code", "")[:40], clock=ctx.clock
        )
        return Redirect(next_path, set_session=token)

    def on_error(exc: DomainError) -> Page | None:
        if isinstance(exc, SecondFactorFailedError):
            return Page("totp.html", {"next": next_path, "error": exc.detail}, status=401)
        return None

    return await page(request, work, form=form, allow_partial=True, on_error=on_error)


def _qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (drawn here: nothing leaves the server)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    return Markup(svg)  # noqa: S704 - segno's own SVG, no user input in markup


def _enrol_values(ctx: PageContext, next_path: str, error: str | None) -> dict[str, object]:
    secret = identity_service.pending_totp_secret(ctx.session, ctx.principal, clock=ctx.clock)
    return {
        "secret": secret,
        "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "qr": _qr_svg(totp_uri(secret, ctx.principal.email)),
        "next": next_path,
        "error": error,
    }


@router.get("/signin/enrol")
async def enrol_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=500)] = None,
    error: bool = False,
) -> Response:
    message = "That code did not match; check the time on your phone and try again."

    def work(ctx: PageContext) -> Page | Redirect:
        if ctx.principal.complete:
            return Redirect("/")
        values = _enrol_values(ctx, _safe_next(next), message if error else None)
        return Page("enrol.html", values, status=401 if error else 200)

    return await page(request, work, allow_partial=True)


@router.post("/signin/enrol")
async def enrol(request: Request) -> Response:
    form = await read_form(request)
    next_path = _safe_next(form.get("next"))

    def work(ctx: PageContext) -> Page:
        token, codes = identity_service.confirm_totp(
            ctx.session, ctx.principal, form.get("code", "")[:40], clock=ctx.clock
        )
        return Page("recovery_codes.html", {"codes": codes, "next": next_path}, set_session=token)

    def on_error(exc: DomainError) -> Page | Redirect | None:
        if isinstance(exc, SecondFactorFailedError):
            return Redirect(f"/signin/enrol?error=true&next={quote(next_path, safe='')}")
        return None

    return await page(request, work, form=form, allow_partial=True, on_error=on_error)


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await read_form(request)

    def work(ctx: PageContext) -> Redirect:
        identity_service.sign_out(ctx.session, ctx.principal)
        return Redirect("/signin", clear_session=True)

    return await page(request, work, form=form, allow_partial=True)


__all__ = ["home_of", "respond", "router"]
