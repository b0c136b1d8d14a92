"""Who is calling: a bearer token becomes an Actor, or the request answers 401."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import UnauthenticatedError
from careloop.identity import service as identity_service
from careloop.web.routing import get_session

_bearer = HTTPBearer(auto_error=False, description="A token from `careloop token issue`")


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def current_actor(
    request: Request,
    session: Annotated[Session, Depends(get_session)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("Send Authorization: Bearer <token>.")
    clock: Clock = request.app.state.clock
    return identity_service.authenticate(
        session,
        credentials.credentials,
        now=clock.now(),
        ip=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )


CurrentActor = Annotated[Actor, Depends(current_actor)]
DbSession = Annotated[Session, Depends(get_session)]
CurrentClock = Annotated[Clock, Depends(get_clock)]
