"""Provider assignment use cases on the case: what matching needs to know of a referral,
and the moves an offer makes (offered, lapsed, accepted, unplaced).

Matching (a later domain) calls these; the referral domain knows nothing of offers
beyond the provider named in each move. Every move is validated by the status machine
and written with its timeline event and audit record in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.codes import lookup_hcpcs, zip_info
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.referral import moves, repository
from careloop.referral.enums import CodeSystem, ReferralAction, ReferralStatus, Urgency
from careloop.referral.errors import ReferralNotFoundError
from careloop.referral.models import Referral, ReferralItem
from careloop.sla import ServiceClass


@dataclass(frozen=True, slots=True)
class CaseForMatching:
    """The minimum of a case that matching and offers need (no member identity)."""

    id: int
    case_number: str
    status: ReferralStatus
    payer_id: int | None
    zip_code: str
    state: str
    county: str | None
    city: str | None
    time_zone: str
    service_class: str
    service_line: str
    categories: frozenset[str]
    item_codes: tuple[str, ...]
    items: tuple[dict[str, Any], ...]
    payer_name: str | None
    member_language: str | None
    requested_start: date | None
    discharge_at: datetime | None
    urgency: Urgency
    discharge_dependent: bool


#: The audit action of a case read for matching.
MATCH_ACTION = "referral.match"


def case_for_matching(
    session: Session, actor: Actor, case_number: str, *, clock: Clock, for_update: bool = False
) -> CaseForMatching:
    """The case as matching sees it; not visible to the actor means not found. Read with
    its items and payer in one statement (ranking one referral sends few); ``for_update``
    locks the case first, as an offer is about to move it."""
    if not for_update:
        return cases_for_matching(session, actor, [case_number], clock=clock)[0]
    referral = repository.get_for_update(session, actor, case_number)
    if referral is None:
        raise ReferralNotFoundError(f"There is no referral {case_number} that you can see.")
    audit.record(
        session,
        actor,
        MATCH_ACTION,
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
    )
    return _facts(session, referral)


def cases_for_matching(
    session: Session, actor: Actor, case_numbers: Sequence[str], *, clock: Clock
) -> list[CaseForMatching]:
    """``case_for_matching`` for many cases with two statements in all (the cases with
    their items and payers, one audit insert), in the order given; a case the actor may
    not see is not found, as for one. One case on PostgreSQL: one statement, its audit
    insert a CTE of the read (written only if the case is there to see)."""
    single = len(case_numbers) == 1 and session.get_bind().dialect.name == "postgresql"
    if single:
        values = audit.shared_values(actor, MATCH_ACTION, clock=clock)
        found = repository.matching_cases(session, actor, case_numbers, (audit.insert_from, values))
    else:
        found = repository.matching_cases(session, actor, set(case_numbers))
    for case_number in case_numbers:
        if case_number not in found:
            raise ReferralNotFoundError(f"There is no referral {case_number} that you can see.")
    cases = [found[c] for c in case_numbers]
    if not single:
        audit.record_many(
            session,
            actor,
            MATCH_ACTION,
            [(case.case_number, case.id, None) for case, _ in cases],
            clock=clock,
        )
    return [_case_of(case, items, case.payer_name) for case, items in cases]


def case_by_id(session: Session, referral_id: int, *, lock: bool = False) -> CaseForMatching:
    """For offers and the worker, which reach the case through an offer they may see.
    ``lock`` when the caller is about to move the case; reads must not queue writers."""
    if lock:
        return _facts(session, moves.locked(session, referral_id))
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise ReferralNotFoundError(f"no referral {referral_id}")
    return _facts(session, referral)


def _facts(session: Session, referral: Referral) -> CaseForMatching:
    return _case_of(
        referral,
        repository.items_of(session, referral.id),
        repository.payer_name(session, referral.payer_id)[1],
    )


def _case_of(
    referral: Referral | repository.MatchingCaseRow,
    items: Sequence[ReferralItem | repository.MatchingItemRow],
    payer_name: str | None,
) -> CaseForMatching:
    klass = ServiceClass(referral.service_class)
    line = moves.LINE_OF_CLASS[klass]
    categories = set()
    for item in items:
        entry = lookup_hcpcs(item.code) if item.code_system == CodeSystem.HCPCS.value else None
        # A mixed order (a visit and oxygen) is matched on the line that sets its deadline.
        if entry is not None and entry.service_line is line:
            categories.add(entry.category.value)
    info = zip_info(referral.address_zip) if referral.address_zip else None
    return CaseForMatching(
        id=referral.id,
        case_number=referral.case_number,
        status=referral.status,
        payer_id=referral.payer_id,
        zip_code=(referral.address_zip or "")[:5],
        state=referral.address_state or (info.state if info else ""),
        county=info.county if info else None,
        city=referral.address_city,
        time_zone=referral.time_zone,
        service_class=klass.value,
        service_line=line.value,
        categories=frozenset(categories),
        item_codes=tuple(i.code for i in items),
        items=tuple(
            {
                "code": i.code,
                "code_system": i.code_system,
                "quantity": i.quantity,
                "frequency": i.frequency,
                "rental": i.rental,
                "description": e.description if (e := lookup_hcpcs(i.code)) else i.description,
            }
            for i in items
        ),
        payer_name=payer_name,
        member_language=referral.member_language,
        requested_start=referral.requested_start,
        discharge_at=referral.discharge_at,
        urgency=referral.urgency,
        discharge_dependent=referral.urgency is Urgency.discharge
        or referral.discharge_at is not None,
    )


def check_offerable(session: Session, referral_id: int) -> None:
    """IllegalTransitionError (409, naming the allowed moves) unless the case may be
    offered now."""
    moves.check(moves.locked(session, referral_id), ReferralAction.offer)


def mark_offered(
    session: Session,
    actor: Actor,
    referral_id: int,
    *,
    provider_id: int,
    provider_name: str,
    offer_id: int,
    respond_by: datetime,
    clock: Clock,
) -> None:
    referral = moves.locked(session, referral_id)
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.offer,
        event_type="offer.made",
        clock=clock,
        provider_id=provider_id,
        provider=provider_name,
        offer_id=offer_id,
        respond_by=respond_by.isoformat(),
    )


def mark_offer_lapsed(
    session: Session,
    actor: Actor,
    referral_id: int,
    *,
    provider_id: int,
    provider_name: str,
    outcome: str,
    reason: str | None,
    clock: Clock,
) -> bool:
    """Record a declined, expired or withdrawn offer. False when the case is no longer
    waiting on that offer (cancelled meanwhile): the offer just closes."""
    referral = moves.locked(session, referral_id)
    if referral.status is not ReferralStatus.offered:
        return False
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.offer_lapsed,
        event_type=f"offer.{outcome}",
        clock=clock,
        provider_id=provider_id,
        provider=provider_name,
        reason=reason,
    )
    return True


def mark_accepted(
    session: Session,
    actor: Actor,
    referral_id: int,
    *,
    provider_id: int,
    provider_name: str,
    clock: Clock,
) -> None:
    referral = moves.locked(session, referral_id)
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.accept_offer,
        event_type="offer.accepted",
        clock=clock,
        provider_id=provider_id,
        provider=provider_name,
    )
    referral.assigned_provider_id = provider_id


def mark_unplaced(
    session: Session, actor: Actor, referral_id: int, *, reason: str, clock: Clock
) -> None:
    """No eligible provider is left: the case is unplaced and escalated."""
    referral = moves.locked(session, referral_id)
    moves.move(
        session,
        actor,
        referral,
        ReferralAction.mark_unplaced,
        event_type="referral.unplaced",
        clock=clock,
        reason=reason,
    )
    referral.escalated = True
    referral.escalation_reason = f"unplaced: {reason}"
    moves.event(
        session,
        actor,
        referral,
        "referral.escalated",
        now=clock.now(),
        reason=referral.escalation_reason,
    )
