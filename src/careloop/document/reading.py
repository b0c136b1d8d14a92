"""The text of a faxed or scanned order, page by page: the PDF's text layer when it has
one (pypdf), otherwise OCR of the page images (Debian's tesseract through pytesseract),
with the OCR's confidence per line. Also the page images an intake agent looks at
beside the draft."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pytesseract
from PIL import Image, ImageOps
from pypdf import PdfReader

from careloop.document.fax import Line
from careloop.document.rules import MediaType

#: Below this many characters of text layer per page, a PDF is a scan.
MIN_TEXT = 40
#: OCR reads a page at about 300 dpi; larger scans are scaled down first.
OCR_MAX_SIDE = 3400
#: Page images shown beside the draft.
SHOWN_WIDTH = 1000


@dataclass(frozen=True, slots=True)
class Reading:
    lines: list[Line]
    #: "text layer" or "OCR".
    method: str
    pages: int


def read(path: Path, media: MediaType) -> Reading:
    """Every line of every page, and how it was read."""
    if media is MediaType.pdf:
        reader = PdfReader(path)
        texts = [page.extract_text() or "" for page in reader.pages]
        if sum(len(t.strip()) for t in texts) >= MIN_TEXT * len(texts):
            lines = [
                Line(page, number, text.strip(), 1.0)
                for page, content in enumerate(texts, start=1)
                for number, text in enumerate(content.splitlines(), start=1)
                if text.strip()
            ]
            return Reading(lines, "text layer", len(texts))
    lines = []
    count = 0
    for count, image in enumerate(page_images(path, media), start=1):
        lines += _ocr(image, count)
    return Reading(lines, "OCR", count)


def page_images(path: Path | BinaryIO, media: MediaType) -> Iterator[Image.Image]:
    """The pages as images: a scanned PDF's page image (its largest), or an image's
    frames (a fax TIFF has one per page)."""
    if media is MediaType.pdf:
        for page in PdfReader(path).pages:
            images = list(page.images)
            if not images:
                continue
            biggest = max(images, key=lambda i: len(i.data))
            yield Image.open(io.BytesIO(biggest.data))
        return
    with Image.open(path) as image:
        for index in range(int(getattr(image, "n_frames", 1))):
            image.seek(index)
            yield image.copy()


def page_png(path: Path | BinaryIO, media: MediaType, page: int) -> bytes | None:
    """Page ``page`` (from 1) as a PNG to show, or None when the file has no image of it
    (a PDF with a text layer: its text is shown instead)."""
    for number, image in enumerate(page_images(path, media), start=1):
        if number != page:
            continue
        shown = image.convert("L")
        if shown.width > SHOWN_WIDTH:
            shown = shown.resize((SHOWN_WIDTH, round(shown.height * SHOWN_WIDTH / shown.width)))
        out = io.BytesIO()
        shown.save(out, format="PNG", optimize=True)
        return out.getvalue()
    return None


def _ocr(image: Image.Image, page: int) -> list[Line]:
    gray = ImageOps.grayscale(image)
    if max(gray.size) > OCR_MAX_SIDE:
        gray.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE))
    data = pytesseract.image_to_data(gray, output_type=pytesseract.Output.DICT, config="--psm 4")
    grouped: dict[tuple[int, int, int], list[tuple[str, float]]] = {}
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if not word.strip() or conf < 0:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        grouped.setdefault(key, []).append((word, conf))
    lines = []
    for number, key in enumerate(sorted(grouped), start=1):
        words = grouped[key]
        text = " ".join(w for w, _ in words)
        confidence = sum(c for _, c in words) / len(words) / 100
        lines.append(Line(page, number, text, round(confidence, 3)))
    return lines
