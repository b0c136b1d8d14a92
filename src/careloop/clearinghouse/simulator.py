"""The payer simulator (``careloop payer-sim``; started by ``careloop demo``): a sandbox
payer behind the clearinghouse folder that answers the 270, 276 and 278 files it finds
with a 271, a 277 and a 278 response, and each 837P claim with a 999 (pyx12's verdict)
and, on a later pass, for an accepted claim, an 835 remittance, so the demo runs end
to end.

It plays the payer: eligibility follows the payer's coverage file as CareLoop holds it
(the payer's own data in this sandbox), and a 278 and a claim are decided by the simple
per-payer rules of :class:`careloop.clearinghouse.rules.SimulatorRules`. Files it has
answered move to ``outbound/taken/``, as a clearinghouse would take them; accepted
claims wait in ``outbound/adjudicating/`` for their 835.
"""

from __future__ import annotations

import os
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy.orm import Session

from careloop.claim import x835
from careloop.clearinghouse import ack, claim_status, rules, x270, x278
from careloop.clearinghouse.claim_files import REMITTANCE_CONTROL_BASE
from careloop.clearinghouse.envelope import Interchange, Party, X12FormatError, read_interchange
from careloop.clearinghouse.exchange import SUFFIX, write_atomically
from careloop.core.clock import Clock
from careloop.db.session import Database
from careloop.eligibility import rules as eligibility_rules
from careloop.payer import service as payer_service


def run_once(
    database: Database, folder: Path, *, clock: Clock, config: rules.ClearinghouseConfig
) -> int:
    """Answer every request waiting in ``folder/outbound`` (and remit the claims accepted
    on an earlier pass); returns how many files it wrote."""
    outbound, inbound = folder / "outbound", folder / "inbound"
    taken, adjudicating = outbound / "taken", outbound / "adjudicating"
    for path in (taken, adjudicating, inbound):
        path.mkdir(parents=True, exist_ok=True)
    answered = 0
    for path in sorted(adjudicating.glob(f"*{SUFFIX}")):
        try:
            name, body = remittance(path.read_text(encoding="ascii"), clock=clock, config=config)
        except (X12FormatError, InvalidOperation, StopIteration):
            name = ""  # not a claim the sandbox can pay: set aside
        if name:
            write_atomically(inbound / name, body)
            answered += 1
        os.replace(path, taken / path.name)
    for path in sorted(outbound.glob(f"*{SUFFIX}")):
        text = path.read_text(encoding="ascii")
        target = taken / path.name
        try:
            if read_interchange(text).transactions[0].code == "837":
                reply, accepted = acknowledge(text, clock=clock, config=config)
                target = adjudicating / path.name if accepted else target
            else:
                with database.unit_of_work() as session:
                    reply = answer(session, text, clock=clock, config=config)
        except (X12FormatError, IndexError):
            reply = None  # a real payer would send a 999; the sandbox sets it aside
        if reply is not None:
            write_atomically(inbound / reply[0], reply[1])
            answered += 1
        os.replace(path, target)
    return answered


def acknowledge(
    text: str, *, clock: Clock, config: rules.ClearinghouseConfig
) -> tuple[tuple[str, str] | None, bool]:
    """The payer's 999 on an 837P: pyx12's verdict against the 005010X222A1 guide,
    numbered like the claim's file; whether the claim was accepted."""
    interchange = read_interchange(text)
    control = int(interchange.control_number)
    verdict = ack.verdict(
        text,
        sender=Party(config.qualifier, interchange.receiver_id),
        receiver=Party(config.qualifier, interchange.sender_id),
        control_number=control,
        created=clock.now().replace(tzinfo=None),
    )
    if verdict is None:
        return None, False
    return (f"999-{interchange.receiver_id}-{control:09d}{SUFFIX}", verdict.text), verdict.accepted


def remittance(text: str, *, clock: Clock, config: rules.ClearinghouseConfig) -> tuple[str, str]:
    """The payer's 835 for an accepted 837P: the claim paid at its charge, or denied with
    the rules' CARC (:func:`rules.simulate_remittance`)."""
    interchange = read_interchange(text)
    body = interchange.transactions[0].body
    clm = next(s for s in body if s.tag == "CLM")
    billing = next(s for s in body if s.tag == "NM1" and s.get(1) == "85")
    payer = next((s.get(3) for s in body if s.tag == "NM1" and s.get(1) == "PR"), "PAYER")
    sim = config.simulator_rules(rules.payer_code_of(interchange.receiver_id, config.payer_ids))
    charge = Decimal(clm.get(2))
    denied, paid = rules.simulate_remittance(sim, charge=charge)
    control = REMITTANCE_CONTROL_BASE + int(interchange.control_number)
    now = clock.now().replace(tzinfo=None)
    payment = x835.ClaimPayment(
        claim_number=clm.get(1),
        status="4" if denied else "1",
        charge=charge,
        paid=paid,
        patient_responsibility=Decimal("0"),
        payer_claim_number=f"P{control}",
        adjustments=(x835.Adjustment("CO", sim.claim_denial_carc, charge),) if denied else (),
        remarks=("MA130",) if denied else (),
    )
    remit = x835.Remittance(
        control_number=str(control),
        sender_id=interchange.receiver_id,
        payer_name=payer,
        trace_number=f"EFT{control}",
        total_paid=paid,
        paid_on=now.date(),
        claims=(payment,),
    )
    written = x835.write(
        remit,
        receiver_id=interchange.sender_id,
        payee_name=billing.get(3),
        payee_npi=billing.get(9),
        created=now,
    )
    return f"835-{interchange.receiver_id}-{control:09d}{SUFFIX}", written


