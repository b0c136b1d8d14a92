"""Scheduling and fulfilment use cases (issue 4): book the delivery or first visit within
the service deadline (or say why not, which escalates), record its outcome, count the
units against the authorisation, and book recurring supplies.

The first appointment is the start of service: it moves the case (scheduled, fulfilled
or missed) and feeds the on-time KPI and the provider's track record. Later ones are
the resupplies of recurring items; they leave the case fulfilled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.audit import service as audit
from careloop.codes import SupplyMode, lookup_hcpcs
from careloop.core import events
from careloop.core.actor import SYSTEM_ACTOR, Actor
from careloop.core.clock import Clock
from careloop.core.errors import ConflictError, FieldError, NotFoundError, RuleViolationError
from careloop.db import outbox
from careloop.identity.permissions import require
from careloop.network.models import Provider
from careloop.prior_auth import service as prior_auth
from careloop.referral import moves
from careloop.referral.enums import CodeSystem, ReferralAction, ReferralStatus
from careloop.referral.models import Referral, ReferralItem
from careloop.scheduling import confirmation, repository, rules
from careloop.scheduling.models import Appointment
from careloop.scheduling.rules import AppointmentStatus, Outcome
from careloop.scheduling.schemas import (
    AppointmentList,
    AppointmentRead,
    OutcomeIn,
    ScheduleIn,
    VisitRead,
)
from careloop.sla import service as clocks
from careloop.sla.models import ClockKind, ClockStatus


class AppointmentNotFoundError(NotFoundError):
    code = "appointment_not_found"
    title = "No such appointment"


class AppointmentStateError(ConflictError):
    code = "appointment_state"
    title = "Not allowed in the appointment's current state"


_START_CLOCKS = [ClockKind.service_start, ClockKind.service_warning, ClockKind.discharge]


def schedule(
    session: Session, actor: Actor, case_number: str, body: ScheduleIn, *, clock: Clock
) -> AppointmentRead:
    """Book the delivery or first visit (or the next resupply) in a time window."""
    require(actor, "appointment:manage")
    referral = moves.visible_for_update(
        session, actor, case_number, "appointment.schedule", clock=clock
    )
    target = _schedulable(session, referral, body.appointment_id)
    first = target is None or target.sequence == 1
    if first:
        moves.check(referral, ReferralAction.schedule)
    elif referral.status is not ReferralStatus.fulfilled:
        raise _case_closed(referral)
    now = clock.now()
    start, end = body.window_start.astimezone(now.tzinfo), body.window_end.astimezone(now.tzinfo)
    problems = rules.window_problems(start, end, now)
    late = first and rules.misses_deadline(end, referral.service_due_at)
    if late and not body.late_reason:
        problems.append(_late_reason_needed(referral))
    if problems:
        raise RuleViolationError("The window cannot be booked.", errors=problems)
    appointment = target or _new_appointment(session, referral, sequence=1)
    rescheduled = appointment.status is AppointmentStatus.scheduled
    appointment.status = AppointmentStatus.scheduled
    appointment.window_start, appointment.window_end = start, end
    appointment.late_reason = body.late_reason if late else None
    appointment.scheduled_at, appointment.scheduled_by = now, actor.label
    appointment.provider_id = referral.assigned_provider_id
    session.flush()
    _restart_outcome_clock(session, referral, appointment, now=now)
    data: dict[str, Any] = {
        "appointment_id": appointment.id,
        "sequence": appointment.sequence,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "rescheduled": rescheduled,
    }
    event = "appointment.rescheduled" if rescheduled else "appointment.scheduled"
    if first:
        moves.move(
            session,
            actor,
            referral,
            ReferralAction.schedule,
            event_type=event,
            clock=clock,
            provider_id=appointment.provider_id,
            **data,
        )
    else:
        moves.event(
            session, actor, referral, event, now=now, provider_id=appointment.provider_id, **data
        )
        moves.audit_read(session, actor, referral, event, clock)
    if late:
        moves.escalate(
            session,
            actor,
            referral,
            f"scheduled after the service deadline: {body.late_reason}",
            clock=clock,
        )
    _notify(session, referral, appointment, "appointment.scheduled", now=now)
    session.flush()
    return _read(session, referral, appointment)


def _schedulable(
    session: Session, referral: Referral, appointment_id: int | None
) -> Appointment | None:
    """The appointment to book: the one named, else the earliest still open to booking
    (a due resupply, a missed or a scheduled one); None when the first is yet to be made."""
    rows = _appointments(session, referral.id)
    if appointment_id is not None:
        named = next((a for a in rows if a.id == appointment_id), None)
        if named is None:
            raise AppointmentNotFoundError(
                f"Case {referral.case_number} has no appointment {appointment_id}.",
                field="appointment_id",
            )
        if named.status not in rules.SCHEDULABLE:
            raise _state_error(named, "schedule")
        return named
    return next((a for a in rows if a.status in rules.SCHEDULABLE), None)


def _late_reason_needed(referral: Referral) -> FieldError:
    return FieldError(
        "late_reason",
        f"the window ends after the service deadline ({referral.service_due_at.isoformat()}): "
        "say why; the case will be escalated",
    )


def _new_appointment(session: Session, referral: Referral, *, sequence: int) -> Appointment:
    items = moves.items_of(session, referral)
    line = moves.service_line_of(referral, items[0]) if items else "dme"
    appointment = Appointment(
        referral_id=referral.id,
        sequence=sequence,
        kind=rules.kind_for(line),
        status=AppointmentStatus.due,
        serial_numbers=[],
        units=[],
    )
    session.add(appointment)
    session.flush()
    return appointment


def _restart_outcome_clock(
    session: Session, referral: Referral, appointment: Appointment, *, now: datetime
) -> None:
    clocks.close(
        session,
        referral.id,
        [ClockKind.appointment_outcome],
        status=ClockStatus.cancelled,
        at=now,
        subject_id=appointment.id,
    )
    clocks.close(
        session,
        referral.id,
        [ClockKind.resupply],
        status=ClockStatus.met,
        at=now,
        subject_id=appointment.id,
    )
    assert appointment.window_end is not None
    clocks.start(
        session,
        kind=ClockKind.appointment_outcome,
        referral_id=referral.id,
        subject_id=appointment.id,
        due_at=appointment.window_end + rules.OUTCOME_GRACE,
        rule_source=rules.outcome_source(),
        time_zone=referral.time_zone,
        now=now,
    )


def record_outcome(
    session: Session, actor: Actor, appointment_id: int, body: OutcomeIn, *, clock: Clock
) -> AppointmentRead:
    """Delivered, visit done, or missed (which re-opens scheduling)."""
    require(actor, "appointment:manage")
    appointment, referral = _visible(session, actor, appointment_id)
    if appointment.status is not AppointmentStatus.scheduled:
        raise _state_error(appointment, "record the outcome")
    first = appointment.sequence == 1
    missed = body.outcome is Outcome.missed
    action = ReferralAction.record_missed if missed else ReferralAction.record_delivery
    if first:
        moves.check(referral, action)
    now = clock.now()
    items = moves.items_of(session, referral)
    problems = rules.outcome_problems(
        body.outcome,
        at=body.at,
        now=now,
        received_by=body.received_by,
        serial_numbers=body.serial_numbers,
        needs_serials=any(_is_equipment(i) for i in items),
        reason=body.reason,
        note=body.note,
        received_at=referral.received_at,
        booked_at=appointment.scheduled_at,
    )
    problems += _units_problems(body, items)
    if problems:
        raise RuleViolationError("The outcome is incomplete.", errors=problems)
    appointment.status = rules.status_after(body.outcome)
    appointment.recorded_by = actor.label
    appointment.note = body.note
    clocks.close(
        session,
        referral.id,
        [ClockKind.appointment_outcome],
        status=ClockStatus.met,
        at=now,
        subject_id=appointment.id,
    )
    if missed:
        _missed(session, actor, referral, appointment, body, first=first, clock=clock)
    else:
        _done(session, actor, referral, appointment, body, items, first=first, clock=clock)
    _notify(session, referral, appointment, f"appointment.{body.outcome.value}", now=now)
    session.flush()
    return _read(session, referral, appointment)


def _units_problems(body: OutcomeIn, items: list[ReferralItem]) -> list[FieldError]:
    lines = {i.line for i in items}
    return [
        FieldError(f"units.{n}.line", f"the referral has no item on line {u.line}")
        for n, u in enumerate(body.units or [])
        if u.line not in lines
    ]


def _is_supply(item: ReferralItem) -> bool:
    """Something delivered (not a visit or per-diem service): it may recur."""
    if item.code_system != CodeSystem.HCPCS.value:
        return False
    entry = lookup_hcpcs(item.code)
    return entry is not None and entry.supply_mode is not SupplyMode.service


def _is_equipment(item: ReferralItem) -> bool:
    """Durable equipment (E and K codes that are kept or rented) carries serial numbers."""
    if item.code_system != CodeSystem.HCPCS.value or item.code[:1] not in {"E", "K"}:
        return False
    entry = lookup_hcpcs(item.code)
    return entry is None or entry.supply_mode is not SupplyMode.service


def _missed(
    session: Session,
    actor: Actor,
    referral: Referral,
    appointment: Appointment,
    body: OutcomeIn,
    *,
    first: bool,
    clock: Clock,
) -> None:
    appointment.missed_reason = body.reason
    appointment.outcome_at = clock.now()
    data: dict[str, Any] = {
        "appointment_id": appointment.id,
        "reason": body.reason.value if body.reason else None,
    }
    if first:
        moves.move(
            session,
            actor,
            referral,
            ReferralAction.record_missed,
            event_type="service.missed",
            clock=clock,
            provider_id=appointment.provider_id,
            **data,
        )
    else:
        moves.event(
            session,
            actor,
            referral,
            "supply.missed",
            now=clock.now(),
            provider_id=appointment.provider_id,
            **data,
        )
        moves.audit_read(session, actor, referral, "supply.missed", clock)


def _done(
    session: Session,
    actor: Actor,
    referral: Referral,
    appointment: Appointment,
    body: OutcomeIn,
    items: list[ReferralItem],
    *,
    first: bool,
    clock: Clock,
) -> None:
    now = clock.now()
    done_at = (body.at or now).astimezone(now.tzinfo)
    appointment.outcome_at = done_at
    appointment.received_by = body.received_by
    appointment.serial_numbers = list(body.serial_numbers)
    given = {u.line: u.units for u in body.units or []}
    used = {i.line: given.get(i.line, i.quantity) for i in items}
    appointment.units = [
        {"line": i.line, "code": i.code, "units": used[i.line]} for i in items if used[i.line]
    ]
    if first:
        appointment.on_time = rules.on_time(done_at, referral.service_due_at)
        event = "service.started_on_time" if appointment.on_time else "service.started_late"
        moves.move(
            session,
            actor,
            referral,
            ReferralAction.record_delivery,
            event_type=event,
            clock=clock,
            provider_id=appointment.provider_id,
            appointment_id=appointment.id,
            at=done_at.isoformat(),
            outcome=body.outcome.value,
            due_at=referral.service_due_at.isoformat(),
            serial_numbers=list(body.serial_numbers),
        )
        clocks.close(session, referral.id, _START_CLOCKS, status=ClockStatus.met, at=now)
    else:
        appointment.on_time = rules.resupply_on_time(
            done_at, appointment.due_on, referral.time_zone
        )
        moves.event(
            session,
            actor,
            referral,
            "supply.delivered",
            now=now,
            provider_id=appointment.provider_id,
            appointment_id=appointment.id,
            at=done_at.isoformat(),
            serial_numbers=list(body.serial_numbers),
        )
        moves.audit_read(session, actor, referral, "supply.delivered", clock)
    prior_auth.record_units_used(session, referral, used, clock=clock)
    _book_next_resupply(session, referral, appointment, items, done_at, clock=clock)
    # Later domains react in this transaction (the claim domain queues the claim).
    events.publish(
        "appointment.done",
        session=session,
        clock=clock,
        referral_id=referral.id,
        appointment_id=appointment.id,
        time_zone=referral.time_zone,
    )


def _book_next_resupply(
    session: Session,
    referral: Referral,
    appointment: Appointment,
    items: list[ReferralItem],
    done_at: datetime,
    *,
    clock: Clock,
) -> None:
    """Recurring supplies (dressings weekly, say) get their next delivery, due one period
    after this one, in the work queue a few days before."""
    periods = [
        p for i in items if _is_supply(i) and (p := rules.resupply_period(i.frequency)) is not None
    ]
    if not periods:
        return
    now = clock.now()
    done_on = done_at.astimezone(ZoneInfo(referral.time_zone)).date()
    due_on = rules.next_due(done_on, min(periods))
    sequence = max(a.sequence for a in _appointments(session, referral.id)) + 1
    upcoming = _new_appointment(session, referral, sequence=sequence)
    upcoming.due_on = due_on
    upcoming.provider_id = appointment.provider_id
    clocks.start(
        session,
        kind=ClockKind.resupply,
        referral_id=referral.id,
        subject_id=upcoming.id,
        due_at=max(rules.resupply_reminder_at(due_on, referral.time_zone), now),
        rule_source=rules.resupply_source(),
        time_zone=referral.time_zone,
        now=now,
    )
    moves.event(
        session,
        SYSTEM_ACTOR,
        referral,
        "supply.next_due",
        now=now,
        appointment_id=upcoming.id,
        due_on=due_on.isoformat(),
    )


def list_appointments(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> AppointmentList:
    require(actor, "appointment:manage")
    referral = moves.visible(session, actor, case_number, "appointment.read", clock=clock)
    rows = _appointments(session, referral.id)
    names = _provider_names(session, {a.provider_id for a in rows if a.provider_id})
    return AppointmentList(
        items=[
            _read_row(a, referral.case_number, referral.status, names.get(a.provider_id or 0))
            for a in rows
        ]
    )


def get_appointment(
    session: Session, actor: Actor, appointment_id: int, *, clock: Clock
) -> AppointmentRead:
    require(actor, "appointment:manage")
    appointment, referral = _visible(session, actor, appointment_id, lock=False)
    moves.audit_read(session, actor, referral, "appointment.read", clock)
    return _read(session, referral, appointment)


def find_appointments(
    session: Session,
    actor: Actor,
    *,
    statuses: Sequence[AppointmentStatus] | None = None,
    case_numbers: Sequence[str] | None = None,
    first_only: bool = False,
    limit: int,
    clock: Clock,
) -> AppointmentList:
    """Deliveries and visits of the cases the actor may see (provider staff: their
    accepted cases), by status and case, the soonest first: one query, one audit record."""
    require(actor, "appointment:manage")
    rows = repository.find(
        session,
        moves.visible_ids(actor),
        statuses=statuses,
        case_numbers=case_numbers,
        first_only=first_only,
        limit=limit,
    )
    audit.record(
        session,
        actor,
        "appointment.list",
        clock=clock,
        detail={"case_numbers": sorted({case_number for _, case_number, _ in rows})},
    )
    names = _provider_names(session, {a.provider_id for a, _, _ in rows if a.provider_id})
    return AppointmentList(
        items=[
            _read_row(a, case_number, status, names.get(a.provider_id or 0))
            for a, case_number, status in rows
        ]
    )


def upcoming_visit(
    session: Session, actor: Actor, case_number: str, *, clock: Clock
) -> VisitRead | None:
    """The start of service as the member reads it: the provider, its phone and the
    booked window (None before anything is booked)."""
    require(actor, "referral:read")
    referral = moves.visible(session, actor, case_number, "appointment.read", clock=clock)
    appointment = first_appointment(session, referral.id)
    if appointment is None:
        return None
    name, phone = provider_contact(session, appointment.provider_id)
    return VisitRead(
        kind=appointment.kind,
        status=appointment.status,
        window_start=appointment.window_start,
        window_end=appointment.window_end,
        provider_name=name,
        provider_phone=phone,
    )


def first_appointment(session: Session, referral_id: int) -> Appointment | None:
    return repository.first_appointment(session, referral_id)


# ---- helpers --------------------------------------------------------------------------


def _appointments(session: Session, referral_id: int) -> list[Appointment]:
    return repository.appointments_of(session, referral_id)


def _visible(
    session: Session, actor: Actor, appointment_id: int, *, lock: bool = True
) -> tuple[Appointment, Referral]:
    appointment = session.get(Appointment, appointment_id)
    referral = (
        moves.visible_by_id(session, actor, appointment.referral_id, for_update=lock)
        if appointment is not None
        else None
    )
    if appointment is None or referral is None:
        raise AppointmentNotFoundError(
            f"There is no appointment {appointment_id} that you can see."
        )
    return appointment, referral


def _state_error(appointment: Appointment, what: str) -> AppointmentStateError:
    allowed = ["schedule"] if appointment.status in rules.SCHEDULABLE else []
    if appointment.status is AppointmentStatus.scheduled:
        allowed.append("outcome")
    hint = " Schedule it first." if appointment.status is AppointmentStatus.due else ""
    return AppointmentStateError(
        f"Cannot {what}: the appointment is {appointment.status.value.replace('_', ' ')}."
        f"{hint} Allowed now: {', '.join(allowed) or 'none'}.",
        extra={"status": appointment.status.value, "allowed_actions": allowed},
    )


def _case_closed(referral: Referral) -> ConflictError:
    return AppointmentStateError(
        f"Cannot schedule a resupply: the case is {referral.status.value}.",
        extra={"status": referral.status.value, "allowed_actions": []},
    )


def _notify(
    session: Session,
    referral: Referral,
    appointment: Appointment,
    template: str,
    *,
    now: datetime,
) -> None:
    for audience, recipient in (
        ("member", "member"),
        ("referrer", str(referral.referrer_organization_id or "")),
    ):
        outbox.enqueue(
            session,
            dedupe_key=f"{template}:{appointment.id}:{audience}:{now.isoformat()}",
            audience=audience,
            recipient=recipient,
            template=template,
            now=now,
            referral_id=referral.id,
            case_number=referral.case_number,
            payload={
                "appointment_id": appointment.id,
                "window_start": appointment.window_start.isoformat()
                if appointment.window_start
                else None,
                "window_end": appointment.window_end.isoformat()
                if appointment.window_end
                else None,
            },
        )


def provider_contact(session: Session, provider_id: int | None) -> tuple[str | None, str | None]:
    provider = session.get(Provider, provider_id) if provider_id is not None else None
    if provider is None:
        return None, None
    return provider.legal_name, provider.phone


def _provider_names(session: Session, ids: set[int]) -> dict[int, str]:
    return repository.provider_names(session, ids)


def _read(session: Session, referral: Referral, appointment: Appointment) -> AppointmentRead:
    name, _ = provider_contact(session, appointment.provider_id)
    return _read_row(appointment, referral.case_number, referral.status, name)


def _read_row(
    a: Appointment, case_number: str, case_status: ReferralStatus, provider_name: str | None
) -> AppointmentRead:
    return AppointmentRead(
        id=a.id,
        case_number=case_number,
        sequence=a.sequence,
        kind=a.kind,
        status=a.status,
        provider_id=a.provider_id,
        provider_name=provider_name,
        due_on=a.due_on,
        window_start=a.window_start,
        window_end=a.window_end,
        late_reason=a.late_reason,
        outcome_at=a.outcome_at,
        received_by=a.received_by,
        serial_numbers=list(a.serial_numbers),
        missed_reason=a.missed_reason,
        note=a.note,
        on_time=a.on_time,
        case_status=case_status,
        links={
            "outcome": f"/api/v1/appointments/{a.id}/outcome",
            "confirmation": f"/api/v1/referrals/{case_number}/confirmation.pdf",
        },
    )


# ---- the written confirmation -------------------------------------------------------


def confirmation_pdf(session: Session, actor: Actor, case_number: str, *, clock: Clock) -> bytes:
    """One page for the discharge planner: member, items, provider and phone, the
    scheduled window, case number and case manager (DOMAIN.md §2 step 7)."""
    require(actor, "confirmation:read")
    referral = moves.visible(session, actor, case_number, "confirmation.read", clock=clock)
    appointment = first_appointment(session, referral.id)
    if appointment is None or appointment.window_start is None or appointment.window_end is None:
        raise AppointmentStateError(
            f"Nothing is scheduled for {case_number} yet: schedule the delivery or visit first.",
            extra={"status": referral.status.value, "allowed_actions": ["schedule"]},
        )
    zone = ZoneInfo(referral.time_zone)
    name, phone = provider_contact(session, appointment.provider_id)
    manager = referral.case_manager_name or "the coordination team"
    if referral.case_manager_extension:
        manager += f", extension {referral.case_manager_extension}"
    address = ", ".join(
        p
        for p in (
            referral.address_line1,
            referral.address_line2,
            referral.address_city,
            f"{referral.address_state or ''} {referral.address_zip or ''}".strip(),
        )
        if p
    )
    items = moves.items_of(session, referral)
    data = confirmation.ConfirmationData(
        case_number=referral.case_number,
        member_name=f"{referral.member_first_name} {referral.member_last_name}",
        member_birth_date=referral.member_birth_date.isoformat(),
        address=address or "on file",
        window=_window_text(appointment.window_start, appointment.window_end, zone),
        provider_name=name or "to be confirmed",
        provider_phone=phone or "-",
        case_manager=manager,
        discharge=referral.discharge_at.astimezone(zone).strftime("%a %d %b %Y %H:%M %Z")
        if referral.discharge_at
        else "not given",
        items=[
            confirmation.ConfirmationItem(
                code=i.code,
                description=(e.description if (e := lookup_hcpcs(i.code)) else i.description) or "",
                quantity=str(i.quantity) + (f" ({i.frequency})" if i.frequency else ""),
            )
            for i in items
        ],
        issued_at=clock.now().astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
    )
    return confirmation.render(data)


def _window_text(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    day = a.strftime("%a %d %b %Y")
    if a.date() == b.date():
        return f"{day}, {a:%H:%M}-{b:%H:%M} {b:%Z}"
    return f"{day} {a:%H:%M} to {b:%a %d %b %Y %H:%M} {b:%Z}"
