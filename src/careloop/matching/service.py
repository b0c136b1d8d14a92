"""Matching and offer use cases: rank the candidates of a referral, offer it to one
provider at a time, take the answer (exactly one acceptance wins), move on when an
offer lapses, and mark the case unplaced when nobody is left."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR, Actor
from careloop.core.clock import Clock
from careloop.db import raw
from careloop.db.session import session_config
from careloop.identity.permissions import require
from careloop.identity.rules import language_name
from careloop.matching import repository, rules
from careloop.matching.errors import (
    NoteRequiredError,
    OfferClosedError,
    OfferNotFoundError,
    ProviderNotEligibleError,
)
from careloop.matching.models import DeclineReason, Offer, OfferStatus
from careloop.matching.schemas import (
    CandidatesRead,
    DeclineIn,
    ExcludedCandidateRead,
    OfferCreate,
    OfferedCaseRead,
    OfferPage,
    OfferRead,
    RankedCandidateRead,
    UnplacedRead,
    WithdrawIn,
)
from careloop.network.models import Provider
from careloop.referral import assignment
from careloop.referral.assignment import CaseForMatching
from careloop.sla import compute_due
from careloop.sla import service as sla
from careloop.sla.models import ClockKind, ClockStatus

# ---- candidates ----------------------------------------------------------------------------


def _local_today(case: CaseForMatching, now: datetime) -> tuple[date, datetime]:
    """The member's local date and the instant it began (capacity counts per local day)."""
    zone = ZoneInfo(case.time_zone)
    today = now.astimezone(zone).date()
    return today, datetime.combine(today, time.min, zone)


#: How many of the area's other providers the candidates page explains (by id order).
EXPLAINED_EXCLUSIONS = 20


def _match(
    session: Session, case: CaseForMatching, now: datetime, *, explain: bool = False
) -> tuple[rules.MatchResult, date]:
    """Rank the eligible providers; with ``explain``, also say why (up to
    EXPLAINED_EXCLUSIONS of) the area's other providers are left out."""
    if explain:
        # The ranking query, the first of the area's other providers and the track
        # records come in one statement (one round trip instead of three).
        prefiltered, records = _prefilter_explained(session, case, now)
    else:
        prefiltered = _prefilter(session, case, now)
        since = now - repository.TRACK_RECORD_WINDOW
        records = repository.track_records(session, prefiltered.eligible, since=since)
    return _rank(prefiltered, records, _weights(session)), prefiltered.service_date


@dataclass(frozen=True, slots=True)
class _Prefiltered:
    case: CaseForMatching
    rows: list[repository.CandidateRow]
    eligible: list[int]  # the providers whose track record the ranking needs
    today: date
    service_date: date


def _inputs(case: CaseForMatching, now: datetime) -> repository.PrefilterInputs:
    today, day_start = _local_today(case, now)
    return repository.PrefilterInputs(
        referral_id=case.id,
        payer_id=case.payer_id,
        service_line=case.service_line,
        zip_code=case.zip_code,
        state=case.state,
        county=case.county,
        service_date=max(case.requested_start or today, today),
        day_starts_at=day_start,
        today=today,
    )


def _prefiltered(
    case: CaseForMatching,
    inputs: repository.PrefilterInputs,
    rows: list[repository.CandidateRow],
) -> _Prefiltered:
    eligible = [r.provider_id for r in rows if r.checklist_complete and r.in_network]
    return _Prefiltered(case, rows, eligible, inputs["today"], inputs["service_date"])


def _prefilter(session: Session, case: CaseForMatching, now: datetime) -> _Prefiltered:
    """The providers the ranking looks at (those SQL finds eligible)."""
    inputs = _inputs(case, now)
    rows = repository.candidates(session, **inputs, eligible_only=True)
    return _prefiltered(case, inputs, rows)


def _prefilter_explained(
    session: Session, case: CaseForMatching, now: datetime
) -> tuple[_Prefiltered, dict[int, repository.TrackRecord]]:
    """``_prefilter`` and the first EXPLAINED_EXCLUSIONS of the area's other providers,
    with the track records of ``_prefiltered(...).eligible``, from one statement."""
    inputs = _inputs(case, now)
    rows, records = repository.explained_candidates(
        session,
        **inputs,
        explained=EXPLAINED_EXCLUSIONS,
        since=now - repository.TRACK_RECORD_WINDOW,
    )
    return _prefiltered(case, inputs, rows), records


def _rank(
    prefiltered: _Prefiltered,
    records: dict[int, repository.TrackRecord],
    weights: rules.MatchingWeights,
) -> rules.MatchResult:
    return rules.rank(*_needs_and_facts(prefiltered, records), weights)


