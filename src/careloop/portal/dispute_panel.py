"""The appeals, complaints and regulator-filings panels of the staff case page, for the
actor reading it (the forms post to portal/disputes.py)."""

from __future__ import annotations

from typing import Any

from careloop.appeal import rules as appeal_rules
from careloop.appeal import service as appeal_service
from careloop.grievance import rules as grievance_rules
from careloop.grievance import service as grievance_service
from careloop.identity.permissions import may
from careloop.portal.web import PageContext
from careloop.referral.schemas import ReferralRead

OUTCOME_LABELS = {
    appeal_rules.Outcome.overturned.value: "Overturned: the payer authorises the service",
    appeal_rules.Outcome.upheld.value: "Upheld: the denial stands",
    appeal_rules.Outcome.information_requested.value: "The reviewer asked for information",
}


def panel_values(ctx: PageContext, case: ReferralRead, seen: set[str]) -> dict[str, Any]:
    """What the page shows of appeals, complaints and filings, for this actor (read
    only once the timeline shows the case has some: a fixed number of statements)."""
    cn = case.case_number
    appeals = (
        appeal_service.list_appeals(ctx.session, ctx.actor, cn, clock=ctx.clock).items
        if seen & {"appeal", "authorization"} and may(ctx.actor, "authorization:request")
        else []
    )
    staff = ctx.actor.is_staff
    grievances = (
        grievance_service.list_grievances(ctx.session, ctx.actor, cn, clock=ctx.clock).items
        if staff and "grievance" in seen
        else []
    )
    filings = (
        grievance_service.list_regulatory_escalations(
            ctx.session, ctx.actor, cn, clock=ctx.clock
        ).items
        if staff and "regulatory" in seen and may(ctx.actor, "regulatory:file")
        else []
    )
    return {
        "appeals": appeals,
        "appeal_outcomes": list(OUTCOME_LABELS),
        "appeal_outcome_labels": OUTCOME_LABELS,
        "grievances": grievances,
        "may_complain": staff and may(ctx.actor, "grievance:open"),
        "may_manage_grievances": may(ctx.actor, "grievance:manage"),
        "may_file_regulator": may(ctx.actor, "regulatory:file"),
        "grievance_subjects": [s.value for s in grievance_rules.Subject],
        "grievance_subject_labels": {k.value: v for k, v in grievance_rules.SUBJECT_LABELS.items()},
        "grievance_parties": [p.value for p in grievance_rules.Party],
        "grievance_party_labels": {k.value: v for k, v in grievance_rules.PARTY_LABELS.items()},
        "grievance_resolutions": [r.value for r in grievance_rules.Resolution],
        "grievance_resolution_labels": {
            k.value: v for k, v in grievance_rules.RESOLUTION_LABELS.items()
        },
        "regulators": [r.value for r in grievance_rules.Regulator],
        "regulator_labels": {k.value: v for k, v in grievance_rules.REGULATOR_LABELS.items()},
        "filings": filings,
    }
