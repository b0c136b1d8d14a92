"""Documents on a case, as plain rules: the kinds and their labels, what a file is by
its first bytes (never by its name), what is refused outright (archives, programs),
the limits a file must keep, and the server-made name a download carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Kind(StrEnum):
    signed_order = "signed_order"
    medical_necessity = "medical_necessity"
    progress_notes = "progress_notes"
    objective_measures = "objective_measures"
    proof_of_delivery = "proof_of_delivery"
    denial_letter = "denial_letter"
    appeal_letter = "appeal_letter"
    faxed_order = "faxed_order"
    other = "other"


KIND_LABELS: dict[Kind, str] = {
    Kind.signed_order: "Signed order or prescription",
    Kind.medical_necessity: "Certificate of medical necessity",
    Kind.progress_notes: "Progress notes",
    Kind.objective_measures: "Objective measures (oxygen readings, wound photos, mobility)",
    Kind.proof_of_delivery: "Delivery ticket or proof of delivery",
    Kind.denial_letter: "Denial letter",
    Kind.appeal_letter: "Appeal letter",
    Kind.faxed_order: "Faxed order",
    Kind.other: "Other",
}

#: The kinds a person picks when attaching (a faxed order comes through the fax inbox).
PICKABLE_KINDS = [k for k in Kind if k is not Kind.faxed_order]


class MediaType(StrEnum):
    pdf = "application/pdf"
    png = "image/png"
    jpeg = "image/jpeg"
    tiff = "image/tiff"


MEDIA_LABELS: dict[MediaType, str] = {
    MediaType.pdf: "PDF",
    MediaType.png: "image",
    MediaType.jpeg: "photo",
    MediaType.tiff: "fax image",
}

EXTENSIONS: dict[MediaType, str] = {
    MediaType.pdf: "pdf",
    MediaType.png: "png",
    MediaType.jpeg: "jpg",
    MediaType.tiff: "tif",
}


class Flag(StrEnum):
    """What a stored document is flagged with (it is kept, and shown with the warning)."""

    pdf_javascript = "pdf_javascript"
    pdf_embedded_files = "pdf_embedded_files"


FLAG_LABELS: dict[Flag, str] = {
    Flag.pdf_javascript: (
        "This PDF carries scripts. It is kept as sent; open it only in a viewer that "
        "does not run them."
    ),
    Flag.pdf_embedded_files: (
        "This PDF carries attached files. They are kept inside it, unopened; do not open "
        "them unless the sender confirms them."
    ),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one file may be. Defaults: 20 MB (the settings' figure), 500 pages, and
    40 million pixels a page (a letter page faxed at 300 dpi is about 8.4 million)."""

    max_bytes: int = 20_000_000
    max_pages: int = 500
    max_pixels: int = 40_000_000
    #: How long a file without a row (or a row without a file) is left before the sweep
    #: removes it: long enough for the slowest upload's transaction to commit.
    sweep_grace: timedelta = timedelta(hours=1)


_SIGNATURES: tuple[tuple[bytes, MediaType], ...] = (
    (b"%PDF-", MediaType.pdf),
    (b"\x89PNG\r\n\x1a\n", MediaType.png),
    (b"\xff\xd8\xff", MediaType.jpeg),
    (b"II*\x00", MediaType.tiff),
    (b"MM\x00*", MediaType.tiff),
)

#: First bytes of archives and programs: refused whatever they are called.
_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or an Office file)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an XZ archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xca\xfe\xba\xbe", "a program"),
    (b"\xcf\xfa\xed\xfe", "a program"),
    (b"\xfe\xed\xfa\xcf", "a program"),
    (b"#!", "a script"),
)

#: How many first bytes :func:`sniff` needs.
SNIFF_BYTES = 16


@dataclass(frozen=True, slots=True)
class Sniffed:
    media_type: MediaType | None
    refused_as: str | None = None


def sniff(head: bytes) -> Sniffed:
    """What a file is by its first bytes: an accepted type, or what it is refused as
    (an archive or a program), or neither (an unknown type). A PDF may start after a
    little junk (readers allow 1 KB); we do not: the header comes first."""
    for magic, what in _REFUSED:
        if head.startswith(magic):
            return Sniffed(None, what)
    for magic, media in _SIGNATURES:
        if head.startswith(magic):
            return Sniffed(media)
    return Sniffed(None)


def declared_type_lies(declared: str | None, sniffed: MediaType) -> bool:
    """True when the sender named one accepted type and the bytes are another (an
    ``image/png`` part that is a PDF, say): a polyglot or a mistake, refused either way.
    A generic or missing type (``application/octet-stream``) says nothing."""
    media = (declared or "").split(";")[0].strip().lower()
    aliases = {
        "image/jpg": "image/jpeg",
        "image/tif": "image/tiff",
        "application/x-pdf": "application/pdf",
    }
    media = aliases.get(media, media)
    accepted = {m.value for m in MediaType}
    if media in accepted:
        return media != sniffed.value
    # A named type outside the accepted ones (text/html, image/svg+xml, an executable)
    # for bytes that are an accepted type: a polyglot.
    return media not in {"", "application/octet-stream", "binary/octet-stream"}


def download_name(case_number: str, kind: Kind, document_id: int, media: MediaType) -> str:
    """The name a download carries: made here, never the sender's."""
    return f"{case_number}-{kind.value.replace('_', '-')}-{document_id}.{EXTENSIONS[media]}"


def storage_key(sha256: str) -> str:
    """Where a file lives in the store: by its SHA-256, two levels of folders."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256 in hex")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
