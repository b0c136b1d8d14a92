"""A case's order as a draft again: what supplying information re-checks."""

from __future__ import annotations

from typing import Any

from careloop.core.dates import judged_at
from careloop.referral.models import Referral, ReferralItem
from careloop.referral.presenters import to_read
from careloop.referral.schemas import ReferralClarify, ReferralCreate


def merged_draft(
    referral: Referral, items: list[ReferralItem], body: ReferralClarify
) -> ReferralCreate:
    current = to_read(referral, items, payer_code=None, payer_name=None, name_related_cases=True)
    data: dict[str, Any] = {
        "external_id": referral.external_id,
        "channel": referral.channel,
        "urgency": referral.urgency,
        "member": current.member.model_dump(),
        "coverage": coverage_as_sent(referral),
        "ordering_provider": current.ordering_provider.model_dump(),
        "diagnoses": [{"code": c} for c in referral.diagnoses],
        "items": [
            {
                "code": i.code,
                "code_system": i.code_system,
                "quantity": i.quantity,
                "frequency": i.frequency,
                "rental": i.rental,
                "description": i.description,
            }
            for i in items
        ],
        "requested_start": referral.requested_start,
        "discharge_at": referral.discharge_at,
        "signed_order": current.signed_order.model_dump() if current.signed_order else None,
        "notes": referral.notes,
    }
    patch = body.model_dump(exclude_unset=True, exclude={"note"})
    for section in ("member", "coverage", "ordering_provider", "signed_order"):
        if section in patch and patch[section] is not None:
            merged = dict(data.get(section) or {})
            for key, value in patch[section].items():
                if key == "address" and value is not None:
                    merged["address"] = {
                        **(merged.get("address") or {}),
                        **{k: v for k, v in value.items() if v is not None},
                    }
                elif value is not None:
                    merged[key] = value
            data[section] = merged
    for field in ("diagnoses", "items", "requested_start", "discharge_at"):
        if patch.get(field) is not None:
            data[field] = patch[field]
    # What the case already holds was judged when it was sent; only the new fields
    # (validated with the request) are judged against today.
    with judged_at(None):
        return ReferralCreate.model_validate(data, strict=False)


def coverage_as_sent(referral: Referral) -> dict[str, Any]:
    # The payer is named again the way the referrer named it (code or name), so a
    # clarification re-resolves it by the same rule as the first submission.
    ref = referral.payer_reference
    return {
        "payer_id": ref if ref and len(ref) <= 40 else None,
        "payer_name": ref,
        "member_id": referral.member_id,
        "group_number": referral.group_number,
    }
