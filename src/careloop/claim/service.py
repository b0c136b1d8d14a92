"""Preparing a claim for a delivered service or a visit done, and posting an 835.

A claim leaves only as an 837P that pyx12 finds no error in; its timely-filing window
is a clock (the sla domain writes it). An 835 is read whole before anything is posted:
a malformed file posts nothing; every denial on it opens a work item (the work queue's
``work.needed``) saying what to do: correct and resubmit, or appeal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from careloop.audit import service as audit
from careloop.claim import repository, rules, x835, x837
from careloop.claim.models import Claim, ClaimLine, ClaimPosting, Remittance
from careloop.core import events
from careloop.core.actor import Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, DomainError, FieldError
from careloop.db.session import session_config
from careloop.identity.permissions import require
from careloop.network.models import Provider
from careloop.payer.models import Payer
from careloop.prior_auth.models import AuthorizationItem, AuthorizationRequest
from careloop.prior_auth.rules import AuthorizationStatus
from careloop.referral import moves
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus

#: What a claim may be billed for (the scheduling domain's outcomes).
BILLABLE = (AppointmentStatus.delivered, AppointmentStatus.visit_done)

#: Session configuration key (Settings.database_config): the coordinator's billing identity.
COORDINATOR_KEY = "coordinator_billing"


class ClaimRefusedError(DomainError):
    code = "claim_refused"
    status = 422
    title = "The claim did not pass the 837P checks and was not sent"


class NothingToBillError(ConflictError):
    code = "nothing_to_bill"
    title = "The case has no delivered service or visit done to bill"


@dataclass(frozen=True, slots=True)
class Prepared:
    claim_id: int
    claim_number: str
    charge: Decimal
    x12: str


def payer_contract(payer: Payer | None) -> rules.ClaimRules:
    """The payer's contract (``rules.claims``), checked: a bad setting is refused with
    the setting named, never billed at a figure the contract does not say."""
    settings = payer.rules.get("claims") if payer is not None and payer.rules else None
    return rules.claim_rules(settings)


def check_contract(payer_rules: Mapping[str, object] | None) -> None:
    """Refuse a payer's rule overrides whose ``claims`` settings break a rule (the payer
    domain, below this one, leaves that group to the claim domain)."""
    claims = (payer_rules or {}).get("claims")
    if claims is not None and not isinstance(claims, Mapping):
        raise rules.ClaimContractError(
            "rules.claims: an object of claim settings", field="rules.claims"
        )
    rules.claim_rules(claims)


def coordinator(session: Session) -> rules.CoordinatorIdentity:
    """The coordinator's billing identity from the operator's settings (the demo's
    synthetic figures when none are configured)."""
    return rules.coordinator_identity(session_config(session, COORDINATOR_KEY))


def _authorisation(session: Session, referral_id: int) -> tuple[str | None, dict[str, int] | None]:
    request = session.scalars(
        select(AuthorizationRequest)
        .where(
            AuthorizationRequest.referral_id == referral_id,
            AuthorizationRequest.status == AuthorizationStatus.approved,
        )
        .order_by(AuthorizationRequest.id.desc())
    ).first()
    if request is None:
        return None, None
    items = session.scalars(
        select(AuthorizationItem).where(AuthorizationItem.request_id == request.id)
    ).all()
    units: dict[str, int] = {}
    for item in items:
        units[item.code] = units.get(item.code, 0) + (item.units_approved or 0)
    return request.authorization_number, units


def prepare(
    session: Session,
    actor: Actor,
    referral_id: int,
    lines: Sequence[rules.Line],
    *,
    clock: Clock,
    appointment_id: int | None = None,
) -> Prepared:
    """Price, check, write and validate the claim; store it and open its filing clock.
    Nothing is stored when a rule or pyx12 refuses it. Units are checked against what
    the authorisation has left after the case's earlier claims under it."""
    referral = moves.locked(session, referral_id)
    done = session.scalars(
        select(Appointment).where(
            Appointment.referral_id == referral.id, Appointment.status.in_(BILLABLE)
        )
    ).all()
    if not done:
        raise NothingToBillError(f"case {referral.case_number} has nothing delivered yet")
    payer = session.get(Payer, referral.payer_id) if referral.payer_id else None
    contract = payer_contract(payer)
    number, authorised = _authorisation(session, referral.id)
    if number is not None and authorised is not None:
        authorised = rules.units_left(
            authorised, repository.units_billed(session, referral.id, number)
        )
    if referral.authorization_required and authorised is None:
        raise ClaimRefusedError(
            "the case needs an authorisation and has none approved",
            field="authorization_number",
        )
    priced = rules.price(
        lines, diagnoses=referral.diagnoses, authorized_units=authorised, rules=contract
    )
    provider = (
        session.get(Provider, referral.assigned_provider_id)
        if referral.assigned_provider_id
        else None
    )
    if provider is None and contract.billed_by is rules.BilledBy.provider:
        raise ClaimRefusedError("the case has no provider to bill", field="provider")
    rendering = (
        x837.Provider(provider.legal_name, provider.npi, provider.taxonomy_code)
        if provider is not None
        else None
    )
    us = coordinator(session)
    coordinator_as_provider = x837.Provider(us.name, us.npi, us.taxonomy)
    billing = (
        rendering
        if contract.billed_by is rules.BilledBy.provider and rendering is not None
        else coordinator_as_provider
    )
    tax_id = provider.ein if provider is not None and billing is rendering else us.tax_id
    now = clock.now()
    claim_number = f"{referral.case_number}-{_next(session, referral.id)}"
    document = x837.Claim837(
        claim_number=claim_number,
        submitter_name=us.name,
        submitter_id=us.submitter_id,
        submitter_phone=us.phone,
        receiver_name=payer.name if payer else "PAYER",
        receiver_id=payer.code if payer else "PAYER",
        billing=billing,
        billing_tax_id=tax_id,
        billing_address=us.street,
        billing_city=us.city,
        billing_state=provider.state if provider is not None and billing is rendering else us.state,
        billing_zip=us.zip_code,
        rendering=rendering,
        member_last=referral.member_last_name,
        member_first=referral.member_first_name,
        member_id=referral.member_id or "",
        member_birth_date=referral.member_birth_date,
        member_sex=(referral.member_sex or "U")[:1].upper(),
        group_number=referral.group_number or "",
        payer_name=payer.name if payer else "PAYER",
        payer_id=payer.code if payer else "PAYER",
        filing_indicator=contract.filing_indicator,
        diagnoses=tuple(referral.diagnoses),
        lines=priced,
        total=rules.total(priced),
        authorization_number=number,
    )
    text = x837.write(document, control_number=_control(session), created=now)
    problems = x837.validate(text)
    if problems:
        raise ClaimRefusedError(
            f"pyx12 found {len(problems)} error(s); the claim was not sent",
            errors=[FieldError(p.segment or "x12", str(p)) for p in problems],
        )
    first = min(line.service_date for line in priced)
    window = rules.filing_window(datetime.combine(first, time(0), tzinfo=UTC), contract)
    claim = Claim(
        referral_id=referral.id,
        claim_number=claim_number,
        appointment_id=appointment_id,
        status=rules.ClaimStatus.prepared,
        billed_by=contract.billed_by.value,
        billing_npi=billing.npi,
        rendering_npi=rendering.npi if rendering is not None else None,
        payer_id=referral.payer_id,
        authorization_number=number,
        diagnoses=list(referral.diagnoses),
        charge_cents=rules.to_cents(document.total),
        expected_cents=rules.to_cents(document.total),
        paid_cents=0,
        first_service_on=first,
        filing_closes_at=window.closes,
        filing_escalates_at=window.escalate_at,
        x12=text,
        created_at=now,
    )
    session.add(claim)
    session.flush()
    session.add_all(
        ClaimLine(
            claim_id=claim.id,
            line=n,
            code=p.code,
            modifiers=list(p.modifiers),
            units=p.units,
            service_date=p.service_date,
            pointers=list(p.pointers),
            charge_cents=rules.to_cents(p.charge),
        )
        for n, p in enumerate(priced, start=1)
    )
    clocks.start(
        session,
        kind=ClockKind.timely_filing,
        referral_id=referral.id,
        subject_id=claim.id,
        due_at=max(window.warn_at, now),
        rule_source=window.source,
        time_zone=referral.time_zone,
        now=now,
    )
    moves.event(session, actor, referral, "claim.prepared", now=now, claim_number=claim_number)
    # A claim made by hand settles what the case's refusals asked for; one made for a
    # delivery, that delivery's.
    for appointment in done:
        if appointment_id is None or appointment.id == appointment_id:
            events.publish(
                "work.done", session=session, clock=clock, subject=refusal_subject(appointment.id)
            )
    audit.record(
        session,
        actor,
        "claim.prepare",
        clock=clock,
        case_number=referral.case_number,
        referral_id=referral.id,
        detail={"claim_id": claim.id},
    )
    return Prepared(claim.id, claim_number, document.total, text)


