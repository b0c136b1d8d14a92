"""Documents on a case over HTTP: a referrer answers the missing-order finding with the
signed order, everyone who may read the case reads its documents (audited, always as
attachments) and no one else; every abusive upload is refused with nothing stored; a
crash between the row and the file leaves nothing the sweep does not put right."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.app import create_app
from careloop.audit.models import AuditRecord
from careloop.core.actor import SYSTEM_ACTOR, Role
from careloop.core.clock import FixedClock
from careloop.db.session import Database
from careloop.document import FolderStore
from careloop.document import service as document_service
from careloop.document.models import Document
from careloop.document.store import Staged
from careloop.referral.members import link_member_account
from careloop.referral.models import ReferralEvent
from careloop.settings import Settings
from tests.api.conftest import Tokens
from tests.factories import files
from tests.factories.identity import make_user
from tests.factories.referral import referral_payload

PNG = files.image("PNG")


def submit(client: TestClient, token: str, clock: FixedClock, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/referrals",
        json=referral_payload(clock.now(), **overrides),
        headers=Tokens.header(token),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def upload(
    client: TestClient,
    token: str,
    case: str,
    content: bytes,
    *,
    kind: str = "other",
    name: str = "scan.pdf",
    media: str = "application/octet-stream",
    **fields: str,
) -> Any:
    return client.post(
        f"/api/v1/referrals/{case}/documents",
        files={"file": (name, content, media)},
        data={"kind": kind, **fields},
        headers=Tokens.header(token),
    )


def store_of(app: FastAPI) -> FolderStore:
    store: FolderStore = app.state.document_store
    return store


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def count_documents(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Document)) or 0


def test_a_referrer_attaches_the_missing_signed_order_and_the_finding_clears(
    client: TestClient, app: FastAPI, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    case = submit(client, tokens.hartford, clock, signed_order=...)
    cn = case["case_number"]
    assert case["status"] == "needs_clarification"
    assert "signed_order_missing" in {f["code"] for f in case["findings"]}
    order = files.pdf(pages=2)

    # The order without its signature date cannot clear the finding: refused, nothing kept.
    refused = upload(client, tokens.hartford, cn, order, kind="signed_order")
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["signed_on"]
    assert count_documents(session) == 0
    assert files_in(store_of(app).root) == []

    signed_on = (clock.now().date() - timedelta(days=2)).isoformat()
    made = upload(client, tokens.hartford, cn, order, kind="signed_order", signed_on=signed_on)
    assert made.status_code == 201, made.text
    doc = made.json()
    assert (doc["kind"], doc["media_type"], doc["pages"]) == ("signed_order", "application/pdf", 2)
    assert doc["sha256"] == hashlib.sha256(order).hexdigest()
    assert doc["kind_label"] == "Signed order or prescription"

    after = client.get(f"/api/v1/referrals/{cn}", headers=Tokens.header(tokens.hartford)).json()
    assert "signed_order_missing" not in {f["code"] for f in after["findings"]}
    assert after["signed_order"]["signed_on"] == signed_on
    assert after["status"] != "needs_clarification"
    types = [
        e["type"]
        for e in client.get(
            f"/api/v1/referrals/{cn}/timeline", headers=Tokens.header(tokens.intake)
        ).json()["events"]
    ]
    assert types.index("document.attached") < types.index("referral.information_supplied")

    # Stored once, in place, by its hash; nothing left in staging; the row confirmed.
    store = store_of(app)
    assert store.exists(doc["sha256"])
    assert list(store.staging()) == []
    again = upload(client, tokens.intake, cn, order, kind="progress_notes")
    assert again.status_code == 201
    assert len(list(store.stored())) == 1
    assert session.scalars(select(Document.staging_token)).all() == [None, None]

    listed = client.get(f"/api/v1/referrals/{cn}/documents", headers=Tokens.header(tokens.hartford))
    assert [d["kind"] for d in listed.json()["items"]] == ["progress_notes", "signed_order"]

    got = client.get(doc["download"], headers=Tokens.header(tokens.hartford))
    assert got.status_code == 200
    assert got.content == order
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == (
        f'attachment; filename="{cn}-signed-order-{doc["id"]}.pdf"'
    )
    actions = session.scalars(select(AuditRecord.action).where(AuditRecord.case_number == cn)).all()
    assert {"document.attached", "document.list", "document.read", "document.download"} <= set(
        actions
    )


def test_who_may_read_a_document_follows_who_may_read_the_case(
    client: TestClient, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    cn = submit(client, tokens.hartford, clock)["case_number"]
    doc = upload(client, tokens.intake, cn, PNG, kind="objective_measures", media="image/png")
    assert doc.status_code == 201, doc.text
    doc_id = doc.json()["id"]
    other_cn = submit(client, tokens.albany, clock, external_id="ALB-1")["case_number"]
    _, linked_member = make_user(session, clock=clock, role=_member_role(), email="m2@example.test")
    link_member_account(session, SYSTEM_ACTOR, cn, "m2@example.test", clock=clock)
    session.flush()

    def answer(token: str, url: str) -> tuple[int, Any]:
        r = client.get(url, headers=Tokens.header(token))
        body = r.json() if "json" in r.headers.get("content-type", "") else r.content
        if isinstance(body, dict):
            body.pop("request_id", None)
            body.pop("instance", None)
            for number in (cn, other_cn, "CL-2026-999999"):
                body["detail"] = body["detail"].replace(number, "<case>")
        return r.status_code, body

    base = f"/api/v1/referrals/{cn}/documents"
    missing = "/api/v1/referrals/CL-2026-999999/documents"
    assert other_cn != cn
    for token in (tokens.albany, tokens.provider, tokens.member):
        # A stranger's case answers exactly like a case that does not exist.
        assert answer(token, base)[0] == 404
        assert answer(token, base) == answer(token, missing)
        assert answer(token, f"{base}/{doc_id}") == answer(token, f"{missing}/{doc_id}")
        refused = upload(client, token, cn, PNG, media="image/png")
        assert refused.status_code in {403, 404}
    for token in (tokens.hartford, tokens.intake, tokens.nurse, linked_member):
        assert answer(token, f"{base}/{doc_id}") == (200, PNG)
    # A document of another case, through this case, is missing like any unknown id.
    assert answer(tokens.albany, f"/api/v1/referrals/{other_cn}/documents/{doc_id}") == answer(
        tokens.albany, f"/api/v1/referrals/{other_cn}/documents/2147483000"
    )
    assert answer(tokens.albany, f"/api/v1/referrals/{other_cn}/documents/{doc_id}")[0] == 404
    # A member reads but does not attach; an administrator does neither.
    assert upload(client, linked_member, cn, PNG, media="image/png").status_code == 403
    assert answer(tokens.admin, base)[0] == 403
    assert count_documents(session) == 1


def _member_role() -> Role:
    return Role.member


ABUSE: list[tuple[str, bytes, str, str, int]] = [
    # (what, content, sent name, sent type, expected status)
    ("a program named .pdf", files.EXE, "order.pdf", "application/pdf", 415),
    ("a program sent as octet-stream", files.EXE, "order.exe", "application/octet-stream", 415),
    ("a ZIP archive", files.zip_archive(), "orders.zip", "application/zip", 415),
    ("HTML with script named .pdf", files.HTML, "order.pdf", "application/pdf", 415),
    ("a PNG that says it is a PDF", PNG, "order.pdf", "application/pdf", 415),
    ("a PDF that says it is HTML", files.pdf(), "order.html", "text/html", 415),
    ("a PDF header on garbage", b"%PDF-1.7\n" + b"\x00garbage" * 50, "x.pdf", "", 422),
    ("a PNG header on garbage", b"\x89PNG\r\n\x1a\n" + b"junk" * 40, "x.png", "image/png", 422),
    ("a decompression bomb", files.png_bomb(), "scan.png", "image/png", 422),
    ("an empty file", b"", "empty.pdf", "application/pdf", 422),
]


def test_abusive_uploads_are_refused_and_nothing_is_stored(
    client: TestClient, app: FastAPI, session: Session, tokens: Tokens, clock: FixedClock
) -> None:
    cn = submit(client, tokens.hartford, clock)["case_number"]
    events_before = session.scalar(select(func.count()).select_from(ReferralEvent))
    for what, content, name, media, status in ABUSE:
        response = upload(client, tokens.hartford, cn, content, name=name, media=media)
        assert response.status_code == status, (what, response.text)
        problem = response.json()
        assert problem["status"] == status, what
    # Not multipart at all; a form with no file; an unknown kind; a control character.
    as_json = client.post(
        f"/api/v1/referrals/{cn}/documents",
        json={"kind": "other"},
        headers=Tokens.header(tokens.hartford),
    )
    assert as_json.status_code == 415
    no_file = client.post(
        f"/api/v1/referrals/{cn}/documents",
        data={"kind": "other"},
        files={"other": ("x.txt", b"x", "text/plain")},
        headers=Tokens.header(tokens.hartford),
    )
    assert no_file.status_code == 422
    assert no_file.json()["errors"][0]["field"] == "file"
    bad_kind = upload(client, tokens.hartford, cn, PNG, kind="passport", media="image/png")
    assert bad_kind.status_code == 422
    assert bad_kind.json()["errors"][0]["field"] == "kind"
    bidi = upload(client, tokens.hartford, cn, PNG, kind="other", note="x\u202ey")
    assert bidi.status_code == 422
    assert count_documents(session) == 0
    assert session.scalar(select(func.count()).select_from(ReferralEvent)) == events_before
    assert files_in(store_of(app).root) == []

    # Names with paths or control characters are never used: the server names files.
    for name in ("../../etc/passwd", "..\\..\\x.png", "/var/www/x.png", "order\u202efdp.exe"):
        made = upload(client, tokens.hartford, cn, PNG, name=name, media="image/png")
        assert made.status_code == 201, made.text
    stored = files_in(store_of(app).root)
    assert [p.name for p in stored] == [hashlib.sha256(PNG).hexdigest()]
    assert all(store_of(app).root in p.parents for p in stored)

    # Scripted or file-carrying PDFs are stored, flagged, and say so.
    for content, flag in (
        (files.pdf_with_javascript(), "pdf_javascript"),
        (files.pdf_with_attachment(), "pdf_embedded_files"),
    ):
        made = upload(client, tokens.hartford, cn, content, media="application/pdf")
        assert made.status_code == 201, made.text
        assert made.json()["flags"] == [flag]
        assert made.json()["warnings"]
    # A fax image with several pages (TIFF) and a photo (JPEG) are what they are.
    tiff = upload(client, tokens.hartford, cn, files.image("TIFF", frames=3))
    assert (tiff.json()["media_type"], tiff.json()["pages"]) == ("image/tiff", 3)
    jpeg = upload(client, tokens.hartford, cn, files.image("JPEG"), media="image/jpg")
    assert jpeg.json()["media_type"] == "image/jpeg"


def _raw_request(base: str, head: str, body_parts: list[bytes]) -> bytes:
    """Send ``head`` and then the body parts one by one, reading the answer as soon as
    the server gives one; returns the answer's first bytes."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        sock.settimeout(0.3)
        for part in body_parts:
            try:
                answer = sock.recv(4096)
                if answer:
                    return answer
            except TimeoutError:
                pass
            try:
                sock.sendall(part)
            except OSError:
                break
        sock.settimeout(10)
        return sock.recv(4096)


