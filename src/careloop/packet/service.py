"""Build the case packet: gather through each domain's service, lay the packet's own
pages out with typst, append every document with pypdf (PDFs as their pages, images as
one page each), give each section a bookmark and every page a number, and record the
packet's SHA-256 on the timeline through ``referral.moves``."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import typst
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle
from sqlalchemy.orm import Session

from careloop.appeal import service as appeal_service
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.document import DocumentRead, DocumentStore, MediaType
from careloop.document import service as document_service
from careloop.escalation import rules as escalation_rules
from careloop.escalation import service as escalation_service
from careloop.identity.permissions import require
from careloop.interaction import service as interaction_service
from careloop.packet import rules
from careloop.referral import moves
from careloop.referral import service as referral_service
from careloop.referral.errors import ReferralNotFoundError

#: A timeline event in plain words: (type, data, time zone) -> sentence. The web edge
#: passes the portal's presenter; the default names the event type in words.
Describe = Callable[[str, dict[str, Any], str], str]


@dataclass(frozen=True, slots=True)
class Packet:
    case_number: str
    pdf: bytes
    sha256: str
    pages: int


@dataclass(frozen=True, slots=True)
class Attachment:
    title: str
    pdf: bytes
    pages: int


def _words(value: str) -> str:
    return value.replace("_", " ").capitalize()


def _plain(type_: str, data: dict[str, Any], zone: str) -> str:
    return type_.replace(".", " ").replace("_", " ").capitalize()


def _day(value: date) -> str:
    return f"{value:%B} {value.day}, {value.year}"


def _when(value: datetime | None, zone: str) -> str:
    if value is None:
        return "not recorded"
    local = value.astimezone(ZoneInfo(zone))
    return f"{local:%B} {local.day}, {local.year} {local:%I:%M %p}"


def build_packet(
    session: Session,
    actor: Actor,
    case_number: str,
    *,
    clock: Clock,
    store: DocumentStore,
    describe: Describe | None = None,
    status_words: Callable[[str], str] | None = None,
) -> Packet:
    """The packet of a case the actor may read (coordination staff; 404 for anyone
    else), its read audited and its SHA-256 recorded on the timeline."""
    require(actor, "referral:read")
    if not actor.is_staff:
        raise ReferralNotFoundError(f"There is no referral {case_number} that you can see.")
    referral = moves.visible(session, actor, case_number, "packet.read", clock=clock)
    case = referral_service.get_referral(session, actor, referral.case_number, clock=clock)
    timeline = referral_service.get_timeline(session, actor, referral.case_number, clock=clock)
    contacts = interaction_service.list_contacts(session, actor, referral.case_number, clock=clock)
    escalations = escalation_service.list_escalations(
        session, actor, referral.case_number, clock=clock
    )
    appeals = appeal_service.list_appeals(session, actor, referral.case_number, clock=clock)
    documents = document_service.list_documents(session, actor, referral.case_number, clock=clock)
    zone = case.time_zone
    say = describe or _plain

    attachments = [_attachment(store, d) for d in reversed(documents.items)]
    deadlines: list[list[str]] = [
        ["Acknowledge the referral", _when(case.ack_due_at, zone)],
        ["Deliver the service", _when(case.service_due_at, zone)],
    ]
    appeal_data: list[dict[str, Any]] = []
    for ap in appeals.items:
        levels: list[list[str]] = [["Level", "Status", "Filed", "Decided"]]
        for lv in ap.levels:
            levels.append(
                [lv.label, lv.status_label, _when(lv.filed_at, zone), _when(lv.decided_at, zone)]
            )
            if lv.filed_at is None and lv.filing_due_at is not None:
                deadlines.append([f"File the {lv.label.lower()}", _when(lv.filing_due_at, zone)])
            if lv.decided_at is None and lv.decision_due_at is not None:
                deadlines.append(
                    [f"Decision on the {lv.label.lower()}", _when(lv.decision_due_at, zone)]
                )
        appeal_data.append(
            {
                "title": f"Appeal of the denial: {ap.denial_label}",
                "summary": f"Opened {_when(ap.opened_at, zone)} by {ap.opened_by}; "
                f"{ap.status_label.lower()}." + (f" {ap.close_reason}" if ap.close_reason else ""),
                "levels": levels,
            }
        )
    for esc in escalations.items:
        if esc.resolved_at is None and esc.eta is not None:
            deadlines.append(
                [f"Escalation answer promised ({esc.reason_label})", _when(esc.eta, zone)]
            )

    verified = [e for e in timeline.events if e.type == rules.VERIFIED_EVENT]
    scheduled = [e for e in timeline.events if e.type in rules.SCHEDULED_EVENTS]
    missed = [
        f"{say(e.type, e.data, zone)} ({_when(e.at, zone)})"
        for e in timeline.events
        if e.type in rules.MISSED_EVENTS
    ]
    missed += [
        f"Escalation promise missed: {esc.reason_label}"
        for esc in escalations.items
        if esc.commit_missed or (esc.promise is not None and esc.promise.value == "missed")
    ]
    ordered = "; ".join(
        f"{i.quantity} x {i.code} {i.description or i.catalog_description or ''}".strip()
        for i in case.items
    )
    data: dict[str, Any] = {
        "case_number": case.case_number,
        "member": f"{case.member.first_name} {case.member.last_name}",
        "birth_date": _day(case.member.birth_date),
        "member_id": case.coverage.member_id or "not given",
        "payer": case.coverage.payer_name or "not given",
        "status": (status_words or _words)(case.status.value),
        "disputed": "; ".join(
            a["title"].removeprefix("Appeal of the denial: ") for a in appeal_data
        )
        or "Nothing is in dispute.",
        "made_on": _when(clock.now(), zone),
        "made_by": actor.label,
        "deadlines": deadlines,
        "ordered": ordered or "nothing listed",
        "verified": _when(verified[-1].at, zone) if verified else "not verified",
        "scheduled": "; ".join(say(e.type, e.data, zone) for e in scheduled[-1:])
        or "not scheduled",
        "missed": "; ".join(missed) or "nothing",
        "events": [
            [_when(e.at, zone), say(e.type, e.data, zone), e.actor] for e in timeline.events
        ],
        "contacts": [
            [
                _when(c.started_at, zone),
                c.text,
                "no promise"
                if c.follow_up_due_at is None
                else rules.promise_words(
                    _kept(c.follow_up_due_at, c.follow_up_done_at, clock.now())
                ),
            ]
            for c in contacts.items
        ],
        "escalations": [
            [
                _when(e.opened_at, zone),
                f"{e.reason_label}: {escalation_rules.STATUS_LABELS[e.status]}"
                + (f"; {e.resolution}" if e.resolution else ""),
                "promise " + _escalation_promise(e, clock.now()),
            ]
            for e in escalations.items
        ],
        "appeals": appeal_data,
        "documents": [[a.title, f"{a.pages} page(s)", ""] for a in attachments],
        "document_pages": sum(a.pages for a in attachments),
    }
    own = render(data)
    pdf, pages = assemble(own, attachments)
    sha256 = hashlib.sha256(pdf).hexdigest()
    moves.record_event(
        session, actor, referral, rules.MADE_EVENT, clock=clock, sha256=sha256, pages=pages
    )
    return Packet(case.case_number, pdf, sha256, pages)


def _kept(due: datetime, done: datetime | None, now: datetime) -> bool | None:
    if done is not None:
        return done <= due
    return None if now <= due else False


def _escalation_promise(esc: Any, now: datetime) -> str:
    if esc.promise is not None:
        return str(esc.promise.value)
    if esc.commit_missed:
        return "missed"
    if esc.eta is not None and esc.resolved_at is None and now > esc.eta:
        return "missed"
    return "not yet due"


def render(data: dict[str, Any]) -> bytes:
    """The packet's own pages (cover to the list of documents) compiled by typst."""
    template = resources.files("careloop.packet").joinpath("packet.typ").read_bytes()
    pdf = typst.compile(template, sys_inputs={"data": json.dumps(data)})
    assert isinstance(pdf, bytes)
    return pdf


