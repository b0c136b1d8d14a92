"""The case packet: how long one takes next to compiling the same pages with typst alone.

    PYTHONPATH=src .venv/bin/python bench/packet.py            # 300 events, 40 document pages
    PYTHONPATH=src .venv/bin/python bench/packet.py --events 300 --runs 5

A case with ``--events`` timeline events, 30 contacts, 5 escalations, an appeal with two
levels and 40 document pages (three PDFs of 10 pages and 10 PNG scans). The packet is made
as ``packet.service`` makes it: typst lays the packet's own pages out, pypdf appends the
documents (images converted to pages), adds the bookmarks and page labels, and the
SHA-256 is taken. The baseline, in the same run, compiles with typst alone the same own
pages plus 40 pages of text (the document pages as typst would set them). Both are the
median of ``--runs`` runs; the target is under 5 s and within 2x of the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import time
from pathlib import Path

import typst
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from careloop.packet import service  # noqa: E402

TEXT_PAGES = "\n".join(
    f"= Page {n}\n" + "Clinical notes, measures and orders for the case. " * 60 + "\n#pagebreak()"
    for n in range(1, 11)
)


def document_pdf(pages: int) -> bytes:
    body = "\n".join(
        f"= Page {n}\n"
        + "Clinical notes, measures and orders for the case. " * 60
        + ("\n#pagebreak()" if n < pages else "")
        for n in range(1, pages + 1)
    )
    pdf = typst.compile(body.encode())
    assert isinstance(pdf, bytes)
    return pdf


def scan(n: int) -> bytes:
    image = Image.new("RGB", (850, 1100), (250, 250, 245))
    for y in range(100, 1000, 24):
        image.paste((40, 40, 40), (80, y, 80 + (y * 7 + n * 13) % 600 + 100, y + 6))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def case_data(events: int, document_pages: int) -> dict[str, object]:
    when = "March 3, 2026 09:30 AM"
    return {
        "case_number": "CL-2026-000123",
        "member": "Ana Lima",
        "birth_date": "May 4, 1950",
        "member_id": "W123456789",
        "payer": "Harbor Health Plan",
        "status": "in service",
        "disputed": "Not medically necessary",
        "made_on": when,
        "made_by": "Casey Morgan",
        "deadlines": [["Deliver the service", when], ["File the second level", when]],
        "ordered": "1 x E1390 Oxygen concentrator",
        "verified": when,
        "scheduled": "Delivery scheduled for March 9, 2026",
        "missed": "Service due time missed (March 8, 2026 05:00 PM)",
        "events": [
            [when, f"Step {n} of the case, said in plain words", "Casey Morgan"]
            for n in range(events)
        ],
        "contacts": [
            [when, f"Call with the caregiver about delivery, number {n}", "kept"] for n in range(30)
        ],
        "escalations": [[when, "Service delay: resolved", "promise kept"] for _ in range(5)],
        "appeals": [
            {
                "title": "Appeal of the denial: Not medically necessary",
                "summary": "Opened March 4, 2026 by Casey Morgan; closed.",
                "levels": [
                    ["Level", "Status", "Filed", "Decided"],
                    ["First-level appeal", "Upheld", when, when],
                    ["Second-level appeal", "Overturned", when, when],
                ],
            }
        ],
        "documents": [[f"Document {n}", "page(s)", ""] for n in range(13)],
        "document_pages": document_pages,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    pdfs = [document_pdf(10) for _ in range(3)]
    scans = [scan(n) for n in range(10)]
    data = case_data(args.events, 40)
    template = (ROOT / "src/careloop/packet/packet.typ").read_bytes()

    def packet() -> tuple[bytes, int]:
        attachments = [service.Attachment(f"Order {n}", pdf, 10) for n, pdf in enumerate(pdfs)]
        attachments += [service.image_attachment(f"Scan {n}", png) for n, png in enumerate(scans)]
        pdf, pages = service.assemble(service.render(data), attachments)
        hashlib.sha256(pdf).hexdigest()
        return pdf, pages

    def bare() -> int:
        own = typst.compile(template, sys_inputs={"data": service.json.dumps(data)})
        text = typst.compile(
            (TEXT_PAGES + "\n" + TEXT_PAGES + "\n" + TEXT_PAGES + "\n" + TEXT_PAGES).encode()
        )
        assert isinstance(own, bytes) and isinstance(text, bytes)
        return len(own) + len(text)

    packet()
    bare()
    packet_times, bare_times = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        _pdf, pages = packet()
        packet_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare()
        bare_times.append(time.perf_counter() - start)
    made, baseline = statistics.median(packet_times), statistics.median(bare_times)
    print(f"packet ({args.events} timeline events, 40 document pages, {pages} pages in all)")
    print(f"  packet, median of {args.runs}:            {made:6.2f} s")
    print(f"  same pages with typst alone, median:  {baseline:6.2f} s")
    print(f"  ratio packet / typst alone:            {made / baseline:6.2f}x  (target < 2x, < 5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