def refusal_subject(appointment_id: int) -> str:
    """The work item that says why a delivery's claim could not be prepared."""
    return f"appointment:{appointment_id}:claim"


def _next(session: Session, referral_id: int) -> int:
    return repository.claims_of_case(session, referral_id) + 1


def _control(session: Session) -> int:
    last = session.scalars(select(Claim.id).order_by(Claim.id.desc())).first()
    return (last or 0) + 1


@dataclass(frozen=True, slots=True)
class Posted:
    remittance_id: int
    claims_posted: int
    denials: int
    unmatched: tuple[str, ...]
    variance: Decimal


def import_835(session: Session, actor: Actor, text: str, *, clock: Clock) -> Posted:
    """Read the 835 whole (a malformed one raises before anything is written), then post
    each claim payment, reconcile it with what the fee schedule expected, and open a
    work item for each denial."""
    remittance = x835.read(text)
    key = f"{remittance.sender_id}:{remittance.control_number}"[:60]
    if repository.remittance_posted(session, key):
        raise ConflictError(
            f"this 835 (interchange {remittance.control_number}) was posted already"
        )
    now = clock.now()
    row = Remittance(
        interchange_key=key,
        payer_name=remittance.payer_name[:200],
        trace_number=remittance.trace_number[:60],
        paid_cents=rules.to_cents(rules.money(remittance.total_paid)),
        paid_on=remittance.paid_on,
        received_at=now,
    )
    session.add(row)
    session.flush()
    denials, unmatched, variance = 0, [], Decimal("0.00")
    for payment in remittance.claims:
        claim = repository.claim_by_number_for_update(session, payment.claim_number)
        paid = rules.to_cents(rules.money(payment.paid))
        difference = None
        if claim is None:
            unmatched.append(payment.claim_number)
        else:
            claim.paid_cents += paid
            difference = claim.paid_cents - claim.expected_cents
            variance += rules.from_cents(difference)
            claim.status = (
                rules.ClaimStatus.denied
                if payment.denied
                else rules.ClaimStatus.paid
                if claim.paid_cents >= claim.expected_cents
                else rules.ClaimStatus.partly_paid
            )
        session.add(
            ClaimPosting(
                remittance_id=row.id,
                claim_id=claim.id if claim else None,
                claim_number=payment.claim_number[:38],
                status_code=payment.status[:4],
                charge_cents=rules.to_cents(rules.money(payment.charge)),
                paid_cents=paid,
                variance_cents=difference,
                adjustments=[
                    {
                        "group": a.group,
                        "reason": a.reason,
                        "cents": rules.to_cents(rules.money(a.amount)),
                    }
                    for a in payment.adjustments
                ],
                remarks=list(payment.remarks),
                denied=payment.denied,
                posted_at=now,
            )
        )
        if claim is not None:
            if payment.denied:
                denials += 1
                _denial_work(session, claim, payment, clock=clock)
            # Answered by the payer: the filing window is met either way.
            clocks.close(
                session,
                claim.referral_id,
                [ClockKind.timely_filing],
                status=ClockStatus.met,
                at=now,
                subject_id=claim.id,
            )
            audit.record(
                session,
                actor,
                "claim.remittance_posted",
                clock=clock,
                referral_id=claim.referral_id,
                detail={"claim_id": claim.id, "remittance_id": row.id},
            )
    session.flush()
    return Posted(
        row.id, len(remittance.claims) - len(unmatched), denials, tuple(unmatched), variance
    )


