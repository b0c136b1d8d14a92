"""HCPCS Level II and CPT procedure codes: format checks and the home-care item table.

``data/hcpcs_home_care.csv`` is a curated table of the HCPCS Level II codes that home-based
care orders most (oxygen, respiratory, beds and support surfaces, mobility and complex rehab,
lifts, bath safety, wound care, enteral, infusion, diabetic, orthotics, urological and ostomy
supplies, home health visits), with descriptions shortened from the CMS descriptors. A code
missing from the table may still be a valid HCPCS code: check its format separately.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType

__all__ = [
    "CPT_FORMAT",
    "HCPCS_FORMAT",
    "HcpcsCategory",
    "HcpcsItem",
    "HcpcsTableError",
    "ServiceLine",
    "SupplyMode",
    "code_format_problem",
    "hcpcs_table",
    "lookup_hcpcs",
    "parse_hcpcs_csv",
    "search_hcpcs",
]

# HCPCS Level II: one letter A-V and four digits (E1390). Anchored with \A and \Z so that
# match(), search() and fullmatch() all test the whole string.
HCPCS_FORMAT = re.compile(r"\A[A-V][0-9]{4}\Z")
# CPT: five digits (99509), or four digits and F (category II) or T (category III).
CPT_FORMAT = re.compile(r"\A[0-9]{4}[0-9FT]\Z")

_CODE_PREFIX = re.compile(r"[A-V][0-9]{0,4}")
_WORD = re.compile(r"[a-z0-9]+")
_TABLE_FILE = "hcpcs_home_care.csv"
_COLUMNS = ("code", "description", "service_line", "category", "complex", "supply_mode")
_BOOLEANS = {"true": True, "false": False}
_HCPCS_HINT = "a HCPCS code is one letter and four digits, like E1390"
_CPT_HINT = (
    "a CPT code is five digits, like 99509, or four digits and F or T for category II or III"
)


class ServiceLine(StrEnum):
    dme = "dme"
    home_health = "home_health"
    infusion = "infusion"


class SupplyMode(StrEnum):
    rental = "rental"
    purchase = "purchase"
    either = "either"
    service = "service"  # visits and per-diem services: nothing is delivered to keep


class HcpcsCategory(StrEnum):
    oxygen = "oxygen"
    respiratory = "respiratory"  # CPAP/BiPAP, nebulisers, suction, ventilators, trach care
    hospital_bed = "hospital_bed"
    support_surface = "support_surface"
    mobility = "mobility"  # canes, walkers, manual wheelchairs, scooters, general cushions
    complex_rehab = "complex_rehab"  # power wheelchairs, power seating, positioning seating
    patient_lift = "patient_lift"
    bath_safety = "bath_safety"  # commodes, bath and toilet aids
    wound_care = "wound_care"
    enteral = "enteral"
    infusion = "infusion"  # pumps, supplies, parenteral nutrition, per-diems
    diabetic = "diabetic"
    orthotics = "orthotics"
    urological = "urological"
    ostomy = "ostomy"
    nursing = "nursing"
    therapy = "therapy"
    aide = "aide"
    social_work = "social_work"


@dataclass(frozen=True, slots=True)
class HcpcsItem:
    """One row of the home-care table.

    ``complex`` marks complex specialty equipment and custom items (group 2+ power
    wheelchairs, complex rehab seating, custom-fabricated orthotics, home ventilators) that
    need a specialty supplier and usually an assessment before delivery.
    """

    code: str
    description: str
    service_line: ServiceLine
    category: HcpcsCategory
    complex: bool
    supply_mode: SupplyMode


class HcpcsTableError(ValueError):
    """The shipped HCPCS table is malformed: a packaging bug, never a user error."""


def _parse_row(line: int, row: list[str]) -> HcpcsItem:
    if len(row) != len(_COLUMNS):
        raise HcpcsTableError(f"line {line}: expected {len(_COLUMNS)} fields, got {len(row)}")
    code, description, service_line, category, complex_flag, supply_mode = row
    if HCPCS_FORMAT.match(code) is None:
        raise HcpcsTableError(f"line {line}: {code!r} is not a HCPCS Level II code")
    if not description or description != description.strip():
        raise HcpcsTableError(f"line {line}: description is empty or padded")
    if complex_flag not in _BOOLEANS:
        raise HcpcsTableError(f"line {line}: complex must be true or false, not {complex_flag!r}")
    try:
        return HcpcsItem(
            code=code,
            description=description,
            service_line=ServiceLine(service_line),
            category=HcpcsCategory(category),
            complex=_BOOLEANS[complex_flag],
            supply_mode=SupplyMode(supply_mode),
        )
    except ValueError as error:
        raise HcpcsTableError(f"line {line}: {error}") from error


def parse_hcpcs_csv(text: str) -> dict[str, HcpcsItem]:
    """Parse the table text; raises HcpcsTableError on a bad header, row or duplicate code."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(header) != _COLUMNS:
        raise HcpcsTableError(f"header must be {','.join(_COLUMNS)}, got {header!r}")
    items: dict[str, HcpcsItem] = {}
    for row in rows:
        item = _parse_row(rows.line_num, row)
        if item.code in items:
            raise HcpcsTableError(f"line {rows.line_num}: duplicate code {item.code}")
        items[item.code] = item
    return items


