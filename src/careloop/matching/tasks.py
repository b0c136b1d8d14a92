"""What the worker does when an offer or a credential clock is due. Each handler runs in
the worker's transaction with the clock it fires; the clock is marked by the caller."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.core.actor import SYSTEM_ACTOR
from careloop.core.clock import Clock
from careloop.matching import repository, service
from careloop.matching.models import Offer, OfferStatus
from careloop.network import service as network_service
from careloop.sla.models import Clock as ClockRow
from careloop.sla.models import ClockStatus


def on_offer_response_due(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """No answer within the response window: the offer expires and the next candidate
    is offered (or the case is unplaced). An offer answered meanwhile is left alone."""
    offer = session.get(Offer, row.offer_id) if row.offer_id is not None else None
    if offer is None or offer.status is not OfferStatus.pending:
        return ClockStatus.met
    if not repository.respond(
        session, offer.id, to=OfferStatus.expired, at=clock.now(), user_id=None
    ):
        return ClockStatus.met
    session.refresh(offer)
    service.lapse(
        session, SYSTEM_ACTOR, offer, outcome="expired", reason="no answer in time", clock=clock
    )
    return ClockStatus.breached


def on_credential_expiry(session: Session, row: ClockRow, clock: Clock) -> ClockStatus:
    """A credential lapsed today: the provider's offerability is recomputed and, if it
    may no longer be offered work, its unanswered offers go to the next candidates."""
    if row.provider_id is None:
        return ClockStatus.met
    today = clock.now().date()
    network_service.refresh_offerability(session, row.provider_id, today=today)
    if not network_service.is_offerable(session, row.provider_id, today=today):
        service.withdraw_offers_of_provider(
            session, row.provider_id, reason="a required credential lapsed", clock=clock
        )
    return ClockStatus.breached
