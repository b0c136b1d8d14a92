"""One request, one transaction, one trip to a worker thread.

The entry point owns the transaction (STYLE.md §4): it opens a session, authenticates
the caller, runs the use case, and commits before the response is rendered, or rolls
back on any exception (then writes the denied-access audits kept for after a rollback).
All of it runs in a single worker-thread call: each extra hand-off between the event
loop and the thread pool cost measurable throughput (bench/intake.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.dates import judged_at
from careloop.core.errors import UnauthenticatedError
from careloop.db.session import Database
from careloop.identity import service as identity_service
from careloop.identity.tokens import hash_token

T = TypeVar("T")
P = TypeVar("P")

#: The bearer credentials of a request, or None (a route refuses a missing token itself).
bearer = HTTPBearer(auto_error=False, description="A token from `careloop token issue`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass
class TokenCache:
    """Recently seen tokens and who they belong to, for ``ttl`` seconds.

    A revoked token or disabled user is refused at most ``ttl`` seconds later
    (RELIABILITY.md row 19 proposes 60 s); ``ttl = 0`` checks the database every time.
    """

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, tuple[float, Actor]] | None = None

    def get(self, token_hash: str) -> Actor | None:
        if not self.ttl or self._entries is None:
            return None
        entry = self._entries.get(token_hash)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, token_hash: str, actor: Actor) -> None:
        if not self.ttl:
            return
        if self._entries is None or len(self._entries) > 10_000:
            self._entries = {}
        self._entries[token_hash] = (self.clock() + self.ttl, actor)


def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("Send Authorization: Bearer <token>.")
    return credentials.credentials


def _cached(request: Request, token_hash: str) -> Actor | None:
    cache: TokenCache = request.app.state.token_cache
    cached = cache.get(token_hash)
    if cached is None:
        return None
    ip = request.client.host if request.client else None
    return replace(cached, ip=ip, request_id=getattr(request.state, "request_id", None))


def cached_actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Actor | None:
    """The caller, when its token was checked within the cache's ``ttl`` (no database
    needed: safe on the event loop); None when it must be checked (or refused) by
    :func:`use_case`."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return None
    return _cached(request, hash_token(credentials.credentials))


def _actor(request: Request, session: Session, token: str) -> Actor:
    token_hash = hash_token(token)
    cached = _cached(request, token_hash)
    if cached is not None:
        return cached
    ip = request.client.host if request.client else None
    request_id = getattr(request.state, "request_id", None)
    actor = identity_service.authenticate(
        session, token, now=clock_of(request).now(), ip=ip, request_id=request_id
    )
    cache: TokenCache = request.app.state.token_cache
    cache.put(token_hash, actor)
    return actor


def run_authenticated(
    request: Request,
    authenticate: Callable[[Session], P],
    work: Callable[[Session, P], T],
) -> T:
    """Authenticate (bearer token, or the portal's session cookie) and run ``work`` in
    one transaction, committed before anything is rendered; call from a worker thread."""
    database: Database = request.app.state.database
    session = database.session()
    try:
        principal = authenticate(session)
        # Dates in the request are judged against the request's clock (core.dates).
        with judged_at(clock_of(request).now()):
            result = work(session, principal)
        session.commit()
        return result
    except BaseException:
        session.rollback()
        database.run_after_rollback(session)
        raise
    finally:
        session.close()


def run_use_case(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    work: Callable[[Session, Actor], T],
) -> T:
    """Authenticate the bearer token and run ``work`` in one transaction; call from a
    worker thread."""
    token = _token(credentials)
    return run_authenticated(request, lambda session: _actor(request, session, token), work)


async def use_case(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    work: Callable[[Session, Actor], T],
) -> T:
    """:func:`run_use_case` from an async handler, in a single worker-thread call."""
    _token(credentials)  # refuse a missing token before leaving the event loop
    return await run_in_threadpool(run_use_case, request, credentials, work)
