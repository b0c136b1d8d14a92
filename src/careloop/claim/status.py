"""A claim's status at its payer: what a 276 asks about a claim, which claims are due to
be asked (no answer after the contract's days), and the payer's 277 recorded on the
claim (STC category and code, in plain words on the case's timeline and claim list).

The clearinghouse carries the files (it calls this module's public functions); nothing
here knows X12. A rejection or denial the payer reports opens a work item saying what to
do; asking again stops once the payer's word is final or an 835 answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.claim import repository, rules, service
from careloop.claim.models import Claim, ClaimLine
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import NotFoundError, RuleViolationError
from careloop.identity.permissions import require
from careloop.network.models import Provider
from careloop.payer.models import Payer
from careloop.referral import moves
from careloop.referral.models import Referral


class ClaimNotFoundError(NotFoundError):
    code = "claim_not_found"
    title = "No such claim"


class UnknownClaimStatusError(RuleViolationError):
    code = "claim_status_unknown"
    title = "The payer's claim status is not one CareLoop knows"


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """What a 276 says of one claim (as it went on the 837P)."""

    claim_number: str
    case_number: str
    referral_id: int
    payer_code: str
    payer_name: str
    provider_name: str
    provider_npi: str
    member_last: str
    member_first: str
    member_id: str
    charge: Decimal
    service_from: date
    service_to: date


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A claim as the API and the case page show it, every status in plain words."""

    claim_number: str
    status: str
    status_words: str
    charge: Decimal
    paid: Decimal
    first_service_on: date
    filing_closes_at: datetime
    created_at: datetime
    payer_status: str | None
    payer_status_code: str | None
    payer_status_words: str | None
    payer_status_at: datetime | None
    status_asked_at: datetime | None
    sent_at: datetime | None = None


def visible_claim(
    session: Session, actor: Actor, claim_number: str, action: str, *, clock: Clock
) -> tuple[Claim, Referral]:
    """The claim by number, locked, on a case the actor may see, with that case (the
    use audited as ``action``); 404 otherwise."""
    claim = repository.claim_by_number_for_update(session, claim_number.strip().upper())
    referral = moves.visible_by_id(session, actor, claim.referral_id) if claim else None
    if claim is None or referral is None:
        raise ClaimNotFoundError(f"There is no claim {claim_number} that you can see.")
    audit.record(
        session,
        actor,
        action,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
        detail={"claim_id": claim.id},
    )
    return claim, referral


def _claim(session: Session, actor: Actor, claim_number: str, action: str, clock: Clock) -> Claim:
    return visible_claim(session, actor, claim_number, action, clock=clock)[0]


def status_query(session: Session, actor: Actor, claim_number: str, *, clock: Clock) -> StatusQuery:
    """What the 276 about this claim carries (the payer, the billing provider, the
    member, the claim number, charge and dates of service)."""
    require(actor, "claim:payer_status")
    claim = _claim(session, actor, claim_number, "claim.status_query", clock)
    referral = session.get(Referral, claim.referral_id)
    payer = session.get(Payer, claim.payer_id) if claim.payer_id else None
    if referral is None or payer is None or not referral.member_id:
        raise RuleViolationError(
            f"Claim {claim.claim_number} names no payer and member ID to ask.",
            field="claim_number",
        )
    provider = session.scalars(select(Provider).where(Provider.npi == claim.billing_npi)).first()
    us = service.coordinator(session)
    dates = session.scalars(
        select(ClaimLine.service_date).where(ClaimLine.claim_id == claim.id)
    ).all()
    return StatusQuery(
        claim_number=claim.claim_number,
        case_number=referral.case_number,
        referral_id=referral.id,
        payer_code=payer.code,
        payer_name=payer.name,
        provider_name=provider.legal_name if provider is not None else us.name,
        provider_npi=claim.billing_npi,
        member_last=referral.member_last_name,
        member_first=referral.member_first_name,
        member_id=referral.member_id,
        charge=rules.from_cents(claim.charge_cents),
        service_from=min(dates, default=claim.first_service_on),
        service_to=max(dates, default=claim.first_service_on),
    )


def mark_asked(session: Session, actor: Actor, claim_number: str, *, clock: Clock) -> None:
    """The 276 about the claim went (or is stored to go): the next waits its days."""
    require(actor, "claim:payer_status")
    claim = _claim(session, actor, claim_number, "claim.status_asked", clock)
    claim.status_asked_at = clock.now()
    referral = moves.locked(session, claim.referral_id)
    moves.event(
        session,
        actor,
        referral,
        "claim.status_asked",
        now=clock.now(),
        claim_number=claim.claim_number,
    )
    session.flush()


