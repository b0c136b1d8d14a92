"""Documents on a case: orders, certificates, notes, measures, delivery tickets,
denial and appeal letters, faxes (DOMAIN.md §9). Files are checked by their content,
stored once by SHA-256, and read only by those who may read the case."""

from careloop.document.inspect import Inspection, UnreadableFileError, UnsupportedFileError
from careloop.document.rules import (
    FLAG_LABELS,
    KIND_LABELS,
    PICKABLE_KINDS,
    Flag,
    Kind,
    Limits,
    MediaType,
)
from careloop.document.schemas import AttachIn, DocumentList, DocumentRead
from careloop.document.service import Received, receive
from careloop.document.store import DocumentStore, FolderStore

__all__ = [
    "FLAG_LABELS",
    "KIND_LABELS",
    "PICKABLE_KINDS",
    "AttachIn",
    "DocumentList",
    "DocumentRead",
    "DocumentStore",
    "Flag",
    "FolderStore",
    "Inspection",
    "Kind",
    "Limits",
    "MediaType",
    "Received",
    "UnreadableFileError",
    "UnsupportedFileError",
    "receive",
]
