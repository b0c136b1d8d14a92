"""Read-side views of cases for the entry points that show a whole case per row (the FHIR
adapter's Task search): the case as the JSON API reads it, plus the provider it was
placed with. Scoped and audited like every other read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.pagination import PageRequest
from careloop.identity.permissions import require
from careloop.referral import presenters, repository, service
from careloop.referral.repository import ProviderRef
from careloop.referral.schemas import ReferralFilter, ReferralRead


@dataclass(frozen=True, slots=True)
class CaseView:
    read: ReferralRead
    provider: ProviderRef | None


def view_referral(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> CaseView:
    """One case and its accepted provider; another organisation's case is 'not found'
    (and the attempt audited), exactly as :func:`service.get_referral`."""
    read = service.get_referral(session, actor, case_number, clock=clock)
    referral = repository.get_visible(session, actor, read.case_number)
    provider_id = referral.assigned_provider_id if referral else None
    providers = repository.providers_by_id(session, [provider_id] if provider_id else [])
    return CaseView(read, providers.get(provider_id) if provider_id else None)


def search_referrals(
    session: Session, actor: Actor, flt: ReferralFilter, page: PageRequest, *, clock: Clock
) -> tuple[list[CaseView], int]:
    """A page of whole cases the actor may see and the count of all they may see (never
    more), in a fixed number of queries whatever the page size; the search is audited
    with the cases it returned."""
    require(actor, "referral:read")
    rows, total = repository.page(session, actor, flt, page)
    providers = repository.providers_by_id(
        session, [r.assigned_provider_id for r in rows if r.assigned_provider_id]
    )
    items = repository.items_by_referral(session, [r.id for r in rows])
    payers = repository.payer_codes_and_names(session, [r.payer_id for r in rows if r.payer_id])
    views = []
    for referral in rows:
        payer_code, payer_name = payers.get(referral.payer_id or 0, (None, None))
        read = presenters.to_read(
            referral,
            items.get(referral.id, []),
            payer_code=payer_code,
            payer_name=payer_name,
            name_related_cases=repository.sees_every_case(actor),
        )
        provider = (
            providers.get(referral.assigned_provider_id) if referral.assigned_provider_id else None
        )
        views.append(CaseView(read, provider))
    audit.record(
        session,
        actor,
        "referral.search",
        clock=clock,
        detail={"case_numbers": [r.case_number for r in rows], "total": total},
    )
    return views, total
