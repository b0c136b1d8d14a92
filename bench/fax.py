"""Faxed orders read into draft referrals: field-level precision and recall.

    .venv/bin/python bench/fax.py            # 50 synthetic faxed orders
    .venv/bin/python bench/fax.py --count 10 --seed 7

Each order is made up (member, payer, NPI, codes, dates), rendered like a fax and read
the way ``careloop fax watch`` reads one (document.reading, then document.fax):

* a third as PDFs with a text layer (typst), read by pypdf;
* a third as image-only PDFs and a third as TIFFs: drawn with Pillow at 200 dpi, rotated
  up to 1.5 degrees, speckled with noise and reduced to black and white like a fax, then
  read by OCR (tesseract).

For every field it prints precision (of the values found, how many are right) and recall
(of the values on the page, how many were found right), and the same per kind of file,
with the median seconds a page. A person confirms every draft; these figures say how
much typing the reading saves, not that a draft may go unchecked.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import typst
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from careloop.codes import make_npi  # noqa: E402
from careloop.document.fax import extract  # noqa: E402
from careloop.document.reading import read  # noqa: E402
from careloop.document.rules import MediaType  # noqa: E402

FIRST = ["Dorothy", "Walter", "Evelyn", "Harold", "Margaret", "Tomas", "Lucia", "Samuel"]
LAST = ["Hale", "Kowalski", "Nguyen", "Okafor", "Brennan", "Herrera", "Lindqvist", "Abbott"]
STREETS = ["41 Asylum St", "12 Maple Ave", "908 Elm Street", "77 Farmington Ave", "5 Oak Ln"]
CITIES = [("Hartford", "CT", "06103"), ("Albany", "NY", "12207"), ("Worcester", "MA", "01608")]
PAYERS = [("New England Health Plan", "NEHP"), ("Riverbend Medicaid", "RBMC")]
DIAGNOSES = ["J44.1", "J96.11", "Z99.81", "I50.22", "E11.9", "L89.153", "G20.A1"]
ITEMS = [
    ("E1390", "oxygen concentrator"),
    ("E0260", "hospital bed, semi-electric"),
    ("K0001", "standard wheelchair"),
    ("E0601", "CPAP device"),
]
DOCTORS = ["Dr. Amara Osei", "Dr. Lena Fischer", "Dr. Raj Patel", "Dr. Grace Mbeki"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


@dataclass(frozen=True)
class Fax:
    content: bytes
    media: MediaType
    kind: str
    truth: dict[str, str]


def _us(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def order_lines(rng: random.Random, today: date) -> tuple[list[str], dict[str, str]]:
    """One made-up order: its lines as printed, and the fields a reader should find."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    born = date(rng.randint(1930, 1960), rng.randint(1, 12), rng.randint(1, 28))
    phone = f"860-555-{rng.randint(100, 9999):04d}"
    street, (city, state, zip_) = rng.choice(STREETS), rng.choice(CITIES)
    payer, payer_code = rng.choice(PAYERS)
    member_id = f"{payer_code[:3]}{rng.randint(10**8, 10**9 - 1)}"
    npi = make_npi(f"1{rng.randint(10**7, 10**8 - 1)}")
    doctor = rng.choice(DOCTORS)
    dx = rng.sample(DIAGNOSES, 2)
    item, words = rng.choice(ITEMS)
    quantity = str(rng.randint(1, 2))
    signed = today - timedelta(days=rng.randint(1, 20))
    start = today + timedelta(days=rng.randint(1, 10))
    name_line = (
        f"Patient: {last}, {first}" if rng.random() < 0.5 else f"Patient Name: {first} {last}"
    )
    lines = [
        "PHYSICIAN ORDER - HOME MEDICAL EQUIPMENT",
        f"Fax from: {doctor.split()[-1]} Family Medicine   Pages: 1 of 1",
        "",
        name_line,
        f"DOB: {_us(born)}",
        f"Phone: ({phone[:3]}) {phone[4:]}",
        f"Address: {street}, {city}, {state} {zip_}",
        f"Payer: {payer} ({payer_code})",
        f"Member ID: {member_id}",
        f"Ordering physician: {doctor}   NPI: {npi}",
        f"Diagnosis (ICD-10-CM): {dx[0]}, {dx[1]}",
        f"HCPCS item: {item} {words}   Qty: {quantity}",
        f"Start date: {_us(start)}",
        "Notes: deliver before discharge; member lives alone.",
        f"Date signed: {_us(signed)}",
        f"Signature: {doctor}",
    ]
    truth = {
        "member.first_name": first,
        "member.last_name": last,
        "member.birth_date": born.isoformat(),
        "member.phone": phone,
        "member.address.line1": street,
        "member.address.city": city,
        "member.address.state": state,
        "member.address.zip": zip_,
        "coverage.payer_id": payer_code,
        "coverage.member_id": member_id,
        "ordering_provider.npi": npi,
        "ordering_provider.name": doctor,
        "diagnoses.0.code": dx[0],
        "diagnoses.1.code": dx[1],
        "items.0.code": item,
        "items.0.quantity": quantity,
        "requested_start": start.isoformat(),
        "signed_order.signed_on": signed.isoformat(),
    }
    return lines, truth


