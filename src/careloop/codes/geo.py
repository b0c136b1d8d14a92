"""US ZIP codes and state codes.

ZIP facts come from the ``zipcodes`` package (USPS ZIP database with county and time zone).
Referrals are served in the 50 states, DC and the five inhabited territories; military (AA,
AE, AP) and freely associated state (FM, MH, PW) codes are not service areas.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import zipcodes

__all__ = ["US_STATES", "ZipInfo", "state_problem", "zip_info", "zip_problem"]

US_STATES: frozenset[str] = frozenset(
    {
        "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA",
        "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD",
        "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
        "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC",
        "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
        "DC", "PR", "VI", "GU", "AS", "MP",
    }
)  # fmt: skip

# Five digits, optionally followed by the four-digit add-on, with or without the hyphen.
_ZIP_FORMAT = re.compile(r"\A([0-9]{5})(?:-?[0-9]{4})?\Z")


@dataclass(frozen=True, slots=True)
class ZipInfo:
    """Facts about one active five-digit ZIP code.

    ``county`` is None where the territory has no counties; ``time_zone`` is an IANA name,
    or None when the source data has none that ``zoneinfo`` knows.
    """

    zip_code: str
    city: str
    state: str
    county: str | None
    time_zone: str | None


@dataclass(frozen=True, slots=True)
class _ZipIndex:
    active: Mapping[str, ZipInfo]
    retired: frozenset[str]


def _known_time_zone(name: str, cache: dict[str, bool]) -> str | None:
    if name not in cache:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            cache[name] = False
        else:
            cache[name] = True
    return name if cache[name] else None


@functools.cache
def _zip_index() -> _ZipIndex:
    # One pass over the package's rows (about 42,000) turns every later lookup into a dict
    # read; the package's own matching() scans and costs about 100 microseconds a call.
    active: dict[str, ZipInfo] = {}
    retired: set[str] = set()
    zones: dict[str, bool] = {}
    for row in zipcodes.list_all():  # type: ignore[no-untyped-call]
        code = str(row["zip_code"])
        if not row["active"]:
            retired.add(code)
            continue
        active[code] = ZipInfo(
            zip_code=code,
            city=str(row["city"]),
            state=str(row["state"]),
            county=str(row["county"]) or None,
            time_zone=_known_time_zone(str(row["timezone"]), zones),
        )
    return _ZipIndex(active=MappingProxyType(active), retired=frozenset(retired))


@functools.lru_cache(maxsize=65536)
def zip_info(zip_code: str) -> ZipInfo | None:
    """Facts for an active ZIP or ZIP+4 ("06103", "06103-1234"), or None if unknown."""
    match = _ZIP_FORMAT.match(zip_code.strip())
    if match is None:
        return None
    return _zip_index().active.get(match.group(1))


def zip_problem(zip_code: str, state: str) -> str | None:
    """None if ``zip_code`` is an active US ZIP code in ``state``, else a short reason.

    A blank ``state`` is not compared (``state_problem`` reports it).
    """
    match = _ZIP_FORMAT.match(zip_code.strip())
    if match is None:
        return "must be 5 digits or ZIP+4"
    info = zip_info(zip_code)
    if info is None:
        if match.group(1) in _zip_index().retired:
            return "is a retired ZIP code that is no longer in use"
        return "is not a known US ZIP code"
    wanted = state.strip().upper()
    if wanted and info.state != wanted:
        return f"ZIP {info.zip_code} is in {info.state}, not {wanted}"
    return None


def state_problem(state: str) -> str | None:
    """None if ``state`` is a two-letter code of a US state, DC or territory (any case)."""
    text = state.strip().upper()
    if text in US_STATES:
        return None
    if len(text) != 2 or not (text.isascii() and text.isalpha()):
        return "must be a two-letter state code, like CT"
    return "is not a US state or territory code"
