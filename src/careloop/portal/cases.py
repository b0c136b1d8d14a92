"""The case page: member, coverage, items with their code descriptions, findings with
what to do about each, every deadline, the timeline newest first, the ranked candidates
with their reasons, and a form for each move the state machine allows now (and the
actor's role may make). Each move posts to a route here that calls the service the API
calls; another organisation's case answers 404 like one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from careloop.appeal import service as appeal_service
from careloop.core.actor import Role
from careloop.core.errors import (
    ConflictError,
    DomainError,
    FieldError,
    IllegalTransitionError,
    RuleViolationError,
)
from careloop.eligibility import service as eligibility_service
from careloop.eligibility.schemas import EligibilityRead
from careloop.identity import service as identity_service
from careloop.identity.permissions import may
from careloop.matching import service as matching_service
from careloop.matching.schemas import CandidatesRead, OfferCreate
from careloop.portal import (
    claim_panel,
    contacts,
    dispute_panel,
    document_panel,
    escalation_panel,
    formlabels,
    forms,
    moveforms,
    presenters,
    referrer,
    templates,
)
from careloop.portal.web import (
    Download,
    Form,
    Page,
    PageContext,
    Redirect,
    form_text_error,
    page,
    read_form,
)
from careloop.prior_auth import service as prior_auth_service
from careloop.prior_auth.rules import DenialReason
from careloop.prior_auth.rules import Outcome as DecisionOutcome
from careloop.prior_auth.schemas import AuthorizationRead, AuthorizationRequestIn
from careloop.referral import caseload
from careloop.referral import service as referral_service
from careloop.referral.schemas import (
    AcknowledgeIn,
    AssigneeIn,
    CancelIn,
    ReferralClarify,
    ReferralRead,
    TimelineEventRead,
)
from careloop.scheduling import service as scheduling_service
from careloop.scheduling.rules import AppointmentStatus, MissedReason
from careloop.scheduling.rules import Outcome as VisitOutcome
from careloop.scheduling.schemas import AppointmentRead
from careloop.workqueue import service as workqueue_service

router = APIRouter(include_in_schema=False)

CaseNumber = Annotated[str, Path(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9-]+$")]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

#: The moves a case page can make, with the permission each needs (the services check
#: it again; this only avoids showing a button that would be refused).
_PAGE_ACTIONS = {
    "acknowledge": "referral:acknowledge",
    "supply_information": "referral:clarify",
    "verify_eligibility": "eligibility:verify",
    "request_authorization": "authorization:request",
    "offer": "offer:manage",
    "record_authorization_decision": "authorization:decide",
    "appeal": "authorization:appeal",
    "schedule": "appointment:manage",
    "record_delivery": "appointment:manage",
    "record_missed": "appointment:manage",
    "close": "referral:close",
    "cancel": "referral:cancel",
}

#: What the page says after a move (``?done=``), never with member data.
_DONE = {
    "acknowledged": "Acknowledged. Tell the referrer the case number and the case manager.",
    "reassigned": "The case has a new case manager; the timeline says who chose and why.",
    "offered": "Offered. The provider's answer is due by the time shown under Deadlines.",
    "cancelled": "The case was cancelled.",
    "escalated": (
        "Escalated. The supervisor named below must promise a time; whoever asked gets an e-mail."
    ),
    "eta_committed": "The ETA is promised. Whoever asked gets an e-mail with it.",
    "escalation_resolved": "The escalation is resolved. Whoever asked gets an e-mail.",
    "supplied": "Information recorded; the checks ran again.",
    "unplaced": "No eligible provider: the case is marked unplaced and escalated.",
    "verified": "Eligibility checked against the payer's coverage file; see the timeline.",
    "requested": "Prior authorisation requested; its decision deadline is under Deadlines.",
    "decided": "Decision recorded; see the authorisation below and the timeline.",
    "information_sent": "Information sent to the reviewer; the decision clock runs again.",
    "appealed": "Appeal filed; the payer's decision deadline is under Appeals.",
    "appeal_filed": "The appeal's next level is filed; the payer's decision deadline is below.",
    "appeal_decided": "The payer's decision on the appeal is recorded.",
    "grievance_opened": "Complaint logged; acknowledge and resolve it by the dates shown.",
    "grievance_acknowledged": "Complaint acknowledged.",
    "grievance_resolved": "Complaint resolved; the outcome is recorded.",
    "regulator_filed": "The filing with the regulator is recorded with every earlier attempt.",
    "scheduled": "Scheduled. The member and the referrer are told the window.",
    "outcome": "Outcome recorded.",
    "closed": "The case is closed.",
    "contact": "Contact saved; it is on the timeline.",
    "note": "Note added.",
    "document": "Document attached; it is listed under Documents.",
    "order_attached": "Signed order attached; the checks ran again.",
}

#: Supply-information form: the inputs it takes (the referral form's, plus a note).
INFO_FIELDS = [
    f
    for f in forms.ALL_FIELDS
    if not f.startswith(("items.", "channel", "urgency", "external_id", "notes"))
] + ["note"]


def page_actions(ctx: PageContext, case: ReferralRead) -> list[str]:
    """The allowed moves (from the read model) that this page has a form for and the
    actor's role may make, in the state machine's order."""
    allowed = [a.value for a in case.allowed_actions]
    return [a for a in allowed if a in _PAGE_ACTIONS and may(ctx.actor, _PAGE_ACTIONS[a])]


def _candidates(ctx: PageContext, case: ReferralRead, actions: list[str]) -> CandidatesRead | None:
    if "offer" not in actions:
        return None
    return matching_service.find_candidates(
        ctx.session, ctx.actor, case.case_number, clock=ctx.clock
    )


def _hints(case: ReferralRead) -> dict[str, str]:
    """What to do about each finding, keyed ``code:field`` as the templates look it up."""
    return {f"{f.code}:{f.field}": presenters.fix_hint(f.field, f.code) for f in case.findings}


def _case_values(ctx: PageContext, case_number: str) -> dict[str, Any]:
    # Listed first: the case's assignee is then already in the session, not read again.
    case_managers = (
        identity_service.list_case_managers(ctx.session)
        if may(ctx.actor, "referral:assign")
        else []
    )
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    timeline = referral_service.get_timeline(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    actions = page_actions(ctx, case)
    clocks = (
        workqueue_service.case_clocks(ctx.session, ctx.actor, case_number, clock=ctx.clock)
        if may(ctx.actor, "workqueue:read")
        else []
    )
    fulfilment = _fulfilment_values(ctx, case, timeline.events, actions)
    return {
        "case": case,
        "events": list(reversed(timeline.events)),
        "clocks": clocks,
        "actions": actions,
        "candidates": _candidates(ctx, case, actions),
        "case_managers": case_managers if actions else [],
        "hints": _hints(case),
        "staff": ctx.actor.is_staff,
        "notes": contacts.notes_of(ctx, case_number),
        "may_contact": ctx.actor.is_staff and may(ctx.actor, "contact:log"),
        "may_note": may(ctx.actor, "note:write"),
        **escalation_panel.panel_values(ctx, case),
        **dispute_panel.panel_values(ctx, case, {e.type.split(".", 1)[0] for e in timeline.events}),
        **document_panel.panel_values(ctx, case),
        **claim_panel.panel_values(ctx, case, {e.type.split(".", 1)[0] for e in timeline.events}),
        **fulfilment,
        "form": _defaults(fulfilment, ctx.clock.now().astimezone(ZoneInfo(case.time_zone))),
        "errors": {},
        "problem": None,
        "done": None,
    }


def _defaults(fulfilment: dict[str, Any], local_now: datetime) -> dict[str, str]:
    """What the booking and outcome forms start with: the window already booked (to
    move it), and now as the time of delivery."""
    out: dict[str, str] = {}
    zone = local_now.tzinfo
    for prefix, booked in fulfilment["to_book"]:
        if booked is not None and booked.window_start and booked.window_end:
            start, end = booked.window_start.astimezone(zone), booked.window_end.astimezone(zone)
            out[f"{prefix}.day"] = start.date().isoformat()
            out[f"{prefix}.start"] = start.strftime("%H:%M")
            out[f"{prefix}.end"] = end.strftime("%H:%M")
    for a in fulfilment["appointments"]:
        if a.status is AppointmentStatus.scheduled:
            out[f"outcome_{a.id}.at"] = local_now.strftime("%Y-%m-%dT%H:%M")
    return out


def _fulfilment_values(
    ctx: PageContext, case: ReferralRead, events: list[TimelineEventRead], actions: list[str]
) -> dict[str, Any]:
    """Eligibility, authorisations and appointments, each read (through its service)
    only once the timeline shows the case has one: a fixed number of statements."""
    seen = {e.type.split(".", 1)[0] for e in events}
    cn = case.case_number
    eligibility: EligibilityRead | None = None
    if "eligibility" in seen and ctx.actor.is_staff:
        eligibility = eligibility_service.get_eligibility(
            ctx.session, ctx.actor, cn, clock=ctx.clock
        )
    authorizations: list[AuthorizationRead] = []
    if "authorization" in seen and may(ctx.actor, "authorization:request"):
        authorizations = prior_auth_service.list_authorizations(
            ctx.session, ctx.actor, cn, clock=ctx.clock
        ).items
    appointments: list[AppointmentRead] = []
    if "appointment" in seen and may(ctx.actor, "appointment:manage"):
        appointments = scheduling_service.list_appointments(
            ctx.session, ctx.actor, cn, clock=ctx.clock
        ).items
    return {
        "eligibility": eligibility,
        "authorizations": authorizations,
        "appointments": appointments,
        "may_decide": may(ctx.actor, "authorization:decide"),
        "may_request": may(ctx.actor, "authorization:request"),
        "may_appeal": may(ctx.actor, "authorization:appeal"),
        "may_confirm": may(ctx.actor, "confirmation:read"),
        "decision_outcomes": [o.value for o in DecisionOutcome],
        "denial_reasons": [r.value for r in DenialReason],
        "visit_outcomes": [o.value for o in VisitOutcome],
        "missed_reasons": [r.value for r in MissedReason],
        "to_book": _to_book(case, appointments, "schedule" in actions),
    }


def _to_book(
    case: ReferralRead, appointments: list[AppointmentRead], first_allowed: bool
) -> list[tuple[str, AppointmentRead | None]]:
    """(form prefix, appointment) of each booking form: the start of service while the
    case allows scheduling (new, or the one to move), and each resupply open to booking."""
    out: list[tuple[str, AppointmentRead | None]] = []
    first = next((a for a in appointments if a.sequence == 1), None)
    if first_allowed:
        out.append((f"schedule_{first.id}" if first else "schedule_new", first))
    open_to_book = (AppointmentStatus.due, AppointmentStatus.scheduled, AppointmentStatus.missed)
    out += [
        (f"schedule_{a.id}", a)
        for a in appointments
        if a.sequence > 1 and a.status in open_to_book and case.status.value == "fulfilled"
    ]
    return out


@router.get("/cases/{case_number}")
async def case_page(
    request: Request,
    case_number: CaseNumber,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    def work(ctx: PageContext) -> Page:
        if ctx.actor.role is Role.referring_clinician:
            return referrer.case_page(ctx, case_number.upper(), _DONE.get(done or ""))
        values = _case_values(ctx, case_number.upper())
        values["done"] = _DONE.get(done or "")
        return Page("cases/case.html", values)

    return await page(request, work)


def _back_or_case(form: Form, case_number: str, done: str) -> str:
    back = form.get("back", "")
    if back.startswith("/") and not back.startswith("//"):
        return back
    return f"/cases/{case_number}?done={done}"


async def _move(
    request: Request,
    form: Form,
    case_number: str,
    move: Callable[[PageContext], str | None],
    done: str,
    *,
    prefix: str = "case",
    rename: dict[str, str] | None = None,
    kind: str | None = None,
) -> Response:
    """Run one move in the request's transaction and go back where the form came from
    (or to the case page saying what was done).

    The move runs in a savepoint: when the service refuses it (a rule with its field
    errors, or a move the case or the request does not allow now), nothing of it is kept
    and the case page comes back with the messages beside the form's fields (``kind``:
    the form's labels in formlabels, when its prefix does not say it)."""

    def work(ctx: PageContext) -> Page | Redirect:
        try:
            with ctx.session.begin_nested():
                if (unclean := form_text_error(form, prefix)) is not None:
                    raise unclean
                outcome = move(ctx)
        except (RuleViolationError, ConflictError) as exc:
            form_kind = formlabels.kind_of(prefix) if kind is None else kind
            return _refused(ctx, case_number, form, prefix, exc, rename or {}, form_kind)
        return Redirect(_back_or_case(form, case_number, outcome or done))

    return await page(request, work, form=form, checks_text=True)


