"""Reading fields off a faxed order's lines: labels, formats, and how sure."""

from __future__ import annotations

from careloop.document.fax import Line, extract, sureness
from careloop.document.rules import Flag, Kind, MediaType, declared_type_lies, download_name, sniff


def _found(text: str, confidence: float = 1.0) -> dict[str, tuple[str, float]]:
    lines = [Line(1, n, t, confidence) for n, t in enumerate(text.splitlines(), start=1)]
    return {f.field: (f.value, f.confidence) for f in extract(lines)}


def test_each_field_is_read_with_its_place() -> None:
    found = _found(
        "PHYSICIAN ORDER\n"
        "Patient Name: Walter Kowalski\n"
        "D.O.B. 6/2/41\n"
        "Address: 12 Maple Ave, Albany, NY 12207\n"
        "Insurance: Riverbend Medicaid (RBMC)  Member ID: RBM123456789\n"
        "Ordering physician: Dr. Raj Patel NPI 1234567893\n"
        "Dx: E11.9 J44\n"
        "Equipment: E0260 hospital bed qty 1\n"
        "Date signed: 2026-11-30"
    )
    assert found["member.first_name"][0] == "Walter"
    assert found["member.last_name"][0] == "Kowalski"
    assert found["member.birth_date"][0] == "1941-06-02"
    assert found["member.address.city"][0] == "Albany"
    assert found["coverage.payer_id"][0] == "RBMC"
    assert found["coverage.member_id"][0] == "RBM123456789"
    assert found["ordering_provider.npi"] == ("1234567893", 1.0)
    assert found["ordering_provider.name"][0] == "Dr. Raj Patel"
    assert found["diagnoses.0.code"] == ("E11.9", 1.0)
    # A category that is not billable is kept, doubted: the agent picks the leaf code.
    assert found["diagnoses.1.code"] == ("J44", 0.5)
    assert found["items.0.code"][0] == "E0260"
    assert found["signed_order.signed_on"][0] == "2026-11-30"


def test_a_value_that_fails_its_check_is_doubted() -> None:
    found = _found("NPI: 1234567890\nDOB: 02/30/1950", confidence=0.9)
    assert found["ordering_provider.npi"] == ("1234567890", 0.45)
    assert found["member.birth_date"] == ("02/30/1950", 0.45)
    assert sureness(0.45) == "unsure: check it"
    assert sureness(0.9) == "sure"


def test_files_are_known_by_their_first_bytes_not_their_names() -> None:
    assert sniff(b"%PDF-1.7\n").media_type is MediaType.pdf
    assert sniff(b"II*\x00rest").media_type is MediaType.tiff
    assert sniff(b"MZ\x90\x00").refused_as == "a Windows program"
    assert sniff(b"PK\x03\x04").refused_as is not None
    assert sniff(b"<svg").media_type is None
    assert declared_type_lies("image/png", MediaType.pdf)
    assert declared_type_lies("text/html", MediaType.pdf)
    assert not declared_type_lies("application/octet-stream", MediaType.pdf)
    assert not declared_type_lies("image/jpg", MediaType.jpeg)
    assert download_name("CL-2026-000001", Kind.signed_order, 7, MediaType.tiff) == (
        "CL-2026-000001-signed-order-7.tif"
    )
    assert Flag.pdf_javascript.value == "pdf_javascript"