def answer(
    session: Session, text: str, *, clock: Clock, config: rules.ClearinghouseConfig
) -> tuple[str, str] | None:
    """The payer's reply (file name, X12) to one request; None for what a payer does not
    answer (a 999, say)."""
    interchange = read_interchange(text)
    code = interchange.transactions[0].code
    now = clock.now().replace(tzinfo=None)
    us = Party(config.qualifier, interchange.receiver_id)
    them = Party(config.qualifier, interchange.sender_id)
    control = int(interchange.control_number)
    if code == "270":
        reply = _eligibility(session, text, interchange, now=now, config=config)
        body = x270.answer_text(
            reply[0], reply[1], sender=us, receiver=them, control_number=control, created=now
        )
        return f"271-{us.id}-{control:09d}{SUFFIX}", body
    if code == "278":
        response = _review(interchange, now=now, config=config)
        body = x278.write(
            x278.response_segments(response),
            sender=us,
            receiver=them,
            control_number=control,
            created=now,
        )
        return f"278-{us.id}-{control:09d}{SUFFIX}", body
    if code == "276":
        body = claim_status.simulated_answer(text, interchange, now=now, config=config)
        return f"277-{us.id}-{control:09d}{SUFFIX}", body
    return None


def _eligibility(
    session: Session,
    text: str,
    interchange: Interchange,
    *,
    now: datetime,
    config: rules.ClearinghouseConfig,
) -> tuple[x270.Answer, x270.Inquiry]:
    q = x270.read_inquiry(text, interchange)
    code = rules.payer_code_of(interchange.receiver_id, config.payer_ids)
    payer = payer_service.resolve_payer(session, payer_id=code, payer_name=None)
    coverages = payer_service.coverages_of_member(session, payer.id, q.member_id) if payer else []
    result = eligibility_rules.evaluate(
        coverages,
        member_id=q.member_id,
        birth_date=q.birth_date,
        service_date=q.service_date,
        today=now.date(),
        items=(),
    )
    coverage = result.coverage
    status = result.status
    if status is eligibility_rules.EligibilityStatus.not_found or coverage is None:
        mismatch = any(f.code == "coverage_member_mismatch" for f in result.findings)
        reply = x270.Answer(
            q.trace, interchange.receiver_id, q.member_id, ("71" if mismatch else "75",), ()
        )
        return reply, q
    eb = "1" if status is eligibility_rules.EligibilityStatus.active else "6"
    reply = x270.Answer(
        trace=q.trace,
        payer_id=interchange.receiver_id,
        member_id=q.member_id,
        reject_codes=(),
        benefits=(x270.Benefit(eb, ("30",), plan=coverage.plan_code),),
        plan_begin=coverage.effective_on,
        plan_end=coverage.terminates_on,
    )
    return reply, q


def _review(
    interchange: Interchange, *, now: datetime, config: rules.ClearinghouseConfig
) -> x278.ReviewResponse:
    request = x278.read_request(interchange.transactions[0])
    code = rules.payer_code_of(interchange.receiver_id, config.payer_ids)
    sim = config.simulator_rules(code)
    start = min((s.start for s in request.services), default=now.date())
    decision = rules.simulate_review(
        sim,
        diagnoses=request.diagnoses,
        lines=tuple(rules.RequestedLine(s.line, s.code, s.units) for s in request.services),
        start=start,
        reasons=config.reasons,
    )
    granted = decision.action in (rules.Action.certified, rules.Action.partially_certified)
    number = f"{sim.number_prefix}{int(interchange.control_number):08d}" if granted else None
    return x278.ReviewResponse(
        trace=request.trace,
        payer_trace=f"P{interchange.control_number}",
        reference=request.reference,
        created=now,
        parties=request.parties,
        service_type=request.service_type,
        action=decision.action,
        certification_number=number,
        reason_code=decision.reason_code,
        valid_from=decision.valid_from,
        valid_to=decision.valid_to,
        message=decision.message,
        contact=sim.peer_to_peer if decision.action is rules.Action.not_certified else None,
        services=tuple(
            x278.ServiceDecision(
                line=line.line,
                code=next(s.code for s in request.services if s.line == line.line),
                action=line.action,
                units=line.units,
                certification_number=number,
                reason_code=decision.reason_code,
            )
            for line in decision.lines
        ),
    )