def denial_title(payment: x835.ClaimPayment) -> str:
    """What the person who picks up the work item does (the appeal seam)."""
    reasons = ", ".join(f"{a.group}-{a.reason}" for a in payment.adjustments) or "none given"
    remarks = f"; remarks {', '.join(payment.remarks)}" if payment.remarks else ""
    return (
        f"Claim {payment.claim_number} denied (reason codes {reasons}{remarks}): "
        "correct and resubmit the claim, or open an appeal with the payer"
    )[:300]


def _denial_work(
    session: Session, claim: Claim, payment: x835.ClaimPayment, *, clock: Clock
) -> None:
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=claim.referral_id,
        kind="claim_denied",
        team="case_management",
        due_at=clock.now(),
        subject=f"claim:{claim.id}:denied",
        title=denial_title(payment),
    )


def prepare_for_case(
    session: Session,
    actor: Actor,
    case_number: str,
    lines: Sequence[rules.Line],
    *,
    clock: Clock,
) -> Prepared:
    """:func:`prepare` for a case the actor may see (404 otherwise)."""
    require(actor, "claim:prepare")
    referral = moves.visible_for_update(session, actor, case_number, "claim.prepare", clock=clock)
    return prepare(session, actor, referral.id, lines, clock=clock)


def import_835_as(session: Session, actor: Actor, text: str, *, clock: Clock) -> Posted:
    require(actor, "remittance:import")
    return import_835(session, actor, text, clock=clock)