def test_an_oversize_upload_is_refused_before_the_body_is_read(
    settings: Settings, database: Database, clock: FixedClock, tokens: Tokens, tmp_path: Path
) -> None:
    small = settings.model_copy(update={"max_document_bytes": 50_000})
    app = create_app(small, database=database, clock=clock)
    url = "/api/v1/referrals/CL-2026-999999/documents"
    auth = f"Authorization: Bearer {tokens.hartford}\r\n"

    def declared(base: str) -> bytes:
        # 100 MB announced; not one byte of it is sent.
        head = (
            f"POST {url} HTTP/1.1\r\nHost: x\r\n{auth}"
            "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000000\r\n\r\n"
        )
        return _raw_request(base, head, [])

    def chunked(base: str) -> bytes:
        # 20 chunks of 10 kB without a length: refused once the limit is passed, while
        # the rest (and the final chunk) has not been sent.
        head = (
            f"POST {url} HTTP/1.1\r\nHost: x\r\n{auth}"
            "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        part = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n'
            b"Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
        )
        first = part + b"x" * (10_000 - len(part))

        def chunk(data: bytes) -> bytes:
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"

        return _raw_request(base, head, [chunk(first)] + [chunk(b"x" * 10_000)] * 19)

    for raw in serve(app, lambda base: [declared(base), chunked(base)]):
        assert raw.startswith(b"HTTP/1.1 413"), raw[:200]
    assert files_in(tmp_path / "documents") == []


