"""Providers that read like the network: complete and offerable unless told otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.codes import make_npi
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.network import service as network_service
from careloop.network.schemas import ProviderCreate
from tests.factories.identity import make_user

_counter = iter(range(10_000_000, 99_999_999))


@dataclass(frozen=True)
class MadeProvider:
    id: int
    name: str
    staff: Actor
    token: str


def provider_payload(
    today: date,
    *,
    name: str,
    zip_codes: list[str] | None = None,
    counties: list[dict[str, str]] | None = None,
    payers: list[str] | None = None,
    service_line: str = "dme",
    categories: list[str] | None = None,
    capacity: int = 5,
    languages: list[str] | None = None,
    credentials: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    far = (today + timedelta(days=365)).isoformat()
    return {
        "legal_name": name,
        "npi": make_npi(f"1{next(_counter):08d}"),
        "ein": "06-1234567",
        "taxonomy_code": "332B00000X",
        "phone": "860-555-0110",
        "state": "CT",
        "languages": languages if languages is not None else ["en"],
        "service_lines": [
            {
                "service_line": service_line,
                "categories": categories or ["oxygen", "hospital_bed"],
                "daily_capacity": capacity,
            }
        ],
        "service_area": {
            "zip_codes": zip_codes if zip_codes is not None else ["06103"],
            "counties": counties or [],
        },
        "networks": [
            {
                "payer_id": code,
                "effective_from": "2026-01-01",
                "fee_schedule": [{"code": "E1390", "mode": "rental", "allowed_amount": "178.50"}],
            }
            for code in (payers if payers is not None else ["NEHP"])
        ],
        "credentials": credentials
        if credentials is not None
        else [
            {"kind": "licence", "identifier": "HME-1", "state": "CT", "expires_on": far},
            {"kind": "w9"},
            {
                "kind": "caqh",
                "identifier": "CAQH-1",
                "attested_on": (today - timedelta(days=10)).isoformat(),
            },
            {"kind": "liability_insurance", "identifier": "POL-1", "expires_on": far},
        ],
    }


def make_provider(
    session: Session, *, clock: Clock, admin: Actor, name: str, **options: Any
) -> MadeProvider:
    """Onboard a provider and give it one staff user (its portal registration)."""
    body = ProviderCreate.model_validate(
        provider_payload(clock.now().date(), name=name, **options), strict=False
    )
    read = network_service.onboard_provider(session, admin, body, clock=clock)
    slug = "".join(c for c in name.lower() if c.isalnum())[:20]
    staff, token = make_user(
        session,
        clock=clock,
        role=Role.provider_staff,
        email=f"dispatch@{slug}.test",
        organization=name,
    )
    assert staff.organization_id is not None
    network_service.refresh_for_organization(session, staff.organization_id, clock=clock)
    return MadeProvider(read.id, name, staff, token)