@functools.cache
def hcpcs_table() -> Mapping[str, HcpcsItem]:
    """The home-care table, keyed by code; read from the package once, then cached."""
    data = resources.files("careloop.codes").joinpath("data").joinpath(_TABLE_FILE)
    return MappingProxyType(parse_hcpcs_csv(data.read_text(encoding="utf-8")))


def lookup_hcpcs(code: str) -> HcpcsItem | None:
    """The table row for ``code`` (case-insensitive, surrounding spaces ignored), or None."""
    table = hcpcs_table()
    item = table.get(code)
    return item if item is not None else table.get(code.strip().upper())


def code_format_problem(code: str, code_system: str) -> str | None:
    """None if ``code`` is shaped like a ``code_system`` ("HCPCS" or "CPT") code, else why not.

    Only the shape is checked, case-insensitively: whether the code exists is a separate
    question. Raises ValueError for any other code system (a programming error).
    """
    system = code_system.strip().upper()
    text = code.strip().upper()
    if system == "HCPCS":
        if HCPCS_FORMAT.match(text):
            return None
        if CPT_FORMAT.match(text):
            return f"this looks like a CPT code; {_HCPCS_HINT}"
        return _HCPCS_HINT
    if system == "CPT":
        if CPT_FORMAT.match(text):
            return None
        if HCPCS_FORMAT.match(text):
            return f"this looks like a HCPCS code; {_CPT_HINT}"
        return _CPT_HINT
    raise ValueError(f"unknown code system {code_system!r}; expected 'HCPCS' or 'CPT'")


@functools.cache
def _search_rows() -> tuple[tuple[HcpcsItem, str], ...]:
    items = sorted(hcpcs_table().values(), key=lambda item: item.code)
    return tuple((item, item.description.lower()) for item in items)


def _first(items: Iterable[HcpcsItem], limit: int) -> list[HcpcsItem]:
    found: list[HcpcsItem] = []
    for item in items:
        if len(found) == limit:
            break
        found.append(item)
    return found


def search_hcpcs(query: str, limit: int = 20) -> list[HcpcsItem]:
    """Table rows whose code starts with the query, then rows whose description contains every
    word of the query (case-insensitive), each group in code order."""
    text = query.strip()
    if limit <= 0 or not text:
        return []
    rows = _search_rows()
    prefix = text.upper()
    found: list[HcpcsItem] = []
    if _CODE_PREFIX.fullmatch(prefix):
        found = _first((item for item, _ in rows if item.code.startswith(prefix)), limit)
    words = _WORD.findall(text.lower())
    if words and len(found) < limit:
        seen = {item.code for item in found}
        matches = (
            item
            for item, haystack in rows
            if item.code not in seen and all(word in haystack for word in words)
        )
        found.extend(_first(matches, limit - len(found)))
    return found