def _language_name(tag: str | None) -> str | None:
    """``pt-BR`` -> ``Portuguese`` (the primary subtag's name; the tag when unknown)."""
    if not tag:
        return None
    primary = tag.split("-", 1)[0]
    name = language_name(primary)
    return name if name != primary else tag


def _needs_and_facts(
    prefiltered: _Prefiltered, records: dict[int, repository.TrackRecord]
) -> tuple[rules.ReferralNeeds, list[rules.CandidateFacts]]:
    case, today = prefiltered.case, prefiltered.today
    needs = rules.ReferralNeeds(
        payer_name=case.payer_name or "the payer",
        service_date=prefiltered.service_date,
        zip_code=case.zip_code,
        county=case.county,
        state=case.state,
        service_line=case.service_line,
        categories=case.categories,
        member_language=case.member_language,
        member_language_name=_language_name(case.member_language),
    )
    facts = [
        _facts(row, records.get(row.provider_id, repository.NO_RECORD), today)
        for row in prefiltered.rows
    ]
    return needs, facts


def _weights(session: Session) -> rules.MatchingWeights:
    """The operator's weights (CARELOOP_MATCHING_WEIGHTS) over the defaults."""
    configured = session_config(session, "matching_weights")
    if not configured:
        return rules.DEFAULT_MATCHING_WEIGHTS
    return rules.MatchingWeights.from_config(configured)


@functools.lru_cache(maxsize=4096)
def _rates(record: repository.TrackRecord) -> tuple[rules.Rate, rules.Rate]:
    """The on-time and acceptance rates of a track record (a few hundred distinct records
    recur across rankings: each is checked and built once)."""
    on_time = rules.Rate(record.on_time, record.on_time + record.late_or_missed)
    return on_time, rules.Rate(record.accepted, record.accepted + record.not_accepted)


def _facts(
    row: repository.CandidateRow, record: repository.TrackRecord, today: date
) -> rules.CandidateFacts:
    until, complete = row.offerable_until, row.checklist_complete
    lapsed = until is not None and today >= until
    reason = None
    if not complete:
        reason = "onboarding checklist incomplete"
    elif lapsed:
        reason = f"a required credential lapsed on {until:%Y-%m-%d}"
    on_time, acceptance = _rates(record)
    used, capacity = row.used_today, row.daily_capacity
    # Positional, in the order of CandidateFacts' fields (keywords cost twice as much, at
    # tens of candidates a ranking): the provider, whether it may be offered and why not,
    # in network, serves the ZIP, the county, offers the line, its categories, capacity,
    # slots used (never more than the capacity), on-time and acceptance rates, languages,
    # already offered this referral.
    return rules.CandidateFacts(
        row.provider_id,
        row.name,
        complete and not lapsed,
        reason,
        row.in_network,
        row.serves_zip,
        row.serves_county,
        row.service_line_offered,
        row.categories,
        capacity,
        used if used < capacity else capacity,
        on_time,
        acceptance,
        row.languages,
        row.already_offered,
    )


