"""Small real files for upload tests: what an office sends (PDF, PNG, JPEG, TIFF) and
what an attacker does (archives, programs, lying types, scripted PDFs, image bombs)."""

from __future__ import annotations

import io
import zipfile

from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_javascript() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    action = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('hello');"),
        }
    )
    writer.root_object[NameObject("/OpenAction")] = writer._add_object(action)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_attachment() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.add_attachment("readme.txt", b"attached inside the PDF")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 48), frames: int = 1) -> bytes:
    first = Image.new("L", size, color=200)
    out = io.BytesIO()
    if frames > 1:
        rest = [Image.new("L", size, color=100) for _ in range(frames - 1)]
        first.save(out, format=fmt, save_all=True, append_images=rest)
    else:
        first.save(out, format=fmt)
    return out.getvalue()


def png_bomb(side: int = 20_000) -> bytes:
    """A PNG of ``side`` x ``side`` one-bit pixels: a few kilobytes that would decode to
    hundreds of megabytes."""
    out = io.BytesIO()
    Image.new("1", (side, side), color=0).save(out, format="PNG", optimize=True)
    return out.getvalue()


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("order.pdf", pdf())
    return out.getvalue()


#: The first bytes of a Windows program (a real "MZ" header and DOS stub start).
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200

HTML = b"<html><script>alert(1)</script></html>"
