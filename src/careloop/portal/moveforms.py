"""The case page's move forms to the services' request models, and the services' field
errors back to the form's inputs.

Each form names its inputs under a prefix (``decision_7.valid_to``, ``schedule_new.day``)
so that several forms on one page never share an id, and an error lands beside the
input of the form that was sent. Parsing here is about shape only (a date is a date, a
time window is read in the member's zone); what a decision or an outcome must carry is
the services' rule, and their messages are shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from careloop.appeal.schemas import AppealCreate
from careloop.core.errors import FieldError, RuleViolationError
from careloop.portal.forms import shape_errors
from careloop.prior_auth.rules import Outcome as DecisionOutcome
from careloop.prior_auth.schemas import DecisionIn, InformationIn
from careloop.referral.schemas import CloseIn
from careloop.scheduling.rules import Outcome as VisitOutcome
from careloop.scheduling.schemas import OutcomeIn, ScheduleIn

M = TypeVar("M", bound=BaseModel)

#: Which inputs a decision sends, by outcome (the others are left out, not refused).
_DECISION_INPUTS = {
    DecisionOutcome.approved.value: ("authorization_number", "valid_from", "valid_to", "note"),
    DecisionOutcome.partially_approved.value: (
        "authorization_number",
        "valid_from",
        "valid_to",
        "note",
    ),
    DecisionOutcome.pended.value: ("missing_information", "note"),
    DecisionOutcome.denied.value: ("denial_reason", "peer_to_peer_contact", "note"),
}
_INVALID = "Some fields are not valid; see the messages beside them."
_SERIAL_SPLIT = re.compile(r"[\s,;]+")


class FormInvalidError(RuleViolationError):
    """The form cannot be sent as it is (shape only); nothing was tried."""

    code = "form_invalid"
    title = "Some fields are not valid"


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _model(model: type[M], data: dict[str, Any], rename: Callable[[str], str] = str) -> M:
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        errors = [FieldError(rename(e.field), e.message) for e in shape_errors(exc)]
        raise FormInvalidError(_INVALID, errors=errors) from None


def parse(model: type[M], data: dict[str, Any]) -> M:
    """A form's values as the service's request model (422-like errors by field)."""
    return _model(model, data)


def inputs(prefix: str, form: Mapping[str, str]) -> dict[str, str]:
    """The inputs of one form (``prefix.name``) without their prefix."""
    head = prefix + "."
    return {k[len(head) :]: v for k, v in form.items() if k.startswith(head)}


def field_errors(
    prefix: str, errors: Sequence[FieldError], rename: Mapping[str, str]
) -> dict[str, str]:
    """A service's (or the parser's) field errors keyed by the form's input names."""
    out: dict[str, str] = {}
    for error in errors:
        name = f"{prefix}.{rename.get(error.field, error.field)}"
        out[name] = f"{out[name]} {error.message}" if name in out else error.message
    return out


# ---- prior authorisation ----------------------------------------------------------------


def decision(values: Mapping[str, str], lines: Sequence[int]) -> tuple[DecisionIn, dict[str, str]]:
    """The reviewer's decision, and how the service's item errors map back to the
    units input of each line (``items.0.units_approved`` → ``units.2``)."""
    outcome = values.get("outcome", "")
    data: dict[str, Any] = {"outcome": outcome}
    for name in _DECISION_INPUTS.get(outcome, ()):
        if (value := _text(values, name)) is not None:
            data[name] = value
    rename: dict[str, str] = {}
    if outcome in (DecisionOutcome.approved.value, DecisionOutcome.partially_approved.value):
        items: list[dict[str, Any]] = []
        for line in lines:
            if (units := _text(values, f"units.{line}")) is not None:
                rename[f"items.{len(items)}.units_approved"] = f"units.{line}"
                rename[f"items.{len(items)}.line"] = f"units.{line}"
                items.append({"line": line, "units_approved": units})
        data["items"] = items
    body = _model(DecisionIn, data, lambda f: rename.get(f, f))
    return body, rename


def information(values: Mapping[str, str]) -> InformationIn:
    return _model(InformationIn, {"note": _text(values, "note")})


def appeal(values: Mapping[str, str], authorization_id: int) -> AppealCreate:
    return _model(
        AppealCreate,
        {"authorization_id": authorization_id, "rationale": _text(values, "rationale")},
    )


def close(values: Mapping[str, str]) -> CloseIn:
    note = _text(values, "note")
    return _model(CloseIn, {"note": note} if note else {})


# ---- scheduling -------------------------------------------------------------------------

#: The service's window fields, as the form's inputs.
SCHEDULE_INPUTS = {"window_start": "start", "window_end": "end"}


def schedule(values: Mapping[str, str], zone: str) -> ScheduleIn:
    """A window entered as a day and two times in the member's zone, sent as aware
    instants (the service checks the window; a clock change inside it is the zone's)."""
    errors = []
    day = _parse(date.fromisoformat, values.get("day", ""))
    start = _parse(time.fromisoformat, values.get("start", ""))
    end = _parse(time.fromisoformat, values.get("end", ""))
    if day is None:
        errors.append(FieldError("day", "give the day (YYYY-MM-DD)"))
    if start is None:
        errors.append(FieldError("start", "give the start of the window (HH:MM)"))
    if end is None:
        errors.append(FieldError("end", "give the end of the window (HH:MM)"))
    if day is None or start is None or end is None:
        raise FormInvalidError(_INVALID, errors=errors)
    local = ZoneInfo(zone)
    data: dict[str, Any] = {
        "window_start": datetime.combine(day, start, tzinfo=local),
        "window_end": datetime.combine(day, end, tzinfo=local),
    }
    if (late := _text(values, "late_reason")) is not None:
        data["late_reason"] = late
    if (appointment := _text(values, "appointment_id")) is not None:
        data["appointment_id"] = appointment
    return _model(ScheduleIn, data, lambda f: SCHEDULE_INPUTS.get(f, f))


def outcome(values: Mapping[str, str], zone: str) -> OutcomeIn:
    """Delivered / visit done (when, who received it, serial numbers one per line or
    separated by commas) or missed (coded reason, note)."""
    chosen = values.get("outcome", "")
    data: dict[str, Any] = {"outcome": chosen}
    if chosen == VisitOutcome.missed.value:
        for name in ("reason", "note"):
            if (value := _text(values, name)) is not None:
                data[name] = value
        return _model(OutcomeIn, data)
    at = _text(values, "at")
    if at is not None:
        parsed = _parse(datetime.fromisoformat, at)
        if parsed is None:
            raise FormInvalidError(
                _INVALID,
                errors=[FieldError("at", "give the day and time it was done")],
            )
        data["at"] = parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))
    if chosen == VisitOutcome.delivered.value:
        if (received := _text(values, "received_by")) is not None:
            data["received_by"] = received
        serials = _SERIAL_SPLIT.split(values.get("serial_numbers", "").strip())
        data["serial_numbers"] = [s for s in serials if s]
    if (note := _text(values, "note")) is not None:
        data["note"] = note
    return _model(OutcomeIn, data, lambda f: "serial_numbers" if f.startswith("serial") else f)


T = TypeVar("T")


def _parse(parser: Callable[[str], T], value: str) -> T | None:
    try:
        return parser(value.strip()) if value.strip() else None
    except ValueError:
        return None