def serve(app: FastAPI, talk: Callable[[str], list[bytes]]) -> list[bytes]:
    """Serve ``app`` with uvicorn on a loopback port for the length of ``talk``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped"
            time.sleep(0.02)
        return talk(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


class _FailingStore(FolderStore):
    """A store whose move into place fails (the process dies right after the commit)."""

    def promote(self, staged: Staged) -> None:
        raise OSError("disk gone")


def test_a_crash_between_the_row_and_the_file_is_put_right_by_the_sweep(
    client: TestClient,
    app: FastAPI,
    session: Session,
    tokens: Tokens,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    cn = submit(client, tokens.hartford, clock)["case_number"]
    failing = _FailingStore(tmp_path / "crash")
    app.state.document_store = failing
    store = FolderStore(failing.root)
    grace = timedelta(hours=1)

    # 1. The row committed, the move failed: the upload succeeded, the file waits staged.
    first = upload(client, tokens.hartford, cn, PNG, media="image/png")
    assert first.status_code == 201, first.text
    assert not store.exists(first.json()["sha256"])
    assert len(list(store.staging())) == 1
    # 2. The same, and then the staged file was lost too (a disk wiped on restart).
    second_png = files.image("PNG", size=(30, 30))
    second = upload(client, tokens.hartford, cn, second_png, media="image/png")
    assert second.status_code == 201
    lost = next(e for e in store.staging() if e.sha256 == second.json()["sha256"])
    store.discard_token(lost.key)
    # 3. Killed before the commit: a staged file no row names.
    orphan = store.stage(_bytes_io(files.image("PNG", size=(20, 20))), max_bytes=10**6)
    # 4. A file in place that no row names.
    stray = store.stage(_bytes_io(files.pdf()), max_bytes=10**6)
    store.promote(stray)

    # Within the grace period nothing is touched (an upload may still be committing).
    assert +document_service.sweep(session, store, clock=clock, grace=grace) == {}
    later = FixedClock(clock.now() + timedelta(hours=2))
    _age(store, when=later.now() - timedelta(hours=3))
    done = document_service.sweep(session, store, clock=later, grace=grace)
    assert done == {
        "documents_finished": 1,
        "documents_lost": 1,
        "staged_removed": 1,
        "files_removed": 1,
    }
    assert store.exists(first.json()["sha256"])
    assert not store.exists(stray.sha256)
    assert list(store.staging()) == []
    assert not any(p.name.startswith(orphan.sha256) for p in files_in(store.root))
    rows = session.scalars(select(Document)).all()
    assert [(d.id, d.staging_token) for d in rows] == [(first.json()["id"], None)]
    events = [
        e.type for e in session.scalars(select(ReferralEvent).order_by(ReferralEvent.id)).all()
    ]
    assert events[-1] == "document.lost"
    # The first document reads back whole.
    app.state.document_store = store
    got = client.get(first.json()["download"], headers=Tokens.header(tokens.hartford))
    assert got.content == PNG


def _bytes_io(content: bytes) -> io.BytesIO:
    return io.BytesIO(content)


def _age(store: FolderStore, *, when: datetime) -> None:
    """Date every file of the store ``when`` (the sweep reads modification times, and
    the test's clock does not move the file system's)."""
    stamp = when.timestamp()
    for path in files_in(store.root):
        os.utime(path, (stamp, stamp))


@pytest.fixture(autouse=True)
def _no_real_var(settings: Settings) -> None:
    assert "var" not in settings.document_dir.parts[:1]
