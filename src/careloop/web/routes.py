"""The shape every JSON write route shares: read the body, then parse it and run one use
case in one transaction on one worker thread (parsing is CPU work: it stays off the
event loop, beside the use case)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.dates import judged_at
from careloop.core.errors import DomainError
from careloop.identity.permissions import may, require
from careloop.web.body import parse_request_body
from careloop.web.transaction import cached_actor, clock_of, use_case

B = TypeVar("B", bound=BaseModel)
T = TypeVar("T")
#: What a refused body answers: malformed, of another media type, invalid fields.
REFUSED_STATUSES = frozenset({400, 415, 422})


async def with_body(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    model: type[B],
    call: Callable[[Session, Actor, B], T],
    *,
    permission: str,
    empty: Callable[[], B] | None = None,
    on_refused: Callable[[Session, Actor, DomainError], None] | None = None,
) -> T:
    """Run ``call`` with the request body parsed as ``model``; an empty body is ``empty()``
    when the route allows one (every field optional), else a 422 like any bad body.

    The caller's role must hold ``permission`` (the one the use case requires) before
    the body is read: a caller who may not do this gets 403 whatever it sent, never a
    422 that would tell it about the body first. The use case checks it again, with the
    object (404 for what the caller may not see).

    ``on_refused`` hears of a body refused for what it is (400, 415, 422), before the
    transaction rolls back: intake records what it refused at the door."""
    raw = await request.body()

    def work(session: Session, actor: Actor) -> T:
        require(actor, permission)
        if empty is not None and not raw.strip():
            return call(session, actor, empty())
        try:
            return call(session, actor, parse_request_body(request, raw, model))
        except DomainError as exc:
            if on_refused is not None and exc.status in REFUSED_STATUSES:
                on_refused(session, actor, exc)
            raise

    return await use_case(request, credentials, work)


async def parsed_on_loop(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    model: type[B],
    *,
    permission: str,
) -> tuple[Actor, B] | None:
    """The caller and its body parsed as ``model`` without leaving the event loop: when
    the caller's token is in the cache, its role holds ``permission`` and the body is
    good. Otherwise None, and the route takes :func:`with_body`'s path, which answers
    (and records) whatever is wrong exactly as before. Parsing a body takes tens of
    microseconds; a trip to a worker thread and back costs more."""
    actor = cached_actor(request, credentials)
    if actor is None or not may(actor, permission):
        return None
    raw = await request.body()
    try:
        with judged_at(clock_of(request).now()):
            return actor, parse_request_body(request, raw, model)
    except DomainError:
        return None


async def refuse(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    exc: DomainError,
    on_refused: Callable[[Session, Actor, DomainError], None],
) -> NoReturn:
    """Raise ``exc``, a use case's refusal given outside :func:`with_body`, after
    ``on_refused`` has heard of it as :func:`with_body` would have told it."""
    if exc.status not in REFUSED_STATUSES:
        raise exc

    def work(session: Session, actor: Actor) -> NoReturn:
        on_refused(session, actor, exc)
        raise exc

    await use_case(request, credentials, work)
    raise AssertionError("unreachable: work always raises")
