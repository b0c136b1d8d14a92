"""The demo's care path after intake: a coverage file per payer, eligibility verified for
most acknowledged cases, prior authorisation in every outcome, and, once providers have
accepted, deliveries and visits scheduled, done on time or late, missed, and resupplied.

Everything goes through the same use cases as the API, at plausible times (a seeded
generator decides; a fixed clock places each move), so timelines, clocks and the work
queue read like real work.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.appeal import service as appeal_service
from careloop.appeal.schemas import AppealCreate
from careloop.claim import delivery as claim_delivery
from careloop.core.actor import Actor
from careloop.core.clock import FixedClock
from careloop.core.errors import DomainError
from careloop.eligibility import service as eligibility_service
from careloop.payer import service as payer_service
from careloop.payer.models import Payer
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import DenialReason, Outcome, Priority
from careloop.prior_auth.schemas import AuthorizationRequestIn, DecisionIn, InformationIn
from careloop.referral import service as referral_service
from careloop.referral.enums import ReferralStatus
from careloop.referral.models import Referral
from careloop.referral.schemas import CloseIn
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.rules import MissedReason
from careloop.scheduling.rules import Outcome as Done
from careloop.scheduling.schemas import OutcomeIn, ScheduleIn

#: Two plans per payer: one authorises nothing in advance, one wants it for the
#: equipment that costs most (hospital beds, power mobility, oxygen) and for infusion.
PLANS = (
    ("SELECT", "Select", ""),
    ("CARE", "Care Managed", "E1390 E0260 K0823 K0856 service_line:infusion"),
)


@dataclass
class CarePath:
    session: Session
    rng: random.Random
    fixed: FixedClock
    now: datetime
    manager: Actor
    reviewer: Actor

    # The first draws of each kind are scripted so every outcome appears whatever day the
    # demo is seeded on (which windows are past depends on the wall clock); then random.
    scripts: dict[str, list[float]] = field(
        default_factory=lambda: {
            "authorisation": [0.05, 0.15, 0.3, 0.5],  # waiting, pended, denied, approved
            "appeal": [0.9],  # the first denial stays denied (no appeal yet)
            "outcome": [0.05, 0.15, 0.5],  # missed, late, on time
            "close": [0.0],
        }
    )

    def at(self, moment: datetime) -> None:
        self.fixed.set(min(moment, self.now))

    def roll(self, kind: str) -> float:
        script = self.scripts.get(kind)
        return script.pop(0) if script else self.rng.random()


def seed_coverage(session: Session, rng: random.Random, fixed: FixedClock) -> None:
    """A coverage file for every payer: most members enrolled for the year; some ending
    this month (a finding when the start is later); a few not on file at all."""
    lines = [
        "payer_code,plan_code,plan_name,member_id,last_name,birth_date,effective_on,"
        "terminates_on,prior_auth"
    ]
    codes: dict[int | None, str] = {
        payer_id: code for payer_id, code in session.execute(select(Payer.id, Payer.code))
    }
    rows = session.execute(
        select(
            Referral.payer_id,
            Referral.member_id,
            Referral.member_last_name,
            Referral.member_birth_date,
            Referral.requested_start,
        ).where(Referral.member_id.is_not(None), Referral.payer_id.is_not(None))
    ).all()
    year = fixed.now().year
    for payer_id, member_id, last_name, born, start in rows:
        roll = rng.random()
        if roll < 0.04:
            continue  # not on the payer's file
        plan_code, plan_name, prior_auth = PLANS[0] if rng.random() < 0.55 else PLANS[1]
        ends = ""
        if roll < 0.09 and start is not None:
            ends = (start - timedelta(days=1)).isoformat()
        lines.append(
            f"{codes[payer_id]},{plan_code},{codes[payer_id]} {plan_name},{member_id},"
            f"{last_name},{born.isoformat()},{date(year, 1, 1).isoformat()},{ends},{prior_auth}"
        )
    payer_service.import_coverage(session, io.StringIO("\n".join(lines) + "\n"), clock=fixed)


def verify_and_authorise(path: CarePath) -> None:
    """Verify most acknowledged cases; request and decide prior authorisation."""
    rows = path.session.execute(
        select(Referral.case_number, Referral.updated_at)
        .where(Referral.status == ReferralStatus.acknowledged)
        .order_by(Referral.updated_at, Referral.id)
    ).all()
    for case_number, updated_at in rows:
        if path.rng.random() < 0.12 or updated_at > path.now - timedelta(minutes=40):
            continue  # still waiting for someone to verify it
        path.at(updated_at + timedelta(minutes=path.rng.randint(10, 90)))
        result = eligibility_service.verify_eligibility(
            path.session, path.manager, case_number, clock=path.fixed
        )
        if result.authorization_required:
            _authorise(path, case_number)


def _authorise(path: CarePath, case_number: str) -> None:
    rng = path.rng
    if rng.random() < 0.1:
        return  # verified; the request is not sent yet
    path.at(path.fixed.now() + timedelta(minutes=rng.randint(15, 120)))
    request = prior_auth_service.request_authorization(
        path.session, path.manager, case_number, AuthorizationRequestIn(), clock=path.fixed
    )
    roll = path.roll("authorisation")
    if roll < 0.12:
        return  # waiting for the payer's reviewer
    wait = timedelta(hours=rng.randint(4, 40 if request.priority is Priority.expedited else 120))
    path.at(path.fixed.now() + wait)
    if roll < 0.22:
        _decide(
            path,
            request.id,
            DecisionIn(
                outcome=Outcome.pended,
                missing_information=(
                    "Oxygen saturation test results (rest and exertion) and the face-to-face note"
                ),
            ),
        )
        if rng.random() < 0.5:
            path.at(path.fixed.now() + timedelta(hours=rng.randint(3, 30)))
            prior_auth_service.supply_information(
                path.session,
                path.manager,
                request.id,
                InformationIn(note="Faxed the oximetry report and the visit note"),
                clock=path.fixed,
            )
        return
    if roll < 0.34:
        _decide(
            path,
            request.id,
            DecisionIn(
                outcome=Outcome.denied,
                denial_reason=rng.choice(list(DenialReason)[:3]),
                note="Criteria not met on the records received",
                peer_to_peer_contact="Dr. Helen Marsh, medical director, 800-555-0142",
            ),
        )
        if path.roll("appeal") < 0.5:
            path.at(path.fixed.now() + timedelta(hours=rng.randint(5, 48)))
            appeal_service.open_appeal(
                path.session,
                path.manager,
                case_number,
                AppealCreate(
                    authorization_id=request.id,
                    rationale="SpO2 86 % at rest on room air; progress notes attached",
                ),
                clock=path.fixed,
            )
        return
    today = path.fixed.now().date()
    outcome = Outcome.partially_approved if roll < 0.42 else Outcome.approved
    items = [
        {"line": i.line, "units_approved": max(i.units_requested // 2, 1)}
        for i in request.items
        if i.units_requested > 1
    ][:1]
    if outcome is Outcome.partially_approved and not items:
        outcome = Outcome.approved
    _decide(
        path,
        request.id,
        DecisionIn.model_validate(
            {
                "outcome": outcome.value,
                "authorization_number": f"PA{rng.randrange(10**7):07d}",
                "valid_from": today.isoformat(),
                "valid_to": (today + timedelta(days=rng.choice([20, 90, 180]))).isoformat(),
                "items": items if outcome is Outcome.partially_approved else [],
            },
            strict=False,
        ),
    )


def _decide(path: CarePath, authorization_id: int, body: DecisionIn) -> None:
    prior_auth_service.record_decision(
        path.session, path.reviewer, authorization_id, body, clock=path.fixed
    )


def schedule_and_fulfil(path: CarePath, staff: dict[int, Actor]) -> None:
    """Accepted cases: most get a window; the older ones are delivered (mostly on time),
    a few missed; some fulfilled cases are closed. Recurring supplies book their next."""
    rows = path.session.execute(
        select(Referral.case_number, Referral.updated_at, Referral.assigned_provider_id)
        .where(Referral.status == ReferralStatus.accepted)
        .order_by(Referral.updated_at, Referral.id)
    ).all()
    for index, (case_number, accepted_at, provider_id) in enumerate(rows):
        if index % 5 == 4 or provider_id is None:
            continue  # accepted, still to be scheduled
        actor = staff[provider_id]
        ahead = index >= len(rows) - 4  # the latest: booked for the coming hours
        try:
            _fulfil(path, actor, case_number, accepted_at, ahead=ahead)
        except DomainError:
            continue  # a window the rules refuse: the case stays accepted
    path.at(path.now)


def _fulfil(
    path: CarePath, actor: Actor, case_number: str, accepted_at: datetime, *, ahead: bool
) -> None:
    rng = path.rng
    path.at(accepted_at + timedelta(minutes=rng.randint(20, 180)))
    referral = path.session.scalars(
        select(Referral).where(Referral.case_number == case_number)
    ).one()
    due = referral.service_due_at
    start = max(path.fixed.now() + timedelta(hours=3), due - timedelta(hours=rng.randint(6, 40)))
    if ahead:
        start = max(start, path.now + timedelta(hours=rng.randint(2, 20)))
    start = start.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=3)
    late_reason = "Member asked for a later day" if end > due else None
    booked = scheduling_service.schedule(
        path.session,
        actor,
        case_number,
        ScheduleIn(window_start=start, window_end=end, late_reason=late_reason),
        clock=path.fixed,
    )
    if end + timedelta(hours=1) > path.now:
        return  # the window is still ahead
    roll = path.roll("outcome")
    path.at(end - timedelta(minutes=rng.randint(10, 150)))
    if roll < 0.12:
        scheduling_service.record_outcome(
            path.session,
            actor,
            booked.id,
            OutcomeIn(outcome=Done.missed, reason=rng.choice(list(MissedReason)[:3])),
            clock=path.fixed,
        )
        return
    if roll < 0.2:
        path.at(end + timedelta(hours=rng.randint(20, 40)))  # delivered a day late
    equipment = [
        i.code
        for i in referral_service.get_referral(
            path.session, path.manager, case_number, clock=path.fixed
        ).items
        if i.code[:1] in {"E", "K"}
    ]
    visit = booked.kind.value == "visit"
    scheduling_service.record_outcome(
        path.session,
        actor,
        booked.id,
        OutcomeIn(
            outcome=Done.visit_done if visit else Done.delivered,
            at=path.fixed.now(),
            received_by=None if visit else rng.choice(["Member", "Daughter", "Husband", "Aide"]),
            serial_numbers=[f"SN{rng.randrange(10**8):08d}" for _ in equipment][:5],
        ),
        clock=path.fixed,
    )
    # The claim the worker would prepare for the delivery, prepared now so the seeded
    # cases show it (a refusal leaves a work item instead; the worker's clock is a no-op).
    path.at(path.fixed.now() + timedelta(minutes=rng.randint(5, 90)))
    claim_delivery.bill_appointment(path.session, booked.id, clock=path.fixed)
    if path.roll("close") < 0.3:
        path.at(path.fixed.now() + timedelta(hours=rng.randint(2, 48)))
        referral_service.close_referral(
            path.session,
            path.manager,
            case_number,
            CloseIn(note="Delivered and set up; member trained"),
            clock=path.fixed,
        )
