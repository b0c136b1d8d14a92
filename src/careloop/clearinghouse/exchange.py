"""How X12 files travel: a drop folder shared with a clearinghouse, or (the seam) a
real-time HTTP connection that answers each request at once.

Folder layout (``careloop x12 receive`` and ``careloop payer-sim`` agree on it):

    <folder>/outbound/           files CareLoop sends (the clearinghouse picks them up)
    <folder>/inbound/            files the clearinghouse drops for CareLoop
    <folder>/inbound/processed/  inbound files read (applied, or ignored with a reason)
    <folder>/inbound/rejected/   inbound files that could not be read (a 999 went back)

Every file is written under a temporary name and renamed into place, so a reader never
sees half a file.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from careloop.clearinghouse.rules import MAX_FILE_BYTES

SUFFIX = ".x12"
#: What is read of a file over the limit: its ISA and GS, to address the refusal.
_HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Incoming:
    name: str
    text: str
    #: The file's size when it is over the exchange's limit: ``text`` then holds only
    #: its first bytes, and the rest is never read.
    oversize: int | None = None


class Exchange(Protocol):
    """The seam between the clearinghouse domain and the wire."""

    def send(self, name: str, payload: str) -> str | None:
        """Hand one file over. A real-time connection returns the payer's answer (an
        X12 interchange) at once; a drop folder returns None (it comes later)."""
        ...

    def incoming(self) -> Iterator[Incoming]:
        """Files waiting to be read, oldest first, one at a time."""
        ...

    def settle(self, item: Incoming, *, accepted: bool) -> None:
        """Put a read file away (processed, or rejected)."""
        ...


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    with temporary.open("w", encoding="ascii", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class FolderExchange:
    """The clearinghouse drop folder."""

    def __init__(self, folder: Path, *, max_bytes: int = MAX_FILE_BYTES) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.outbound = folder / "outbound"
        self.inbound = folder / "inbound"
        self.processed = self.inbound / "processed"
        self.rejected = self.inbound / "rejected"
        for path in (self.outbound, self.inbound, self.processed, self.rejected):
            path.mkdir(parents=True, exist_ok=True)

    def send(self, name: str, payload: str) -> str | None:
        write_atomically(self.outbound / name, payload)
        return None

    def incoming(self) -> Iterator[Incoming]:
        """Each waiting file in turn (one in memory at a time); a file over ``max_bytes``
        is not read beyond its head."""
        files = sorted(
            (p for p in self.inbound.iterdir() if p.is_file() and not p.name.startswith(".")),
            key=lambda p: (p.stat().st_mtime_ns, p.name),
        )
        for path in files:
            size = path.stat().st_size
            if size > self.max_bytes:
                with path.open("rb") as handle:
                    head = handle.read(_HEAD_BYTES)
                yield Incoming(path.name, head.decode("ascii", errors="replace"), oversize=size)
                continue
            # A byte that is not ASCII reads as U+FFFD, which the envelope refuses by name.
            yield Incoming(path.name, path.read_bytes().decode("ascii", errors="replace"))

    def settle(self, item: Incoming, *, accepted: bool) -> None:
        source = self.inbound / item.name
        if source.exists():
            os.replace(source, (self.processed if accepted else self.rejected) / item.name)


class HttpExchange:
    """A real-time connection: each file is POSTed to the clearinghouse's URL and the
    answer is the response body (CAQH CORE's real-time mode carries the same X12)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(
                "the clearinghouse URL must be https (plain http only on this machine)"
            )
        self.url = url
        self.timeout = timeout

    def send(self, name: str, payload: str) -> str | None:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url,
            data=payload.encode("ascii"),
            headers={"Content-Type": "application/edi-x12", "X-File-Name": name},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
            body: bytes = response.read()
        # A byte that is not ASCII is read as U+FFFD, which the envelope refuses by
        # segment and element (a 999), as the folder does: a strict decode would fail
        # the pass after the file left, and the next pass would send it again.
        return body.decode("ascii", errors="replace") or None

    def incoming(self) -> Iterator[Incoming]:
        return iter(())

    def settle(self, item: Incoming, *, accepted: bool) -> None:
        return None
