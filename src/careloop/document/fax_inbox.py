"""The fax inbox folder (``careloop fax watch DIR``): each file dropped there is staged
and checked like any upload, read (text layer or OCR), recorded as a draft referral in
its own transaction, and put in the document store after the commit; the file then moves
to ``DIR/read/`` (or ``DIR/refused/`` with a note saying why)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.db.session import Database
from careloop.document import faxes, service
from careloop.document.rules import Limits
from careloop.document.store import DocumentStore, FolderStore
from careloop.referral import refusals


def store_for(root: Path) -> DocumentStore:
    return FolderStore(root)


def read_inbox(
    inbox: Path,
    database: Database,
    *,
    store: DocumentStore,
    max_bytes: int,
    clock: Clock,
    settle_seconds: float = 2,
) -> Iterator[str]:
    """Read every settled file in ``inbox``; yields one plain line per file (no member
    data: the fax's number and how many fields were read)."""
    done, refused = inbox / "read", inbox / "refused"
    limits = Limits(max_bytes=max_bytes)
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if time.time() - path.stat().st_mtime < settle_seconds:
            continue
        try:
            with open(path, "rb") as source:
                received = service.receive(store, source, None, limits)
        except DomainError as exc:
            refused.mkdir(exist_ok=True)
            os.replace(path, refused / path.name)
            (refused / f"{path.name}.why.txt").write_text(exc.detail + "\n")
            with database.unit_of_work() as session:
                refusals.record(
                    session, SYSTEM_ACTOR, "fax", [("file", exc.code)], clock=clock,
                    rolled_back=False,
                )  # fmt: skip
            yield f"refused {path.name}: {exc.detail}"
            continue
        try:
            reading = faxes.read_staged(store, received)
            with database.unit_of_work() as session:
                fax = faxes.record_fax(
                    session, SYSTEM_ACTOR, received, reading, source="inbox", clock=clock
                )
        except BaseException:
            store.discard(received.staged)
            raise
        store.promote(received.staged)
        done.mkdir(exist_ok=True)
        os.replace(path, done / path.name)
        yield f"fax {fax.id}: {len(fax.fields)} fields read ({fax.method}), waiting for intake"
