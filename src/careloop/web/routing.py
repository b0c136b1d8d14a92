"""One request, one transaction: the route class opens a session before the handler
and commits after it returns, before the response leaves (Polar's AutoCommitAPIRoute
idea). Any exception rolls back; denied-access audits are then written on their own."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.db.session import Database


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_unit_of_work(request: Request) -> Response:
            database: Database = request.app.state.database
            session = database.session()
            request.state.session = session
            try:
                response = await handler(request)
                if response.status_code < 400:
                    await run_in_threadpool(session.commit)
                else:
                    await run_in_threadpool(_rollback, database, session)
                return response
            except BaseException:
                await run_in_threadpool(_rollback, database, session)
                raise
            finally:
                await run_in_threadpool(session.close)

        return with_unit_of_work


def _rollback(database: Database, session: Session) -> None:
    session.rollback()
    database.run_after_rollback(session)


def get_session(request: Request) -> Session:
    session: Session = request.state.session
    return session