#: The same, for the case page's other modules (escalations).
move_and_return = _move


def _refused(
    ctx: PageContext,
    case_number: str,
    form: Form,
    prefix: str,
    exc: DomainError,
    rename: dict[str, str],
    kind: str,
) -> Page:
    by_referrer = ctx.actor.role is Role.referring_clinician
    values = (
        referrer.case_values(ctx, case_number) if by_referrer else _case_values(ctx, case_number)
    )
    errors = moveforms.field_errors(prefix, exc.errors, rename)
    allowed = exc.extra.get("allowed_actions")
    title, detail = presenters.title_words(exc.title), exc.detail
    if allowed is not None:
        detail = detail.split(" Allowed now:", 1)[0]
    if allowed is not None and isinstance(exc, IllegalTransitionError):
        # A move the case does not allow now: its detail says what could not be done and
        # why in a sentence of its own, the page's title; the moves allowed now, named by
        # their codes in the API's detail, the page says in words ("allowed").
        title, detail = detail.rstrip("."), ""
    problem = {
        "prefix": prefix,
        "title": title,
        "detail": detail,
        "conflict": isinstance(exc, ConflictError),
        "allowed": [presenters.words(str(a)) for a in allowed] if allowed else [],
        "messages": list(errors.items()),
        "named": [(formlabels.label(kind, name), text) for name, text in errors.items()],
        "on_page": True,
    }
    values.update(form={**values["form"], **dict(form)}, errors=errors, problem=problem)
    template = "referrer/case.html" if by_referrer else "cases/case.html"
    # The page's own summary says where to look: the form, when the page shows it (its
    # summary names the fields), or else each field by the label the form gave it.
    shown = templates.render(
        template, templates.base_values(ctx.request, ctx.principal, ctx.settings) | values
    )
    problem["on_page"] = f'id="problem-{prefix}"' in shown
    return Page(template, values, status=exc.status)


