"""The intake routes called straight from the middleware: the same endpoint, without
the framework's dispatch.

Under load an accepted referral costs the server less than a millisecond of CPU, and
FastAPI's dispatch was a seventh of it: matching the request against the routes, a
stack of exit contexts per request, resolving the bearer-token dependency, and the
exception middleware's wrappers. The endpoints on a lane take only the request and its
bearer credentials and read everything else themselves (``web.params.Declared``), so
:class:`Lanes` calls them directly, renders what they raise with the app's own exception
handlers, and sends their response. The route stays registered as it was: the OpenAPI
document, a request with a query string and any other path are the framework's as
before. The middlewares (request id, access log, body limit, security headers) are
outside the lane and see its requests as any other.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from careloop.web.transaction import bearer

Endpoint = Callable[[Request, Any], Awaitable[Response]]


class Lanes:
    """ASGI middleware: requests to the routes of ``endpoints`` with no query string go
    straight to their endpoint. ``routers`` are those that declare them, included in the
    app without a prefix of their own. Installed innermost, so that every other
    middleware wraps it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routers: Iterable[APIRouter],
        endpoints: Iterable[Endpoint],
        handlers: Callable[[], dict[Any, Callable[..., Any]]],
    ) -> None:
        self.app = app
        self._handlers = handlers
        wanted = set(endpoints)
        self._lanes: dict[tuple[str, str], APIRoute] = {}
        for route in (route for router in routers for route in router.routes):
            if isinstance(route, APIRoute) and route.endpoint in wanted:
                _check_shape(route)
                for method in route.methods or ():
                    self._lanes[(method, route.path)] = route
        missing = wanted - {route.endpoint for route in self._lanes.values()}
        if missing:
            raise LookupError(f"no route serves {sorted(e.__name__ for e in missing)}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["query_string"]:
            route = self._lanes.get((scope["method"], scope["path"]))
            if route is not None:
                await self._serve(route, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, route: APIRoute, scope: Scope, receive: Receive, send: Send) -> None:
        # What the router would have put in the scope (the access log names the route).
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request, await bearer(request))
        except Exception as exc:
            response = await self._render(request, exc)
        await response(scope, receive, send)

    async def _render(self, request: Request, exc: Exception) -> Response:
        """``exc`` as the app's exception handlers answer it; re-raised when none does
        (the request-context middleware then answers 500 without the message)."""
        handlers = self._handlers()
        # As Starlette's exception middleware looks them up: an HTTP error's status code
        # first, then the exception's classes, nearest first.
        handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
        for cls in type(exc).__mro__:
            if handler is not None:
                break
            handler = handlers.get(cls)
        if handler is None:
            raise exc
        if inspect.iscoroutinefunction(handler):
            answer = await handler(request, exc)
        else:
            answer = await run_in_threadpool(handler, request, exc)
        assert isinstance(answer, Response)
        return answer


def _check_shape(route: APIRoute) -> None:
    """A lane's endpoint takes the request and the bearer credentials and nothing else,
    on a path without parameters: nothing the framework would have resolved is skipped
    (the app's own dependency checks path and query parameters, and a lane's request
    has neither)."""
    names = list(inspect.signature(route.endpoint).parameters)
    if names != ["request", "credentials"] or route.param_convertors:
        raise TypeError(
            f"{route.endpoint.__name__} cannot be served on a lane: it must take "
            f"(request, credentials) on a path without parameters"
        )
