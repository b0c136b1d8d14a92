"""What a staged file really is: its first bytes name the type (rules.sniff), then the
library for that type must open it. Images are measured before anything is decoded (a
decompression bomb is refused on its header); PDFs are parsed with a page limit and
searched for scripts and attached files, which are flagged, not refused (a clinic's PDF
export may carry either; the file is served only as an attachment, never rendered)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from careloop.core.errors import DomainError, FieldError, RuleViolationError
from careloop.document.rules import Flag, Limits, MediaType, declared_type_lies, sniff


class UnsupportedFileError(DomainError):
    code = "unsupported_file_type"
    status = 415
    title = "This kind of file is not accepted"


class UnreadableFileError(RuleViolationError):
    code = "unreadable_file"
    title = "The file cannot be read as what it claims to be"


@dataclass(frozen=True, slots=True)
class Inspection:
    media_type: MediaType
    pages: int
    flags: tuple[Flag, ...] = field(default=())


ACCEPTED = "PDF, PNG, JPEG or TIFF"


def inspect(path: Path, head: bytes, declared: str | None, limits: Limits) -> Inspection:
    """Check the staged file at ``path``; 415 for a type not accepted (or lying about
    itself), 422 for a file of an accepted type that does not open or passes a limit."""
    sniffed = sniff(head)
    if sniffed.refused_as:
        raise UnsupportedFileError(
            f"The file is {sniffed.refused_as}; archives and programs are never accepted. "
            f"Send a {ACCEPTED}.",
            field="file",
        )
    if sniffed.media_type is None:
        raise UnsupportedFileError(
            f"The file's content is not a {ACCEPTED} (whatever its name says).", field="file"
        )
    media = sniffed.media_type
    if declared_type_lies(declared, media):
        raise UnsupportedFileError(
            f"The file was sent as {str(declared)[:60]!r} but its content is "
            f"{media.value}: send it as what it is.",
            field="file",
        )
    if media is MediaType.pdf:
        return _pdf(path, limits)
    return _image(path, media, limits)


def _unreadable(message: str) -> UnreadableFileError:
    return UnreadableFileError(message, errors=[FieldError("file", message)])


def _image(path: Path, media: MediaType, limits: Limits) -> Inspection:
    expected = {MediaType.png: "PNG", MediaType.jpeg: "JPEG", MediaType.tiff: "TIFF"}[media]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=[expected]) as image:
                frames = int(getattr(image, "n_frames", 1))
                if frames > limits.max_pages:
                    raise _unreadable(f"The image has more than {limits.max_pages} pages.")
                for index in range(frames):
                    if frames > 1:
                        image.seek(index)
                    width, height = image.size
                    # Measured from the header, before a pixel is decoded.
                    if width * height > limits.max_pixels:
                        raise _unreadable(
                            f"The image is {width} by {height} pixels, more than "
                            f"{limits.max_pixels:,} a page: refused as a possible "
                            "decompression bomb."
                        )
                    image.load()
    except UnreadableFileError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _unreadable(
            "The image is too large to open: refused as a decompression bomb."
        ) from None
    except Exception:
        raise _unreadable(
            f"The file starts like a {expected} image but does not open as one."
        ) from None
    return Inspection(media, frames)


_SCRIPT_KEYS = ("/JavaScript", "/JS")


def _pdf(path: Path, limits: Limits) -> Inspection:
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise _unreadable("The PDF is password-protected: send it without a password.")
        pages = len(reader.pages)
        if pages == 0:
            raise _unreadable("The PDF has no pages.")
        if pages > limits.max_pages:
            raise _unreadable(f"The PDF has {pages} pages, more than {limits.max_pages}.")
        flags = _pdf_flags(reader, path)
    except UnreadableFileError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError, OSError):
        raise _unreadable("The file starts like a PDF but does not open as one.") from None
    return Inspection(MediaType.pdf, pages, tuple(sorted(flags)))


def _pdf_flags(reader: Any, path: Path) -> set[Flag]:
    flags: set[Flag] = set()
    root = reader.trailer["/Root"]
    names = root.get("/Names")
    names = names.get_object() if names is not None else {}
    if "/JavaScript" in names or _has_script(root.get("/OpenAction")) or "/AA" in root:
        flags.add(Flag.pdf_javascript)
    if "/EmbeddedFiles" in names:
        flags.add(Flag.pdf_embedded_files)
    for page in reader.pages:
        if "/AA" in page:
            flags.add(Flag.pdf_javascript)
        for ref in page.get("/Annots") or []:
            annot = ref.get_object()
            if annot.get("/Subtype") == "/FileAttachment":
                flags.add(Flag.pdf_embedded_files)
            if _has_script(annot.get("/A")) or "/AA" in annot:
                flags.add(Flag.pdf_javascript)
    # Objects inside compressed streams escape the walk above only when they are not
    # reachable from the catalogue; the raw bytes catch the plain-text spellings too.
    raw = path.read_bytes()
    if b"/JavaScript" in raw or b"/JS " in raw or b"/JS(" in raw or b"/JS<" in raw:
        flags.add(Flag.pdf_javascript)
    if b"/EmbeddedFile" in raw:
        flags.add(Flag.pdf_embedded_files)
    return flags


def _has_script(action: Any) -> bool:
    if action is None:
        return False
    action = action.get_object()
    if not hasattr(action, "get"):
        return False
    return action.get("/S") == "/JavaScript" or any(k in action for k in _SCRIPT_KEYS)
