"""A payer's 278 response read back into the case: the decision recorded through
``prior_auth.service.record_payer_decision`` (approved with its number, dates and units,
pended with what is missing, denied with its reason and peer-to-peer contact), or, when
the payer's AAA refused the request unreviewed, the request marked rejected and the
case's timeline told what to correct. Only the payer the request went to answers it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.clearinghouse import rules, x278
from careloop.clearinghouse.envelope import Interchange
from careloop.clearinghouse.models import X12Exchange
from careloop.clearinghouse.records import (
    Received,
    case_of,
    ignore,
    record_inbound,
    refused,
    request_answered,
)
from careloop.clearinghouse.rules import ClearinghouseConfig, ExchangeStatus
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import DomainError
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import Outcome
from careloop.prior_auth.schemas import DecisionIn, ItemDecisionIn
from careloop.referral.models import Referral


def apply_278(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    response: x278.ReviewResponse,
    *,
    clock: Clock,
    config: ClearinghouseConfig,
) -> Received:
    request = request_answered(
        session,
        trace=response.trace,
        reference=response.reference,
        transaction="278",
        partner=interchange.sender_id,
    )
    referral = case_of(session, actor, request)
    now = clock.now()
    if request is None or referral is None or request.authorization_id is None:
        detail = (
            f"the 278 answers no request CareLoop sent to {interchange.sender_id} "
            f"(trace {response.trace[:60]!r})"
        )
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="278",
            case_number=None,
            detail=detail,
        )
    if response.action is None:
        return _review_refused(
            session, actor, name, text, interchange, response, request, referral, clock=clock
        )
    body = decision_of(response, config.reasons)
    try:
        with session.begin_nested():
            read = prior_auth_service.record_payer_decision(
                session, actor, request.authorization_id, body, clock=clock
            )
    except DomainError as exc:
        detail = exc.detail
        if exc.errors:
            detail += " " + "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="278",
            case_number=referral.case_number,
            detail=detail,
        )
    record_inbound(
        session, name, text, interchange, status=ExchangeStatus.applied, request=request, now=now
    )
    if body.outcome is Outcome.pended:
        # A pended review is answered again later, under the same trace.
        request.status = ExchangeStatus.sent
    return Received(
        name,
        ExchangeStatus.applied,
        "278",
        referral.case_number,
        f"authorisation {read.status.value.replace('_', ' ')}",
    )


def _review_refused(
    session: Session,
    actor: Actor,
    name: str,
    text: str,
    interchange: Interchange,
    response: x278.ReviewResponse,
    request: X12Exchange,
    referral: Referral,
    *,
    clock: Clock,
) -> Received:
    """A 278 response whose AAA says the payer refused the request unreviewed: nothing is
    decided; the request is marked rejected with the reasons in plain words, and the
    case's timeline says what to correct before sending it again."""
    now = clock.now()
    if request.status is ExchangeStatus.answered:
        detail = "the request was decided already; this later refusal is kept, not applied"
        return ignore(
            session,
            name,
            text,
            interchange,
            request=request,
            now=now,
            transaction="278",
            case_number=referral.case_number,
            detail=detail,
        )
    reason = rules.refusal(tuple((x.level, x.code) for x in response.rejections))
    return refused(
        session,
        actor,
        name,
        text,
        interchange,
        request=request,
        referral=referral,
        event="x12.review_request_refused",
        reason=reason,
        clock=clock,
    )


def decision_of(response: x278.ReviewResponse, reasons: rules.ReasonCodes) -> DecisionIn:
    """A 278 response as the decision prior_auth records (HCR01 read through
    :data:`rules.OUTCOME_OF_ACTION`)."""
    assert response.action is not None, "a refused request has no decision"
    outcome = rules.OUTCOME_OF_ACTION[response.action]
    values: dict[str, object] = {"outcome": outcome}
    if outcome in (Outcome.approved, Outcome.partially_approved):
        number = response.certification_number or next(
            (s.certification_number for s in response.services if s.certification_number), None
        )
        values.update(
            authorization_number=number,
            valid_from=response.valid_from,
            valid_to=response.valid_to,
            items=[
                ItemDecisionIn(line=s.line, units_approved=s.units)
                for s in response.services
                if s.units is not None
            ],
        )
    elif outcome is Outcome.pended:
        values["missing_information"] = response.message or (
            "The payer pended the review without saying what it needs: call the payer."
        )
    else:
        code = response.reason_code or next(
            (s.reason_code for s in response.services if s.reason_code), None
        )
        values.update(
            denial_reason=reasons.reason_of(code or ""),
            note=f"Payer's reason code {code or 'not given'}."
            + (f" {response.message}" if response.message else ""),
            peer_to_peer_contact=response.contact
            or "the payer's utilisation management line (no contact given in its 278)",
        )
    return DecisionIn.model_validate(values)
