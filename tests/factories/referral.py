"""A complete, valid referral as a hospital would send it, relative to the test clock."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.core.clock import Clock
from careloop.payer import service as payer_service
from careloop.referral.schemas import ReferralCreate

VALID_NPI = "1234567893"
OTHER_VALID_NPI = "1245319599"


def make_payer(
    session: Session,
    *,
    clock: Clock,
    code: str = "NEHP",
    name: str = "New England Health Plan",
    rules: dict[str, Any] | None = None,
) -> int:
    return payer_service.add_payer(session, code=code, name=name, rules=rules, clock=clock).id


def referral_payload(now: datetime, **overrides: Any) -> dict[str, Any]:
    """DOMAIN.md §9: a home-health start for a member born 1945-01-23, plus oxygen."""
    today = now.date()
    body: dict[str, Any] = {
        "external_id": "HOSP-ORD-1",
        "channel": "fhir",
        "urgency": "routine",
        "member": {
            "first_name": "Dorothy",
            "last_name": "Hale",
            "birth_date": "1945-01-23",
            "sex": "female",
            "phone": "860-555-0142",
            "language": "en",
            "address": {"line1": "41 Asylum St", "city": "Hartford", "state": "CT", "zip": "06103"},
            "access_barriers": ["third-floor walk-up"],
        },
        "coverage": {"payer_id": "NEHP", "member_id": "NEH448812301"},
        "ordering_provider": {
            "npi": VALID_NPI,
            "name": "Dr. Amara Osei",
            "organization": "Hartford General Hospital",
            "phone": "860-555-0100",
        },
        "diagnoses": [{"code": "J44.1"}, {"code": "Z99.81"}],
        "items": [
            {"code": "G0299", "code_system": "HCPCS", "quantity": 8, "frequency": "2x weekly"},
            {"code": "E1390", "code_system": "HCPCS", "quantity": 1, "rental": True},
        ],
        "requested_start": (today + timedelta(days=2)).isoformat(),
        "signed_order": {
            "signed_on": (today - timedelta(days=1)).isoformat(),
            "signer_npi": VALID_NPI,
        },
        "notes": "Oxygen 2 L/min continuous.",
    }
    for path, value in overrides.items():
        _set(body, path, value)
    return body


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    """Set ``member__address__zip`` style paths; a value of ``...`` deletes the key."""
    parts = path.split("__")
    node = body
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if value is ...:
        node.pop(last, None)
    else:
        node[last] = copy.deepcopy(value)


def referral_draft(now: datetime, **overrides: Any) -> ReferralCreate:
    return ReferralCreate.model_validate(referral_payload(now, **overrides), strict=False)


def call_back_payload(now: datetime, *, due: datetime | None = None) -> dict[str, Any]:
    """A member's call about a case, ended now, that asks for a call back (a follow-up
    due in 30 minutes, or at ``due``): the contact body ``POST .../contacts`` takes."""
    return {
        "kind": "call",
        "direction": "inbound",
        "party": {"kind": "member", "name": "Dorothy Hale", "phone": "860-555-0142"},
        "reason": "status_check",
        "summary": "Asked when the bed comes; call back with the date.",
        "started_at": (now - timedelta(minutes=4)).isoformat(),
        "ended_at": now.isoformat(),
        "case_number_given": True,
        "agent_name_given": True,
        "outcome": "follow_up",
        "follow_up_due_at": (due or now + timedelta(minutes=30)).isoformat(),
    }
