"""The appeal letter: one PDF made with typst from a template shipped with the package
(as the scheduling confirmation is). Values are passed as data, so a rationale with
markup characters is printed as written."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from importlib import resources
from zoneinfo import ZoneInfo

import typst


@dataclass(frozen=True, slots=True)
class LetterData:
    case_number: str
    member_name: str
    member_birth_date: str
    member_id: str
    payer: str
    level: str
    authorization: str
    denied_on: str
    denial_reason: str
    denial_note: str
    ordering: str
    diagnoses: str
    rationale: str
    objective_measures: str
    # Titles of the documents attached to the case (the document store's seam: the
    # caller passes them; an empty list prints "none attached").
    documents: list[str]
    issued_on: str
    signed_by: str


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def local_date(instant: datetime | None, time_zone: str) -> str:
    if instant is None:
        return "not recorded"
    return long_date(instant.astimezone(ZoneInfo(time_zone)).date())


def render(data: LetterData) -> bytes:
    template = resources.files("careloop.appeal").joinpath("letter.typ").read_bytes()
    pdf = typst.compile(template, sys_inputs={"data": json.dumps(asdict(data))})
    assert isinstance(pdf, bytes)
    return pdf
