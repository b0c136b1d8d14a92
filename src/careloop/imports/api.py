"""JSON routes of bulk imports (thin: parse, call one service, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from careloop.core.actor import Actor
from careloop.core.errors import RuleViolationError
from careloop.identity.permissions import require
from careloop.imports import service
from careloop.imports.schemas import ImportJobRead
from careloop.settings import Settings
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.transaction import Credentials, clock_of, run_use_case

router = APIRouter(prefix=service.API_PREFIX, tags=["imports"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The import's id")]
_JOB = {**COMMON, 404: {"description": "No such import, or not yours to see", **PROBLEM}}

_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "A .csv or .ndjson file of referrals",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=202,
    response_model=ImportJobRead,
    summary="Import a file of referrals (CSV or NDJSON)",
    description=(
        "Takes the file (multipart form field `file`) as a job and answers 202 at once; "
        "the worker checks every row with the intake rules of `POST /api/v1/referrals` and "
        "stores the good ones as cases. Follow `links.self` for progress and counts, and "
        "`links.errors` for the refused rows (CSV: line, field, rule, message). Each row "
        "needs its `external_id`: a row whose external id a case already carries is "
        "counted as already imported, so sending a file again creates nothing new. CSV "
        "headers are the API's field names, nested ones with dots (`member.first_name`, "
        "`items.0.code`)."
    ),
    responses={
        202: {"description": "The job, queued"},
        **COMMON,
        400: {"description": "Not a multipart form, or one with too many parts", **PROBLEM},
        413: {"description": "File too large", **PROBLEM},
    },
    openapi_extra=_UPLOAD,
)
async def submit_import(request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    settings: Settings = request.app.state.settings

    def allowed(_session: Session, actor: Actor) -> None:
        require(actor, "import:create")

    # The caller's role is checked before the file is read (a 403 says nothing of it).
    await run_in_threadpool(run_use_case, request, credentials, allowed)
    form = await request.form(max_files=1, max_fields=4)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise RuleViolationError(
            "Send the file as the multipart form field 'file', with its name.", field="file"
        )
    content = await upload.read()
    file_name = upload.filename

    def submit(session: Session, actor: Actor) -> ImportJobRead:
        return service.submit_import(
            session,
            actor,
            file_name=file_name,
            content=content,
            clock=clock,
            max_bytes=settings.max_import_bytes,
        )

    job = await run_in_threadpool(run_use_case, request, credentials, submit)
    return JSONResponse(
        job.model_dump(mode="json"), status_code=202, headers={"Location": job.links.self}
    )


@router.get(
    "/{job_id}",
    response_model=ImportJobRead,
    summary="An import's progress and result",
    responses=_JOB,
)
def get_import(job_id: JobId, request: Request, credentials: Credentials) -> ImportJobRead:
    clock = clock_of(request)
    return run_use_case(
        request,
        credentials,
        lambda session, actor: service.get_import(session, actor, job_id, clock=clock),
    )


@router.get(
    "/{job_id}/errors",
    summary="The refused rows of an import (CSV: line, field, rule, message)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_JOB},
)
def get_errors(job_id: JobId, request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    body = run_use_case(
        request,
        credentials,
        lambda session, actor: service.error_file(session, actor, job_id, clock=clock),
    )
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'},
    )