def due_for_inquiry(session: Session, *, clock: Clock, limit: int = 50) -> list[str]:
    """Claim numbers with no answer from their payer after the contract's days
    (``rules.inquiry_due``), oldest first."""
    now = clock.now()
    rows = session.execute(
        select(Claim, Payer)
        .outerjoin(Payer, Payer.id == Claim.payer_id)
        .where(Claim.status.in_(rules.AT_PAYER))
        .order_by(Claim.created_at, Claim.id)
        .limit(limit * 4)
    ).all()
    due: list[str] = []
    for claim, payer in rows:
        try:
            contract = service.payer_contract(payer)
        except rules.ClaimContractError:
            continue  # a broken contract is reported when the claim is prepared
        if rules.inquiry_due(
            status=claim.status,
            payer_status=claim.payer_status,
            sent_at=claim.sent_at or claim.created_at,
            last_heard=claim.payer_status_at,
            asked_at=claim.status_asked_at,
            now=now,
            rules=contract,
        ):
            due.append(claim.claim_number)
        if len(due) >= limit:
            break
    return due


def record_payer_status(
    session: Session,
    actor: Actor,
    claim_number: str,
    *,
    category: str,
    code: str,
    effective: date,
    source: str,
    clock: Clock,
    referral_id: int | None = None,
) -> ClaimView:
    """The payer's 277 on the claim: its category and status code, in plain words on
    the timeline; a rejection or a denial opens a work item saying what to do. An
    unknown category is refused and changes nothing."""
    require(actor, "claim:payer_status")
    if category not in rules.STATUS_CATEGORIES:
        raise UnknownClaimStatusError(
            f"STC01 category {category!r} is not a claim status category "
            "(A0-A8, P0-P5, F0-F4, R0-R5, E0-E4, D0)",
            field="category",
        )
    claim = _claim(session, actor, claim_number, "claim.payer_status", clock)
    if referral_id is not None and claim.referral_id != referral_id:
        raise ClaimNotFoundError(f"Claim {claim_number} is not on the case that was asked.")
    now = clock.now()
    claim.payer_status, claim.payer_status_code = category, code[:5]
    claim.payer_status_at = now
    referral = moves.locked(session, claim.referral_id)
    words = rules.status_words(category, code) or category
    moves.event(
        session,
        actor,
        referral,
        "claim.payer_status",
        now=now,
        claim_number=claim.claim_number,
        status=words,
        effective_on=effective.isoformat(),
        source=source,
    )
    if category in rules.STATUS_NEEDS_WORK:
        events.publish(
            "work.needed",
            session=session,
            clock=clock,
            referral_id=claim.referral_id,
            kind="claim_status",
            team="case_management",
            due_at=now,
            subject=f"claim:{claim.id}:payer_status",
            title=(
                f"Claim {claim.claim_number}: the payer says \u201c{words}\u201d. "
                "Correct and resubmit the claim, or appeal the denial."
            )[:300],
        )
    session.flush()
    return view(claim)


def coordinator_tax_id(session: Session) -> str:
    """The coordinator's tax id (the 276's information receiver)."""
    return service.coordinator(session).tax_id


def view(claim: Claim) -> ClaimView:
    return ClaimView(
        claim_number=claim.claim_number,
        status=claim.status,
        status_words=rules.CLAIM_STATUS_WORDS.get(claim.status, claim.status),
        charge=rules.from_cents(claim.charge_cents),
        paid=rules.from_cents(claim.paid_cents),
        first_service_on=claim.first_service_on,
        filing_closes_at=claim.filing_closes_at,
        created_at=claim.created_at,
        payer_status=claim.payer_status,
        payer_status_code=claim.payer_status_code,
        payer_status_words=rules.status_words(claim.payer_status, claim.payer_status_code),
        payer_status_at=claim.payer_status_at,
        status_asked_at=claim.status_asked_at,
        sent_at=claim.sent_at,
    )


def list_claims(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> list[ClaimView]:
    """The case's claims, newest first, with what the payer last said (audited read)."""
    require(actor, "claim:read")
    referral = moves.visible(session, actor, case_number, "claim.list", clock=clock)
    return [view(c) for c in repository.claims_of_referral(session, referral.id)]