@router.post("/cases/{case_number}/acknowledge")
async def acknowledge(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        referral_service.acknowledge_referral(
            ctx.session, ctx.actor, cn, AcknowledgeIn(), clock=ctx.clock
        )

    return await _move(request, form, cn, move, "acknowledged")


@router.post("/cases/{case_number}/assignee")
async def reassign(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    email = form.get("assignee.email", "").strip()
    note = form.get("assignee.note", "").strip() or None

    def move(ctx: PageContext) -> None:
        if not email:
            raise RuleViolationError(
                "email: choose a case manager.",
                errors=[FieldError("email", "choose a case manager")],
            )
        body = moveforms.parse(AssigneeIn, {"email": email, "note": note})
        caseload.assign_case(
            ctx.session, ctx.actor, cn, email=body.email, note=body.note, clock=ctx.clock
        )

    return await _move(request, form, cn, move, "reassigned", prefix="assignee")


@router.post("/cases/{case_number}/offer")
async def offer(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    raw = form.get("provider_id", "").strip()
    provider_id = int(raw) if raw.isdigit() and len(raw) < 10 else None

    def move(ctx: PageContext) -> str:
        result = matching_service.offer_referral(
            ctx.session, ctx.actor, cn, OfferCreate(provider_id=provider_id), clock=ctx.clock
        )
        return "unplaced" if result.status == "unplaced" else "offered"

    return await _move(request, form, cn, move, "offered")


@router.post("/cases/{case_number}/eligibility")
async def verify_eligibility(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        eligibility_service.verify_eligibility(ctx.session, ctx.actor, cn, clock=ctx.clock)

    return await _move(request, form, cn, move, "verified")


@router.post("/cases/{case_number}/authorization")
async def request_authorization(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        prior_auth_service.request_authorization(
            ctx.session, ctx.actor, cn, AuthorizationRequestIn(), clock=ctx.clock
        )

    return await _move(request, form, cn, move, "requested")


@router.post("/cases/{case_number}/cancel")
async def cancel(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    reason = form.get("reason", "").strip()

    def move(ctx: PageContext) -> None:
        if not reason:
            raise _reason_missing()
        body = moveforms.parse(CancelIn, {"reason": reason})
        referral_service.cancel_referral(ctx.session, ctx.actor, cn, body, clock=ctx.clock)

    return await _move(request, form, cn, move, "cancelled", prefix="cancel")


def _reason_missing() -> DomainError:
    return RuleViolationError(
        "reason: say why the case is cancelled.",
        errors=[FieldError("reason", "say why the case is cancelled")],
    )


# ---- prior authorisation ----------------------------------------------------------------


@router.post("/cases/{case_number}/authorizations/{authorization_id}/decision")
async def record_decision(
    request: Request, case_number: CaseNumber, authorization_id: RowId
) -> Response:
    """A clinical reviewer's (or supervisor's) decision on one request."""
    form = await read_form(request)
    cn = case_number.upper()
    prefix = f"decision_{authorization_id}"
    values = moveforms.inputs(prefix, form)
    lines = [int(k.split(".")[1]) for k in values if k.startswith("units.") and k[6:].isdigit()]
    rename: dict[str, str] = {}

    def move(ctx: PageContext) -> None:
        body, mapping = moveforms.decision(values, sorted(lines))
        rename.update(mapping)
        prior_auth_service.record_decision(
            ctx.session, ctx.actor, authorization_id, body, clock=ctx.clock
        )

    return await _move(request, form, cn, move, "decided", prefix=prefix, rename=rename)


@router.post("/cases/{case_number}/authorizations/{authorization_id}/information")
async def send_information(
    request: Request, case_number: CaseNumber, authorization_id: RowId
) -> Response:
    """What the reviewer pended the request for was sent."""
    form = await read_form(request)
    cn = case_number.upper()
    prefix = f"information_{authorization_id}"

    def move(ctx: PageContext) -> None:
        body = moveforms.information(moveforms.inputs(prefix, form))
        prior_auth_service.supply_information(
            ctx.session, ctx.actor, authorization_id, body, clock=ctx.clock
        )

    return await _move(request, form, cn, move, "information_sent", prefix=prefix)


@router.post("/cases/{case_number}/authorizations/{authorization_id}/appeal")
async def appeal(request: Request, case_number: CaseNumber, authorization_id: RowId) -> Response:
    form = await read_form(request)
    cn = case_number.upper()
    prefix = f"appeal_{authorization_id}"

    def move(ctx: PageContext) -> None:
        body = moveforms.appeal(moveforms.inputs(prefix, form), authorization_id)
        appeal_service.open_appeal(ctx.session, ctx.actor, cn, body, clock=ctx.clock)

    return await _move(request, form, cn, move, "appealed", prefix=prefix)


# ---- scheduling and fulfilment ----------------------------------------------------------


@router.post("/cases/{case_number}/schedule")
async def schedule(request: Request, case_number: CaseNumber) -> Response:
    """Book (or move) a delivery or visit: a day and a window in the member's local
    time, converted to instants here; the service checks the window and the deadline."""
    form = await read_form(request)
    cn = case_number.upper()
    prefix = form.get("form", "schedule_new")
    if not (prefix == "schedule_new" or (prefix.startswith("schedule_") and prefix[9:].isdigit())):
        prefix = "schedule_new"

    def move(ctx: PageContext) -> None:
        case = referral_service.get_referral(ctx.session, ctx.actor, cn, clock=ctx.clock)
        body = moveforms.schedule(moveforms.inputs(prefix, form), case.time_zone)
        scheduling_service.schedule(ctx.session, ctx.actor, cn, body, clock=ctx.clock)

    return await _move(
        request, form, cn, move, "scheduled", prefix=prefix, rename=moveforms.SCHEDULE_INPUTS
    )


@router.post("/cases/{case_number}/appointments/{appointment_id}/outcome")
async def record_outcome(
    request: Request, case_number: CaseNumber, appointment_id: RowId
) -> Response:
    """Delivered (received by, serial numbers), visit done, or missed (coded reason)."""
    form = await read_form(request)
    cn = case_number.upper()
    prefix = f"outcome_{appointment_id}"

    def move(ctx: PageContext) -> None:
        case = referral_service.get_referral(ctx.session, ctx.actor, cn, clock=ctx.clock)
        body = moveforms.outcome(moveforms.inputs(prefix, form), case.time_zone)
        scheduling_service.record_outcome(
            ctx.session, ctx.actor, appointment_id, body, clock=ctx.clock
        )

    return await _move(request, form, cn, move, "outcome", prefix=prefix)


@router.post("/cases/{case_number}/close")
async def close(request: Request, case_number: CaseNumber) -> Response:
    form = await read_form(request)
    cn = case_number.upper()

    def move(ctx: PageContext) -> None:
        body = moveforms.close(moveforms.inputs("close", form))
        referral_service.close_referral(ctx.session, ctx.actor, cn, body, clock=ctx.clock)

    return await _move(request, form, cn, move, "closed", prefix="close")


@router.get("/cases/{case_number}/confirmation.pdf")
async def confirmation(request: Request, case_number: CaseNumber) -> Response:
    """The written confirmation of the scheduled start (the service makes the PDF)."""
    cn = case_number.upper()

    def work(ctx: PageContext) -> Download:
        pdf = scheduling_service.confirmation_pdf(ctx.session, ctx.actor, cn, clock=ctx.clock)
        return Download(pdf, "application/pdf", f"confirmation-{cn}.pdf")

    return await page(request, work)


# ---- supplying missing information -----------------------------------------------------------


def _info_values(
    ctx: PageContext, case_number: str, form: Form, errors: dict[str, str]
) -> dict[str, Any]:
    case = referral_service.get_referral(ctx.session, ctx.actor, case_number, clock=ctx.clock)
    return {
        "case": case,
        "form": dict(form),
        "errors": errors,
        "warnings": {},
        "hints": _hints(case),
        "missing": {f.field for f in case.findings},
        "diagnosis_rows": range(forms.DIAGNOSIS_ROWS),
    }


@router.get("/cases/{case_number}/information")
async def information_form(request: Request, case_number: CaseNumber) -> Response:
    def work(ctx: PageContext) -> Page:
        return Page("cases/information.html", _info_values(ctx, case_number.upper(), {}, {}))

    return await page(request, work)


@router.post("/cases/{case_number}/information")
async def supply_information(request: Request, case_number: CaseNumber) -> Response:
    """Send what was missing: only the inputs filled in are sent (the rest is kept), the
    checks run again, and the page shows what is still missing."""
    form = await read_form(request)
    cn = case_number.upper()

    def work(ctx: PageContext) -> Page | Redirect:
        parsed = forms.parse(form, zone=ctx.settings.display_time_zone, allowed=INFO_FIELDS)
        body, errors = forms.validate(ReferralClarify, parsed)
        if body is None:
            return Page("cases/information.html", _info_values(ctx, cn, form, errors), status=422)
        referral_service.supply_information(ctx.session, ctx.actor, cn, body, clock=ctx.clock)
        return Redirect(f"/cases/{cn}?done=supplied")

    return await page(request, work, form=form)
