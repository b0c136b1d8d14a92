"""The claims panel of the staff case page: each claim of the case, what it charged and
what was paid, its filing window, and what the payer last said of it (277), all in
plain words."""

from __future__ import annotations

from typing import Any

from careloop.claim import status as claim_status
from careloop.identity.permissions import may
from careloop.portal.web import PageContext
from careloop.referral.schemas import ReferralRead


def panel_values(ctx: PageContext, case: ReferralRead, seen: set[str]) -> dict[str, Any]:
    """The case's claims for staff (read only once the timeline shows a claim: cases
    without one cost no statement)."""
    if "claim" not in seen or not ctx.actor.is_staff or not may(ctx.actor, "claim:read"):
        return {"claims": []}
    return {
        "claims": claim_status.list_claims(
            ctx.session, ctx.actor, case.case_number, clock=ctx.clock
        )
    }
