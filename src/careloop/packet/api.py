"""The case packet over HTTP (thin: call the service, answer the PDF)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from careloop.packet import service
from careloop.packet.schemas import PACKET_HASH_HEADER
from careloop.portal import presenters
from careloop.web.openapi import COMMON, PROBLEM
from careloop.web.transaction import Credentials, clock_of, run_use_case
from careloop.web.upload import store_of

router = APIRouter(prefix="/api/v1", tags=["packet"])


def describe(type_: str, data: dict[str, Any], zone: str) -> str:
    return presenters.event_words(type_, data, zone)[0]


@router.get(
    "/referrals/{case_number}/packet.pdf",
    summary="The case packet: cover, timeline, contacts, disputes and documents (PDF)",
    response_class=Response,
    responses={
        **COMMON,
        404: {"description": "No such case, or not yours to see", **PROBLEM},
        200: {"content": {"application/pdf": {}}, "description": "PDF"},
    },
)
def packet_pdf(case_number: str, request: Request, credentials: Credentials) -> Response:
    clock = clock_of(request)
    store = store_of(request)
    packet = run_use_case(
        request,
        credentials,
        lambda session, actor: service.build_packet(
            session,
            actor,
            case_number,
            clock=clock,
            store=store,
            describe=describe,
            status_words=presenters.status_words,
        ),
    )
    return Response(
        packet.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="packet-{packet.case_number}.pdf"',
            "Cache-Control": "no-store",
            PACKET_HASH_HEADER: packet.sha256,
        },
    )