def _attachment(store: DocumentStore, d: DocumentRead) -> Attachment:
    with store.open(d.sha256) as handle:
        content = handle.read()
    title = f"{d.kind_label}, attached by {d.uploaded_by}"
    if d.media_type is MediaType.pdf:
        return Attachment(title, content, len(PdfReader(io.BytesIO(content)).pages))
    return image_attachment(title, content)


def image_attachment(title: str, content: bytes) -> Attachment:
    """An image (every frame of a TIFF) as PDF pages, one page per frame."""
    out = io.BytesIO()
    with Image.open(io.BytesIO(content)) as image:
        frames = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(image.convert("RGB"))
    frames[0].save(out, "PDF", save_all=True, append_images=frames[1:], resolution=96.0)
    return Attachment(title, out.getvalue(), len(frames))


def assemble(own: bytes, attachments: Sequence[Attachment]) -> tuple[bytes, int]:
    """Own pages then the documents, one bookmark per section (and per document), page
    labels numbering every page from 1."""
    reader = PdfReader(io.BytesIO(own))
    starts = {
        item.title: reader.get_destination_page_number(item)
        for item in reader.outline
        if not isinstance(item, list)
    }
    writer = PdfWriter()
    writer.append(reader, import_outline=False)
    own_pages = len(reader.pages)
    firsts = []
    for attachment in attachments:
        firsts.append(len(writer.pages))
        writer.append(PdfReader(io.BytesIO(attachment.pdf)), import_outline=False)
    for title in rules.SECTIONS:
        if title in starts:
            writer.add_outline_item(title=title, page_number=starts[title])
    if attachments:
        parent = writer.add_outline_item(title=f"{rules.DOCUMENTS} appended", page_number=own_pages)
        for index, (attachment, first) in enumerate(zip(attachments, firsts, strict=True), 1):
            writer.add_outline_item(
                title=f"{index}. {attachment.title}", page_number=first, parent=parent
            )
    page = len(writer.pages)
    writer.set_page_label(0, page - 1, style=PageLabelStyle.DECIMAL, start=1)
    writer.add_metadata({"/Title": "Case packet"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), page
