"""The written confirmation of a scheduled start for the discharge planner: one page,
made with typst from a template shipped with the package. Values are passed as data,
so a name with markup characters is printed as written."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources

import typst


@dataclass(frozen=True, slots=True)
class ConfirmationItem:
    code: str
    description: str
    quantity: str


@dataclass(frozen=True, slots=True)
class ConfirmationData:
    case_number: str
    member_name: str
    member_birth_date: str
    address: str
    window: str
    provider_name: str
    provider_phone: str
    case_manager: str
    discharge: str
    items: list[ConfirmationItem]
    issued_at: str


def render(data: ConfirmationData) -> bytes:
    template = resources.files("careloop.scheduling").joinpath("confirmation.typ").read_bytes()
    pdf = typst.compile(template, sys_inputs={"data": json.dumps(asdict(data))})
    assert isinstance(pdf, bytes)
    return pdf
