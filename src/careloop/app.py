"""The FastAPI application: routers, middleware, error handlers."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from careloop import __version__, portal
from careloop.appeal import api as appeal_api
from careloop.claim import api as claim_api
from careloop.codes import warm_up
from careloop.core.clock import Clock, SystemClock
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.document import FolderStore
from careloop.document import api as document_api
from careloop.eligibility import api as eligibility_api
from careloop.escalation import api as escalation_api
from careloop.fhir import api as fhir_api
from careloop.fhir.errors import FhirErrorsMiddleware
from careloop.grievance import api as grievance_api
from careloop.identity import secrets
from careloop.imports import api as imports_api
from careloop.interaction import api as interaction_api
from careloop.logging import configure_logging
from careloop.matching import api as matching_api
from careloop.network import api as network_api
from careloop.packet import api as packet_api
from careloop.prior_auth import api as prior_auth_api
from careloop.referral import api as referral_api
from careloop.scheduling import api as scheduling_api
from careloop.settings import Settings
from careloop.startup import check_configuration
from careloop.web import problems
from careloop.web.lane import Lanes
from careloop.web.middleware import BodyLimitMiddleware, RequestContextMiddleware
from careloop.web.params import refuse_unclean_parameters
from careloop.web.transaction import TokenCache
from careloop.webhook import api as webhook_api
from careloop.workqueue import api as workqueue_api

DESCRIPTION = """
CareLoop coordinates home-based care: a referral comes in, is checked at the source and
becomes a case with deadlines.

**Authentication**: every endpoint but `/healthz` needs `Authorization: Bearer <token>`
(`careloop token issue EMAIL`; `make demo` prints one per role).

**Errors** are RFC 9457 `application/problem+json` with a stable `code`; validation errors
list every field: `errors: [{field, message}]`, `field` being a dotted path into the body
(`member.birth_date`, `items.0.quantity`). A case you may not see answers 404, exactly
like one that does not exist.
"""


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or Settings()
    check_configuration(settings)
    configure_logging(settings)
    app = FastAPI(
        lifespan=_lifespan,
        title="CareLoop API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(refuse_unclean_parameters)],
    )
    app.state.settings = settings
    app.state.database = database or Database.from_url(
        settings.database_url, pool_size=settings.db_pool_size, config=settings.database_config()
    )
    app.state.clock = clock or SystemClock()
    app.state.token_cache = TokenCache(ttl=settings.token_cache_seconds)
    app.state.intake = referral_api.intake_group(app.state.database, app.state.clock, settings)
    problems.install(app)
    app.state.document_store = FolderStore(settings.document_dir)
    # Innermost: every middleware below wraps the intake routes' lane as any request.
    app.add_middleware(
        Lanes,
        routers=(referral_api.router, fhir_api.router),
        endpoints=(referral_api.submit_referral, fhir_api.transaction_bundle),
        handlers=lambda: app.exception_handlers,
    )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # Each file plus its form's few fields and the multipart framing.
        uploads=[
            (
                re.compile("|".join([document_api.UPLOAD_PATHS, *portal.UPLOAD_PATHS])),
                settings.max_document_bytes + 64_000,
            ),
            (
                re.compile(re.escape(imports_api.router.prefix) + "/?"),
                settings.max_import_bytes + 64_000,
            ),
        ],
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost: the errors above, under /fhir, as OperationOutcome.
    app.add_middleware(FhirErrorsMiddleware)
    # A request is matched against the routes in this order (each costs a regular
    # expression and some bookkeeping), so the busiest come first: the load balancer's
    # probe, intake by JSON and by FHIR, and the work queue.
    _add_health(app)
    app.include_router(referral_api.router)
    app.include_router(fhir_api.router)
    app.include_router(workqueue_api.router)
    app.include_router(network_api.router)
    app.include_router(matching_api.router)
    app.include_router(eligibility_api.router)
    app.include_router(prior_auth_api.router)
    app.include_router(scheduling_api.router)
    app.include_router(interaction_api.router)
    app.include_router(claim_api.router)
    app.include_router(escalation_api.router)
    app.include_router(webhook_api.router)
    app.include_router(imports_api.router)
    app.include_router(appeal_api.router)
    app.include_router(grievance_api.router)
    app.include_router(document_api.router)
    app.include_router(packet_api.router)
    portal.install(app, settings)
    _add_problem_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    await run_in_threadpool(warm_up)
    await run_in_threadpool(secrets.warm_up)
    # The code sets are a few hundred thousand long-lived objects; leave them out of
    # the garbage collector's full passes, which otherwise stall requests for ~100 ms.
    gc.freeze()
    yield


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    def healthz() -> JSONResponse:
        database: Database = app.state.database
        try:
            with database.session() as session:
                session.execute(text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "degraded", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": database.dialect})


def _add_problem_docs(app: FastAPI) -> None:
    @app.get(
        "/problems/{code}",
        tags=["operations"],
        summary="What an error code means",
        include_in_schema=False,
    )
    def problem_doc(code: str) -> JSONResponse:
        known = _problem_codes()
        if code not in known:
            return JSONResponse({"code": code, "title": "Unknown problem code"}, 404)
        title, status = known[code]
        return JSONResponse({"code": code, "title": title, "status": status, "see": "/docs"})


def _problem_codes() -> dict[str, tuple[str, int]]:
    """Every error code the service can answer with, from the DomainError family."""
    found: dict[str, tuple[str, int]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, (cls.title, cls.status))
        pending.extend(cls.__subclasses__())
    return found


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (
        *referral_api.REQUEST_MODELS,
        *network_api.REQUEST_MODELS,
        *matching_api.REQUEST_MODELS,
        *prior_auth_api.REQUEST_MODELS,
        *scheduling_api.REQUEST_MODELS,
        *interaction_api.REQUEST_MODELS,
        *escalation_api.REQUEST_MODELS,
        *webhook_api.REQUEST_MODELS,
        *appeal_api.REQUEST_MODELS,
        *grievance_api.REQUEST_MODELS,
        *claim_api.REQUEST_MODELS,
    ):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in model_schema.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components[model.__name__] = model_schema
    app.openapi_schema = schema
    return schema
