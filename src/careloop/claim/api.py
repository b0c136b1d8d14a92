"""JSON routes of claims and remittances (thin: parse, call one service, answer)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy.orm import Session

from careloop.claim import rules, service, status
from careloop.claim.schemas import (
    ClaimCreate,
    ClaimList,
    ClaimRead,
    ClaimSummary,
    RemittanceRead,
)
from careloop.core.actor import Actor
from careloop.core.errors import DomainError
from careloop.web.openapi import BODY, COMMON, PROBLEM, json_body
from careloop.web.routes import with_body
from careloop.web.transaction import Credentials, clock_of, run_use_case, use_case

router = APIRouter(prefix="/api/v1", tags=["claims and remittance"])

CaseNumber = Annotated[str, Path(max_length=40, description="The case number")]
_CASE = {**COMMON, 404: {"description": "No such referral, or not yours to see", **PROBLEM}}


@router.post(
    "/referrals/{case_number}/claims",
    status_code=201,
    response_model=ClaimRead,
    summary="Prepare a claim (837P, checked by pyx12) for a delivered service or visit",
    responses={
        **_CASE,
        **BODY,
        409: {"description": "Nothing delivered or visited yet to bill", **PROBLEM},
        422: {"description": "A billing rule or pyx12 refused the claim", **PROBLEM},
    },
    openapi_extra=json_body(
        ClaimCreate,
        {
            "lines": [
                {
                    "code": "E0260",
                    "modifiers": ["RR"],
                    "units": 1,
                    "service_date": "2026-03-03",
                    "pointers": [1],
                }
            ]
        },
    ),
)
async def prepare_claim(
    case_number: CaseNumber, request: Request, credentials: Credentials
) -> ClaimRead:
    clock = clock_of(request)

    def call(session: Session, actor: Actor, body: ClaimCreate) -> ClaimRead:
        lines = [
            rules.Line(
                code=line.code.upper(),
                units=line.units,
                service_date=line.service_date,
                modifiers=tuple(m.upper() for m in line.modifiers),
                pointers=tuple(line.pointers),
            )
            for line in body.lines
        ]
        prepared = service.prepare_for_case(
            session,
            actor,
            case_number.strip().upper(),
            lines,
            clock=clock,
        )
        return ClaimRead(
            claim_number=prepared.claim_number,
            charge=prepared.charge,
            status=rules.ClaimStatus.prepared,
        )

    return await with_body(request, credentials, ClaimCreate, call, permission="claim:prepare")


@router.get(
    "/referrals/{case_number}/claims",
    response_model=ClaimList,
    summary="The claims of a case, newest first, with the payer's last status (277)",
    responses=_CASE,
)
def list_claims(case_number: CaseNumber, request: Request, credentials: Credentials) -> ClaimList:
    clock = clock_of(request)

    def work(session: Session, actor: Actor) -> ClaimList:
        claims = status.list_claims(session, actor, case_number.strip().upper(), clock=clock)
        return ClaimList(items=[ClaimSummary.model_validate(asdict(c)) for c in claims])

    return run_use_case(request, credentials, work)


@router.post(
    "/remittances",
    status_code=201,
    response_model=RemittanceRead,
    summary="Import an 835 remittance (X12 text body); a malformed one posts nothing",
    responses={**COMMON, 422: {"description": "The 835 is malformed", **PROBLEM}},
)
async def import_remittance(request: Request, credentials: Credentials) -> RemittanceRead:
    clock = clock_of(request)
    raw = await request.body()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = "\x00"

    def work(session: Session, actor: Actor) -> RemittanceRead:
        if text == "\x00":
            raise DomainError("an 835 is plain ASCII text", field="body")
        posted = service.import_835_as(session, actor, text, clock=clock)
        return RemittanceRead(
            claims_posted=posted.claims_posted,
            denials=posted.denials,
            unmatched=list(posted.unmatched),
            variance=posted.variance,
        )

    return await use_case(request, credentials, work)


REQUEST_MODELS = (ClaimCreate,)
