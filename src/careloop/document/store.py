"""The document store: files kept once each by their SHA-256.

A file goes in two steps. :meth:`DocumentStore.stage` writes the upload to a staging
area while hashing it (refusing it once it passes the size limit, without holding it in
memory); the row that names it is written in the case's transaction; only after that
transaction commits does :meth:`DocumentStore.promote` move the file into place. A
crash in between leaves a staged file without a row (swept after a grace period) or a
row whose file is still staged (the sweep finishes the move) or lost (the sweep removes
the row): never a file nobody removes, never a row that names nothing for long.

:class:`FolderStore` keeps files in a folder (``./var/documents`` by default); a cloud
object store implements the same protocol (staging and final keys under two prefixes,
promote as a copy then a delete).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from careloop.document.rules import storage_key

CHUNK = 1 << 16


class TooLargeError(Exception):
    """The file passed the size limit while it was being staged (nothing is kept)."""


@dataclass(frozen=True, slots=True)
class Staged:
    """A file written to the staging area, not yet in place."""

    token: str
    sha256: str
    size: int
    head: bytes


@dataclass(frozen=True, slots=True)
class Entry:
    """A file the store holds (in place or staged), with when it was written."""

    key: str
    sha256: str
    written_at: datetime


class DocumentStore(Protocol):
    def stage(self, source: BinaryIO, *, max_bytes: int) -> Staged:
        """Copy ``source`` into staging while hashing; :class:`TooLargeError` past
        ``max_bytes`` (the partial copy is removed)."""
        ...

    def staged_path(self, staged: Staged) -> Path:
        """A local path to the staged bytes, for checking what the file is."""
        ...

    def promote(self, staged: Staged) -> None:
        """Move the staged file into place under its SHA-256 (a copy already in place
        is kept: files are stored once)."""
        ...

    def discard(self, staged: Staged) -> None: ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """The file in place, for reading; FileNotFoundError when it is not."""
        ...

    def delete(self, sha256: str) -> None: ...

    def stored(self) -> Iterator[Entry]:
        """Every file in place."""
        ...

    def staging(self) -> Iterator[Entry]:
        """Every staged file (``key`` is the token :meth:`promote_token` takes)."""
        ...

    def promote_token(self, token: str, sha256: str) -> bool:
        """Finish the move of a staged file left behind; False when it is gone."""
        ...

    def discard_token(self, token: str) -> None: ...


class FolderStore:
    """Files under ``root``: ``root/objects/ab/cd/<sha256>`` in place, and
    ``root/staging/<sha256>.<random>`` while staged. Files are written read-only
    (0o440) and never executable."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.staging_dir = root / "staging"

    def _ensure(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)

    def stage(self, source: BinaryIO, *, max_bytes: int) -> Staged:
        self._ensure()
        temp = self.staging_dir / f"incoming.{secrets.token_hex(12)}"
        digest = hashlib.sha256()
        size = 0
        head = b""
        try:
            with open(temp, "xb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLargeError
                    if len(head) < 64:
                        head = (head + chunk)[:64]
                    digest.update(chunk)
                    out.write(chunk)
            sha = digest.hexdigest()
            token = f"{sha}.{secrets.token_hex(8)}"
            os.replace(temp, self.staging_dir / token)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return Staged(token=token, sha256=sha, size=size, head=head)

    def staged_path(self, staged: Staged) -> Path:
        return self.staging_dir / _safe_token(staged.token)

    def promote(self, staged: Staged) -> None:
        if not self.promote_token(staged.token, staged.sha256):
            raise FileNotFoundError("the staged file is gone")

    def promote_token(self, token: str, sha256: str) -> bool:
        source = self.staging_dir / _safe_token(token)
        if not source.exists():
            return False
        target = self._path(sha256)
        if target.exists():
            source.unlink(missing_ok=True)
            return True
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(source, 0o440)
        os.replace(source, target)
        return True

    def discard(self, staged: Staged) -> None:
        self.discard_token(staged.token)

    def discard_token(self, token: str) -> None:
        (self.staging_dir / _safe_token(token)).unlink(missing_ok=True)

    def _path(self, sha256: str) -> Path:
        return self.objects / storage_key(sha256)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        return open(self._path(sha256), "rb")

    def delete(self, sha256: str) -> None:
        self._path(sha256).unlink(missing_ok=True)

    def stored(self) -> Iterator[Entry]:
        if not self.objects.exists():
            return
        for path in self.objects.glob("*/*/*"):
            yield Entry(path.name, path.name, _mtime(path))

    def staging(self) -> Iterator[Entry]:
        if not self.staging_dir.exists():
            return
        for path in self.staging_dir.iterdir():
            sha = path.name.split(".", 1)[0]
            yield Entry(path.name, sha, _mtime(path))


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _safe_token(token: str) -> str:
    if "/" in token or "\\" in token or token.startswith("."):
        raise ValueError("not a staging token")
    return token
