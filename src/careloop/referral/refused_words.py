"""Why a move on a case is refused, in the words a care coordinator uses: what could
not be done and where the case stands ("This case's eligibility can't be verified now:
it is waiting for the health plan's approval."), never an action name or a status
value. The codes stay in the error's machine-readable fields (``status``,
``allowed_actions``)."""

from __future__ import annotations

from careloop.referral.enums import ReferralAction as A
from careloop.referral.enums import ReferralStatus as S

#: What could not be done, as the start of the sentence.
_CANNOT = {
    A.acknowledge: "This case can't be acknowledged now",
    A.supply_information: "Missing information can't be added to this case now",
    A.verify_eligibility: "This case's eligibility can't be verified now",
    A.request_authorization: "Prior authorisation can't be requested for this case now",
    A.record_authorization_decision: (
        "The health plan's decision can't be recorded on this case now"
    ),
    A.appeal: "The health plan's decision on this case can't be appealed now",
    A.offer: "This case can't be offered to a provider now",
    A.accept_offer: "The offer on this case can't be accepted now",
    A.offer_lapsed: "The offer on this case can't be ended now",
    A.mark_unplaced: "This case can't be marked as having no provider now",
    A.schedule: "A visit or delivery can't be scheduled for this case now",
    A.record_delivery: "A delivery or start of care can't be recorded on this case now",
    A.record_missed: "A missed visit or delivery can't be recorded on this case now",
    A.close: "This case can't be closed now",
    A.cancel: "This case can't be cancelled now",
}

#: Where the case stands, as the reason.
_STANDS = {
    S.received: "it has not been acknowledged yet",
    S.needs_clarification: "it is waiting for missing information",
    S.acknowledged: "the member's coverage has not been checked yet",
    S.eligibility_verified: "the member's coverage has been checked",
    S.authorization_pending: "it is waiting for the health plan's approval",
    S.authorized: "the health plan has approved it",
    S.denied: "the health plan did not approve it",
    S.offered: "it is offered to a provider, waiting for an answer",
    S.accepted: "a provider has accepted it",
    S.unplaced: "no provider has taken it yet",
    S.scheduled: "its visit or delivery is scheduled",
    S.missed: "a visit or delivery was missed and is being rescheduled",
    S.fulfilled: "the equipment was delivered or care has started",
    S.closed: "it is closed",
    S.cancelled: "it was cancelled",
}


def stands(status: S) -> str:
    """Where a case stands, as a reason ("it is closed")."""
    return _STANDS[status]


def refused_move(action: A, status: S, *, acknowledged: bool) -> str:
    """A refused move in one sentence, without the moves allowed now."""
    if action is A.acknowledge and acknowledged:
        why = "it was already acknowledged"
    elif action is A.offer and status is S.eligibility_verified:
        why = "its items need prior authorisation first"
    elif action is A.request_authorization and status is S.eligibility_verified:
        why = "its items don't need prior authorisation"
    else:
        why = _STANDS[status]
    return f"{_CANNOT[action]}: {why}."
