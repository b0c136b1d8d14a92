"""The payer's coverage file: one CSV row per member enrolment (issue 4).

Columns (header required, any order)::

    payer_code, plan_code, plan_name, member_id, last_name, birth_date,
    effective_on, terminates_on, prior_auth

``prior_auth`` lists, separated by spaces or semicolons, the HCPCS/CPT codes and service
lines (``service_line:home_health``) that the plan authorises in advance. Dates are ISO
(``2026-01-31``); ``terminates_on`` may be empty (open-ended). Pure: no database.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from careloop.codes import ServiceLine

REQUIRED_COLUMNS = (
    "payer_code",
    "plan_code",
    "plan_name",
    "member_id",
    "effective_on",
)
OPTIONAL_COLUMNS = ("last_name", "birth_date", "terminates_on", "prior_auth")

_CODE = re.compile(r"^(?:[A-V][0-9]{4}|[0-9]{4}[0-9A-Z])$")
_MEMBER_ID = re.compile(r"^[A-Z0-9]{2,60}$")
SERVICE_LINE_PREFIX = "service_line:"


class CoverageFileError(ValueError):
    """The file itself cannot be read (no header, a required column missing)."""


@dataclass(frozen=True, slots=True)
class CoverageRow:
    line: int
    payer_code: str
    plan_code: str
    plan_name: str
    member_id: str
    last_name: str | None
    birth_date: date | None
    effective_on: date
    terminates_on: date | None
    prior_auth: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str


def normalise_member_id(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def read_rows(lines: Iterable[str]) -> Iterator[CoverageRow | list[RowError]]:
    """Each data row parsed, or the list of what is wrong with it."""
    reader = csv.DictReader(lines)
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CoverageFileError(
            "the header must name the columns "
            + ", ".join(REQUIRED_COLUMNS)
            + f" (missing: {', '.join(missing)})"
        )
    for raw in reader:
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        yield parse_row(reader.line_num, row)


def parse_row(line: int, row: dict[str, str]) -> CoverageRow | list[RowError]:
    errors: list[RowError] = []

    def need(name: str) -> str:
        value = row.get(name, "")
        if not value:
            errors.append(RowError(line, name, "is required"))
        return value

    def day(name: str, *, required: bool) -> date | None:
        value = row.get(name, "")
        if not value:
            if required:
                errors.append(RowError(line, name, "is required"))
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            errors.append(RowError(line, name, f"'{value[:20]}' is not a date (YYYY-MM-DD)"))
            return None

    payer_code, plan_code, plan_name = need("payer_code"), need("plan_code"), need("plan_name")
    member_id = normalise_member_id(need("member_id"))
    if member_id and not _MEMBER_ID.match(member_id):
        errors.append(RowError(line, "member_id", "must be 2-60 letters or digits"))
    effective_on = day("effective_on", required=True)
    terminates_on = day("terminates_on", required=False)
    birth_date = day("birth_date", required=False)
    if effective_on and terminates_on and terminates_on < effective_on:
        errors.append(RowError(line, "terminates_on", "is before effective_on"))
    prior_auth = _prior_auth(line, row.get("prior_auth", ""), errors)
    if errors or effective_on is None:
        return errors
    return CoverageRow(
        line=line,
        payer_code=payer_code.upper(),
        plan_code=plan_code.upper(),
        plan_name=plan_name,
        member_id=member_id,
        last_name=row.get("last_name") or None,
        birth_date=birth_date,
        effective_on=effective_on,
        terminates_on=terminates_on,
        prior_auth=prior_auth,
    )


def _prior_auth(line: int, value: str, errors: list[RowError]) -> tuple[str, ...]:
    entries: list[str] = []
    lines = {s.value for s in ServiceLine}
    for token in re.split(r"[;\s]+", value.strip()):
        if not token:
            continue
        if token.lower().startswith(SERVICE_LINE_PREFIX):
            name = token[len(SERVICE_LINE_PREFIX) :].lower()
            if name not in lines:
                errors.append(
                    RowError(
                        line,
                        "prior_auth",
                        f"unknown service line '{name[:30]}' (one of {', '.join(sorted(lines))})",
                    )
                )
                continue
            entries.append(SERVICE_LINE_PREFIX + name)
        elif _CODE.match(token.upper()):
            entries.append(token.upper())
        else:
            errors.append(
                RowError(
                    line,
                    "prior_auth",
                    f"'{token[:20]}' is neither a HCPCS/CPT code nor service_line:NAME",
                )
            )
    return tuple(sorted(set(entries)))