def draw_page(lines: list[str], rng: random.Random, *, noise: float = 0.004) -> Image.Image:
    """The lines on a letter page at 200 dpi, rotated a little, speckled, black and white."""
    page = Image.new("L", (1700, 2200), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 34)
    y = 160
    for text in lines:
        draw.text((140, y), text, fill=0, font=font)
        y += 62
    page = page.rotate(rng.uniform(-1.5, 1.5), resample=Image.Resampling.BILINEAR, fillcolor=255)
    pixels = page.load()
    assert pixels is not None
    for _ in range(int(1700 * 2200 * noise)):
        x, y = rng.randrange(1700), rng.randrange(2200)
        pixels[x, y] = 0 if int(page.getpixel((x, y)) or 0) > 128 else 255  # type: ignore[arg-type]
    return page.point(lambda v: 255 if v > 150 else 0, mode="1")


def as_tiff(page: Image.Image) -> bytes:
    out = io.BytesIO()
    page.save(out, format="TIFF", compression="group4", dpi=(200, 200))
    return out.getvalue()


def as_scanned_pdf(page: Image.Image) -> bytes:
    out = io.BytesIO()
    page.convert("L").save(out, format="PDF", resolution=200.0)
    return out.getvalue()


def as_text_pdf(lines: list[str]) -> bytes:
    def escape(text: str) -> str:
        return "".join("\\" + c if c in "\\#$*_`<>@[]=-+/~\"'" else c for c in text)

    body = "\n\n".join(escape(line) or "#v(0.5em)" for line in lines)
    source = (
        '#set page(paper: "us-letter")\n#set text(font: "DejaVu Sans", size: 11pt)\n'
        f"#set par(spacing: 0.9em)\n{body}\n"
    )
    return bytes(typst.compile(source.encode()))


def synthetic_fax(seed: int, *, kind: str | None = None, today: date | None = None) -> Fax:
    rng = random.Random(seed)
    lines, truth = order_lines(rng, today or date.today())
    kind = kind or ("text", "scan", "tiff")[seed % 3]
    if kind == "text":
        return Fax(as_text_pdf(lines), MediaType.pdf, kind, truth)
    page = draw_page(lines, rng)
    if kind == "scan":
        return Fax(as_scanned_pdf(page), MediaType.pdf, kind, truth)
    return Fax(as_tiff(page), MediaType.tiff, kind, truth)


def score(
    found: dict[str, str],
    truth: dict[str, str],
    tally: Counter[str],
    field_tally: dict[str, Counter[str]],
) -> None:
    for field in set(found) | set(truth):
        c = field_tally.setdefault(field, Counter())
        got, want = found.get(field), truth.get(field)
        if got is not None and got == want:
            c["tp"] += 1
            tally["tp"] += 1
            continue
        if got is not None:
            c["fp"] += 1
            tally["fp"] += 1
        if want is not None:
            c["fn"] += 1
            tally["fn"] += 1


def _pr(c: Counter[str]) -> tuple[float, float]:
    precision = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    recall = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    overall: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    by_field: dict[str, Counter[str]] = {}
    seconds: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.count):
            fax = synthetic_fax(args.seed * 1000 + n)
            path = Path(tmp) / f"fax-{n}"
            path.write_bytes(fax.content)
            started = time.perf_counter()
            reading = read(path, fax.media)
            found = {f.field: f.value for f in extract(reading.lines)}
            seconds.setdefault(fax.kind, []).append(time.perf_counter() - started)
            score(found, fax.truth, overall, by_field)
            score(found, fax.truth, by_kind.setdefault(fax.kind, Counter()), {})
    print(f"{args.count} synthetic faxed orders, {len(by_field)} fields\n")
    print(f"{'field':28} {'precision':>9} {'recall':>7}")
    for field in sorted(by_field):
        p, r = _pr(by_field[field])
        print(f"{field:28} {p:9.2f} {r:7.2f}")
    print()
    names = {"text": "PDF with a text layer", "scan": "image-only PDF (OCR)", "tiff": "TIFF (OCR)"}
    for kind, tally in sorted(by_kind.items()):
        p, r = _pr(tally)
        median = statistics.median(seconds[kind])
        print(f"{names[kind]:28} precision {p:.2f}  recall {r:.2f}  median {median:.2f} s a page")
    p, r = _pr(overall)
    print(f"\n{'all fields, all faxes':28} precision {p:.2f}  recall {r:.2f}")


if __name__ == "__main__":
    main()
