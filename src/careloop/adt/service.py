"""Apply one message of the hospital's admission and discharge feed, inside the caller's
transaction, and give the acknowledgement to send back.

- A message refused (unknown type, no PID, a date that is not a date, no case) is
  answered with a NAK and writes nothing.
- A message whose sender and control id (MSH-10) were accepted before is answered with
  the same acknowledgement and changes nothing.
- A certain match sets ``discharge_at`` on the member's open cases through the referral
  domain (``referral.moves.report_discharge``: the clocks follow, the timeline says it);
  an update's (A08) expected date does not replace a discharge the hospital reported as
  having happened.
- An uncertain match changes no case: it becomes work for a person (the work queue's
  ``work.needed``), and the message is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.orm import Session

import careloop.workqueue  # noqa: F401 - subscribes the work queue to ``work.needed``
from careloop.adt import answer, repository, rules, structure
from careloop.adt.models import AdtMessage
from careloop.adt.rules import AckCode, MatchKind, Refused
from careloop.audit import service as audit
from careloop.core import events
from careloop.core.actor import Actor, Role
from careloop.core.clock import Clock
from careloop.referral import moves
from careloop.referral.models import Referral

log = structlog.get_logger("careloop.adt")

#: Who writes the feed's changes on the timeline and in the audit trail.
FEED_ACTOR = Actor(
    user_id=None,
    role=Role.service,
    organization_id=None,
    display_name="Hospital admission and discharge feed",
)

#: The team that finds the case of an uncertain report (work-queue team names).
REVIEW_TEAM = "intake"


@dataclass(frozen=True, slots=True)
class Answer:
    """The acknowledgement to send (ER7 text) and its code and reason."""

    message: str
    code: AckCode
    text: str


def _answer(
    header: rules.Header | None,
    code: AckCode,
    text: str,
    *,
    now: datetime,
    where: answer.Location | None = None,
    hl7_error: str = "",
) -> Answer:
    control_id = f"CL{now:%Y%m%d%H%M%S%f}"
    message = answer.ack(
        header, code, text, now=now, control_id=control_id, where=where, hl7_error=hl7_error
    )
    return Answer(message, code, text)


def receive(
    session: Session,
    text: str,
    *,
    clock: Clock,
    zone: str,
    facilities: frozenset[str] | None = None,
) -> Answer:
    """Read one ADT message and apply it; the answer is its ACK or NAK. ``zone`` is the
    hospital's time zone (times without an offset are its local time); ``facilities``
    the sending facilities (MSH-4) this feed is for (None: any)."""
    now = clock.now()
    header: rules.Header | None = None
    try:
        parsed = rules.parse(text)
        header = rules.read_header(parsed)
        rules.check_sender(header, facilities)
        prior = repository.find(session, header.sender, header.control_id)
        if prior is not None:
            log.info("adt.repeated", control_id=header.control_id, trigger=header.event)
            return _answer(header, AckCode(prior.ack_code), prior.ack_text, now=now)
        message = rules.read_message(parsed, header, zone=zone)
        structure.check_structure(text, header)
    except Refused as refused:
        header = header or refused.header
        log.info(
            "adt.refused",
            control_id=header.control_id if header else None,
            code=refused.code.value,
            where=refused.where,
        )
        return _answer(
            header,
            refused.code,
            refused.text,
            now=now,
            where=refused.location,
            hl7_error=refused.hl7_error,
        )
    return _apply(session, message, clock=clock)


def _apply(session: Session, message: rules.AdtMessage, *, clock: Clock) -> Answer:
    now, header, discharge = clock.now(), message.header, message.discharge
    if discharge is None:
        text = "Received: the message gives no discharge date, so no case changes."
        _log(session, message, AckCode.accepted, text, outcome="nothing", now=now)
        return _answer(header, AckCode.accepted, text, now=now)
    patient = message.patient
    cases = moves.hospital_cases(
        session, identifiers=patient.identifiers, birth_date=patient.birth_date
    )
    found = rules.match(patient, [_candidate(c) for c in cases])
    if found.kind is MatchKind.none:
        log.info("adt.no_case", control_id=header.control_id, trigger=header.event)
        return _answer(
            header,
            AckCode.error,
            "No matching case: no open referral has this patient's record number, or "
            "name and birth date.",
            now=now,
            where=answer.Location("PID", 3),
            hl7_error="204",
        )
    by_id = {c.id: c for c in cases}
    if found.kind is MatchKind.uncertain:
        return _review(session, message, found, [by_id[i] for i in found.candidates], now, clock)
    matched = [by_id[i] for i in found.referral_ids]
    if discharge.expected and header.event == "A08":
        # An update of the stay that ended: its expected date is older news than the
        # discharge the hospital reported (a new stay begins with an admission, A01).
        matched = [c for c in matched if not moves.discharge_happened(session, c.id)]
        if not matched:
            text = (
                "Accepted: the hospital already reported the discharge; an expected "
                "discharge date in an update does not replace it."
            )
            _log(session, message, AckCode.accepted, text, outcome="unchanged", now=now)
            return _answer(header, AckCode.accepted, text, now=now)
    changed = [
        case.id
        for case in matched
        if moves.report_discharge(
            session,
            FEED_ACTOR,
            case,
            discharge.at,
            clock=clock,
            expected=discharge.expected,
            date_only=discharge.date_only,
        )
    ]
    what = "expected discharge" if discharge.expected else "discharge"
    text = (
        f"Accepted: the {what} is recorded on {_cases(len(changed))}."
        if changed
        else f"Accepted: the {what} was already recorded; nothing changed."
    )
    outcome = "applied" if changed else "unchanged"
    _log(session, message, AckCode.accepted, text, outcome=outcome, now=now, ids=changed)
    log.info("adt.applied", control_id=header.control_id, trigger=header.event, cases=len(changed))
    return _answer(header, AckCode.accepted, text, now=now)


def _review(
    session: Session,
    message: rules.AdtMessage,
    found: rules.Match,
    cases: list[Referral],
    now: datetime,
    clock: Clock,
) -> Answer:
    """An uncertain match: no case changes; a person finds the right one."""
    assert message.discharge is not None
    text = (
        "Accepted for review: the patient could not be matched to a case with certainty; "
        "a coordinator will check it."
    )
    row = _log(session, message, AckCode.accepted, text, outcome="review", now=now)
    events.publish(
        "work.needed",
        session=session,
        clock=clock,
        referral_id=cases[0].id if len(cases) == 1 else None,
        kind="hospital_report",
        team=REVIEW_TEAM,
        due_at=rules.review_due(now, message.discharge.at),
        subject=f"adt:{row.id}",
        title=rules.review_title(message.header.event, found.reason),
    )
    for case in cases:
        # The feed read these cases to weigh them: an audited read of PHI.
        audit.record(
            session,
            FEED_ACTOR,
            "adt.match_uncertain",
            clock=clock,
            case_number=case.case_number,
            referral_id=case.id,
        )
    log.info("adt.review", control_id=message.header.control_id, candidates=len(cases))
    return _answer(message.header, AckCode.accepted, text, now=now)


def _cases(n: int) -> str:
    return "1 open case" if n == 1 else f"{n} open cases"


def _candidate(case: Referral) -> rules.Candidate:
    return rules.Candidate(
        referral_id=case.id,
        first_name=case.member_first_name,
        last_name=case.member_last_name,
        birth_date=case.member_birth_date,
        sex=case.member_sex,
        hospital_mrn=case.hospital_mrn,
        hospital_mrn_authority=case.hospital_mrn_authority,
    )


def _log(
    session: Session,
    message: rules.AdtMessage,
    code: AckCode,
    text: str,
    *,
    outcome: str,
    now: datetime,
    ids: list[int] | None = None,
) -> AdtMessage:
    patient, header = message.patient, message.header
    mrn, authority = patient.identifiers[0] if patient.identifiers else (None, None)
    return repository.add(
        session,
        {
            "sender": header.sender,
            "control_id": header.control_id,
            "event": header.event,
            "received_at": now,
            "ack_code": code.value,
            "ack_text": text[:300],
            "outcome": outcome,
            "referral_ids": ids or [],
            "discharge_at": message.discharge.at if message.discharge else None,
            "hospital_mrn": mrn,
            "hospital_mrn_authority": authority,
            "family_name": patient.family[:100] or None,
            "given_name": patient.given[:100] or None,
            "birth_date": patient.birth_date,
        },
    )