# ---- read by the monthly denial audit (report domain) ----------------------------------


@dataclass(frozen=True, slots=True)
class DenialRead:
    """A claim denial an 835 posted, as the denial audit reads it: the payer's reason
    codes (CARC, with their group and amount), its remarks (RARC), what was at stake
    (expected, or charged when the claim is not ours, less what that posting paid) and
    what the claim has been paid since (an appeal or a corrected claim that won)."""

    claim_number: str
    referral_id: int | None
    posted_at: datetime
    adjustments: tuple[tuple[str, str, Decimal], ...]
    remarks: tuple[str, ...]
    at_stake: Decimal
    paid_since: Decimal
    item: str | None


def denials_between(session: Session, start: datetime, end: datetime) -> list[DenialRead]:
    """Claim denials posted in [start, end), oldest first (figures and codes only)."""
    first_line = (
        select(ClaimLine.code)
        .where(ClaimLine.claim_id == Claim.id)
        .order_by(ClaimLine.line)
        .limit(1)
        .scalar_subquery()
    )
    later = aliased(ClaimPosting)
    paid_after = (
        select(func.coalesce(func.sum(later.paid_cents), 0))
        .where(later.claim_id == ClaimPosting.claim_id, later.id > ClaimPosting.id)
        .scalar_subquery()
    )
    stmt = (
        select(ClaimPosting, Claim.referral_id, Claim.expected_cents, paid_after, first_line)
        .outerjoin(Claim, Claim.id == ClaimPosting.claim_id)
        .where(
            ClaimPosting.denied.is_(True),
            ClaimPosting.posted_at >= start,
            ClaimPosting.posted_at < end,
        )
        .order_by(ClaimPosting.posted_at, ClaimPosting.id)
    )
    out = []
    for posting, referral_id, expected, since, item in session.execute(stmt):
        owed = expected if expected is not None else posting.charge_cents
        out.append(
            DenialRead(
                claim_number=posting.claim_number,
                referral_id=referral_id,
                posted_at=posting.posted_at,
                adjustments=tuple(
                    (
                        str(a.get("group", "")),
                        str(a.get("reason", "")),
                        rules.from_cents(int(a.get("cents", 0))),
                    )
                    for a in posting.adjustments
                ),
                remarks=tuple(posting.remarks),
                at_stake=rules.from_cents(max(owed - posting.paid_cents, 0)),
                paid_since=rules.from_cents(int(since or 0)),
                item=item if posting.claim_id is not None else None,
            )
        )
    return out


def fee_schedule_values(
    session: Session,
    cases: Sequence[tuple[int | None, Sequence[tuple[str, int, bool | None]]]],
) -> list[tuple[Decimal, int]]:
    """What each case's items are worth on its payer's fee schedule (the contract's, the
    defaults where it names none): per case, the value of the items with a price
    (quantity times the unit price; a rental is one month, RR, a purchase NU) and how
    many items have no price. ``cases`` are (payer id, [(code, quantity, rental)])."""
    contracts: dict[int | None, rules.ClaimRules] = {}
    out = []
    for payer_id, items in cases:
        if payer_id not in contracts:
            payer = session.get(Payer, payer_id) if payer_id is not None else None
            contracts[payer_id] = payer_contract(payer)
        contract = contracts[payer_id]
        value, unpriced = Decimal("0.00"), 0
        for code, quantity, rental in items:
            modifiers = ("RR",) if rental else ("NU",) if rental is False else ()
            each = rules.unit_price(code, modifiers, contract)
            if each is None:
                unpriced += 1
            else:
                value += rules.money(each * max(quantity, 0), contract)
        out.append((value, unpriced))
    return out