def find_candidates(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> CandidatesRead:
    """The ranked eligible providers with their reasons, and why the others are left out."""
    require(actor, "offer:manage")
    case = assignment.case_for_matching(session, actor, case_number, clock=clock)
    prefiltered, records = _prefilter_explained(session, case, clock.now())
    weights = _weights(session)
    # The case read's audit record is the transaction's only write, and it is done: its
    # durable commit runs while the ranking is worded (db.raw.commit_meanwhile).
    with raw.commit_meanwhile(session):
        result = _rank(prefiltered, records, weights)
        return _candidates_read(case, result, prefiltered.service_date)


def _candidates_read(
    case: CaseForMatching, result: rules.MatchResult, service_date: date
) -> CandidatesRead:
    """The response: validated as one value (the candidates plain dicts), the same model
    as building each candidate's model first at a third less of the cost. A rule is a
    StrEnum member, validated to its plain string value; reasons a tuple, to a list."""
    return CandidatesRead.model_validate(
        {
            "case_number": case.case_number,
            "service_line": case.service_line,
            "categories": sorted(case.categories),
            "zip_code": case.zip_code,
            "service_date": service_date,
            "ranked": [
                {
                    "provider_id": c.provider_id,
                    "name": c.name,
                    "score": c.score,
                    "reasons": c.reasons,
                }
                for c in result.ranked
            ],
            "excluded": [
                {"provider_id": c.provider_id, "name": c.name, "rule": c.rule, "reason": c.reason}
                for c in result.excluded
            ],
        }
    )


def rank_batch(
    session: Session, actor: Actor, case_numbers: list[str], *, clock: Clock
) -> dict[str, list[RankedCandidateRead]]:
    """Ranked candidates of many referrals in the caller's one transaction (a nightly
    re-ranking, a sweep of unplaced cases): the eligible providers with their reasons,
    without explaining the others. Each case read is audited as for one referral.

    The cases, their items and payers are read, and their audit records written, with one
    statement each for the whole batch; then the pre-filters of every case (one statement
    per few hundred on PostgreSQL); then the track records of every provider any of them
    needs in one statement (a provider's record does not depend on the referral), so the
    batch costs little more than its pre-filters. The others left out are not worded."""
    require(actor, "offer:manage")
    now = clock.now()
    cases = assignment.cases_for_matching(session, actor, case_numbers, clock=clock)
    inputs = [_inputs(case, now) for case in cases]
    found = repository.candidates_of_many(session, inputs)
    prefiltered = [
        _prefiltered(case, values, rows)
        for case, values, rows in zip(cases, inputs, found, strict=True)
    ]
    needed = sorted({pid for p in prefiltered for pid in p.eligible})
    records = repository.track_records(session, needed, since=now - repository.TRACK_RECORD_WINDOW)
    weights = _weights(session)
    out: dict[str, list[RankedCandidateRead]] = {}
    for p in prefiltered:
        ranked = rules.rank_eligible(*_needs_and_facts(p, records), weights)
        out[p.case.case_number] = [
            RankedCandidateRead(
                provider_id=c.provider_id, name=c.name, score=c.score, reasons=list(c.reasons)
            )
            for c in ranked
        ]
    return out


# ---- offering ------------------------------------------------------------------------------


def offer_referral(
    session: Session, actor: Actor, case_number: str, body: OfferCreate, *, clock: Clock
) -> OfferRead | UnplacedRead:
    """Offer the referral to the best candidate, or to the one named if it is eligible.
    With no eligible provider at all, the case is marked unplaced and escalated."""
    require(actor, "offer:manage")
    case = assignment.case_for_matching(session, actor, case_number, clock=clock, for_update=True)
    # Refused (409 with the allowed moves) before anything is written: an offer waits for
    # eligibility and, where an item needs it, prior authorisation.
    assignment.check_offerable(session, case.id)
    result, _ = _match(session, case, clock.now(), explain=True)
    if body.provider_id is not None:
        chosen = [c for c in result.ranked if c.provider_id == body.provider_id]
        if not chosen:
            why = next(
                (c.reason for c in result.excluded if c.provider_id == body.provider_id),
                "it does not serve the member's area",
            )
            raise ProviderNotEligibleError(
                f"Provider {body.provider_id} cannot be offered {case.case_number}: {why}.",
                field="provider_id",
            )
        ranked = chosen
    else:
        ranked = list(result.ranked)
    offer = _offer_first(session, actor, case, ranked, clock=clock)
    if offer is None:
        reason = "no eligible provider in the network"
        assignment.mark_unplaced(session, actor, case.id, clock=clock, reason=reason)
        return UnplacedRead(
            case_number=case.case_number,
            reason=reason,
            excluded=[
                ExcludedCandidateRead(
                    provider_id=c.provider_id, name=c.name, rule=c.rule.value, reason=c.reason
                )
                for c in result.excluded
            ],
        )
    return _read(session, offer, case)


def _offer_first(
    session: Session,
    actor: Actor,
    case: CaseForMatching,
    ranked: list[rules.RankedCandidate],
    *,
    clock: Clock,
) -> Offer | None:
    if not ranked:
        return None
    best = ranked[0]
    now = clock.now()
    rule = rules.DEFAULT_OFFER_POLICY.rule_for(discharge_dependent=case.discharge_dependent)
    respond_by = compute_due(rule, now, time_zone=case.time_zone)
    offer = Offer(
        referral_id=case.id,
        provider_id=best.provider_id,
        status=OfferStatus.pending,
        service_line=case.service_line,
        rank=1,
        score=best.score,
        reasons=list(best.reasons),
        offered_at=now,
        respond_by=respond_by,
        offered_by_user_id=actor.user_id,
    )
    session.add(offer)
    session.flush()
    sla.start(
        session,
        kind=ClockKind.offer_response,
        referral_id=case.id,
        offer_id=offer.id,
        provider_id=best.provider_id,
        calendar=rule.calendar,
        time_zone=case.time_zone,
        rule_source=rule.source,
        now=now,
        due_at=respond_by,
    )
    assignment.mark_offered(
        session,
        actor,
        case.id,
        provider_id=best.provider_id,
        provider_name=best.name,
        offer_id=offer.id,
        respond_by=respond_by,
        clock=clock,
    )
    return offer


def _next_offer(session: Session, actor: Actor, referral_id: int, *, clock: Clock) -> None:
    """After a lapse: offer the next candidate, or mark the case unplaced."""
    case = assignment.case_by_id(session, referral_id, lock=True)
    result, _ = _match(session, case, clock.now())
    if _offer_first(session, actor, case, list(result.ranked), clock=clock) is None:
        assignment.mark_unplaced(
            session,
            actor,
            referral_id,
            clock=clock,
            reason="every eligible provider declined or did not answer",
        )


# ---- answering -----------------------------------------------------------------------------


def _visible_offer(session: Session, actor: Actor, offer_id: int) -> Offer:
    offer = repository.offer_visible(session, actor, offer_id)
    if offer is None:
        raise OfferNotFoundError(f"There is no offer {offer_id} that you can see.")
    return offer


def _closed(offer: Offer, now: datetime) -> OfferClosedError:
    session_status = offer.status
    if session_status is OfferStatus.pending and offer.respond_by <= now:
        return OfferClosedError(
            "This offer expired before it was answered.", extra={"status": "expired"}
        )
    if session_status is OfferStatus.accepted:
        return OfferClosedError(
            "This referral was already accepted.", extra={"status": session_status.value}
        )
    return OfferClosedError(
        f"This offer was {session_status.value} and can no longer be answered.",
        extra={"status": session_status.value},
    )


def accept_offer(session: Session, actor: Actor, offer_id: int, *, clock: Clock) -> OfferRead:
    """The provider accepts. Of any number of concurrent answers exactly one wins: the
    conditional UPDATE changes the row once, and a partial unique index allows one
    accepted offer per referral whatever happens above it."""
    require(actor, "offer:answer")
    offer = _visible_offer(session, actor, offer_id)
    now = clock.now()
    if not repository.respond(
        session, offer.id, to=OfferStatus.accepted, at=now, user_id=actor.user_id, open_until=now
    ):
        session.refresh(offer)
        raise _closed(offer, now)
    provider = session.get(Provider, offer.provider_id)
    assert provider is not None
    assignment.mark_accepted(
        session,
        actor,
        offer.referral_id,
        provider_id=provider.id,
        provider_name=provider.legal_name,
        clock=clock,
    )
    sla.close_offer_clock(session, offer.id, ClockStatus.met, now)
    session.refresh(offer)
    return _read(session, offer, assignment.case_by_id(session, offer.referral_id))


def decline_offer(
    session: Session, actor: Actor, offer_id: int, body: DeclineIn, *, clock: Clock
) -> OfferRead:
    """The provider declines with a coded reason; the next candidate is offered."""
    require(actor, "offer:answer")
    if body.reason is DeclineReason.other and not (body.note or "").strip():
        raise NoteRequiredError("Say in a note why the offer is declined.", field="note")
    offer = _visible_offer(session, actor, offer_id)
    now = clock.now()
    if not repository.respond(
        session,
        offer.id,
        to=OfferStatus.declined,
        at=now,
        user_id=actor.user_id,
        reason=body.reason.value,
        note=body.note,
        open_until=now,
    ):
        session.refresh(offer)
        raise _closed(offer, now)
    lapse(session, actor, offer, outcome="declined", reason=body.reason.value, clock=clock)
    session.refresh(offer)
    return _read(session, offer, assignment.case_by_id(session, offer.referral_id))


def withdraw_offer(
    session: Session, actor: Actor, offer_id: int, body: WithdrawIn, *, clock: Clock
) -> OfferRead:
    """Staff take an unanswered offer back (the provider called to say no, say)."""
    require(actor, "offer:manage")
    offer = _visible_offer(session, actor, offer_id)
    now = clock.now()
    if not repository.respond(
        session, offer.id, to=OfferStatus.withdrawn, at=now, user_id=actor.user_id, note=body.reason
    ):
        session.refresh(offer)
        raise _closed(offer, now)
    lapse(session, actor, offer, outcome="withdrawn", reason=body.reason, clock=clock)
    session.refresh(offer)
    return _read(session, offer, assignment.case_by_id(session, offer.referral_id))


def lapse(
    session: Session,
    actor: Actor,
    offer: Offer,
    *,
    outcome: str,
    reason: str | None,
    clock: Clock,
) -> None:
    """An offer closed unanswered or declined: record it on the case and offer the next
    candidate, or mark the case unplaced when none is left."""
    provider = session.get(Provider, offer.provider_id)
    assert provider is not None
    sla.close_offer_clock(
        session,
        offer.id,
        ClockStatus.breached if outcome == "expired" else ClockStatus.met,
        clock.now(),
    )
    if assignment.mark_offer_lapsed(
        session,
        actor,
        offer.referral_id,
        provider_id=provider.id,
        provider_name=provider.legal_name,
        outcome=outcome,
        reason=reason,
        clock=clock,
    ):
        _next_offer(session, actor, offer.referral_id, clock=clock)


def withdraw_offers_of_provider(
    session: Session, provider_id: int, *, reason: str, clock: Clock
) -> int:
    """A provider stopped being offerable (a credential lapsed): its unanswered offers go
    to the next candidates, and its staff no longer see them as open."""
    count = 0
    now = clock.now()
    for offer_id in repository.pending_offers_of_provider(session, provider_id):
        if repository.respond(
            session, offer_id, to=OfferStatus.withdrawn, at=now, user_id=None, note=reason
        ):
            offer = session.get(Offer, offer_id)
            assert offer is not None
            session.refresh(offer)
            lapse(session, SYSTEM_ACTOR, offer, outcome="withdrawn", reason=reason, clock=clock)
            count += 1
    return count


def _on_referral_cancelled(
    *, session: Session, actor: Actor, referral_id: int, clock: Clock
) -> None:
    """A cancelled case withdraws its open offer: it leaves the provider's list and no
    longer holds one of its slots."""
    now = clock.now()
    for offer in repository.offers_of_referral(session, referral_id):
        if offer.status is OfferStatus.pending and repository.respond(
            session,
            offer.id,
            to=OfferStatus.withdrawn,
            at=now,
            user_id=actor.user_id,
            note="the referral was cancelled",
        ):
            sla.close_offer_clock(session, offer.id, ClockStatus.met, now)


events.subscribe("referral.cancelled", _on_referral_cancelled)


# ---- reading -------------------------------------------------------------------------------


def get_offer(session: Session, actor: Actor, offer_id: int, *, clock: Clock) -> OfferRead:
    require(actor, "offer:read")
    offer = _visible_offer(session, actor, offer_id)
    return _read(session, offer, assignment.case_by_id(session, offer.referral_id))


def list_offers(
    session: Session,
    actor: Actor,
    *,
    status: OfferStatus | None,
    case_number: str | None,
    limit: int,
    offset: int,
    clock: Clock,
) -> OfferPage:
    """Offers the actor may see: provider staff those made to their organisation."""
    require(actor, "offer:read")
    referral_id = None
    if case_number is not None:
        referral_id = assignment.case_for_matching(session, actor, case_number, clock=clock).id
    rows, total = repository.offers_page(
        session, actor, status=status, referral_id=referral_id, limit=limit, offset=offset
    )
    # One case read per distinct referral and one provider query for the page, not one
    # of each per offer (a case offered to several providers lists several times).
    cases = {rid: assignment.case_by_id(session, rid) for rid in {o.referral_id for o in rows}}
    names = repository.provider_names(session, {o.provider_id for o in rows})
    return OfferPage(
        items=[_to_read(o, cases[o.referral_id], names.get(o.provider_id, "")) for o in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _read(session: Session, offer: Offer, case: CaseForMatching) -> OfferRead:
    provider = session.get(Provider, offer.provider_id)
    return _to_read(offer, case, provider.legal_name if provider else "")


def _to_read(offer: Offer, case: CaseForMatching, provider_name: str) -> OfferRead:
    links = {"self": f"/api/v1/offers/{offer.id}"}
    if offer.status is OfferStatus.accepted:
        links["case"] = f"/api/v1/referrals/{case.case_number}"
    return OfferRead(
        id=offer.id,
        status=offer.status,
        provider_id=offer.provider_id,
        provider_name=provider_name,
        offered_at=offer.offered_at,
        respond_by=offer.respond_by,
        responded_at=offer.responded_at,
        decline_reason=offer.decline_reason,
        decline_note=offer.decline_note,
        rank=offer.rank,
        score=offer.score,
        reasons=list(offer.reasons or []),
        case=OfferedCaseRead(
            case_number=case.case_number,
            service_class=case.service_class,
            service_line=case.service_line,
            items=list(case.items),
            city=case.city,
            state=case.state,
            zip_code=case.zip_code,
            payer_name=case.payer_name,
            requested_start=case.requested_start,
            discharge_at=case.discharge_at,
            urgency=case.urgency.value,
            member_language=case.member_language,
        ),
        links=links,
    )
