"""HTML forms to the API's request models, and errors back to form fields.

Form fields are named by the API's dotted paths (``member.birth_date``,
``ordering_provider.npi``, ``items.1.code``), so a finding's ``field`` names the input it
belongs beside. Empty inputs are left out (a blank optional field is not sent); blank
rows of diagnoses and items are dropped, and the positions of the rows that remain are
kept so a finding about ``items.0`` lands beside the row the user filled in.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from careloop.core.errors import FieldError
from careloop.web.problems import field_errors

DIAGNOSIS_ROWS = 4
ITEM_ROWS = 3
_LISTS = {"diagnoses": DIAGNOSIS_ROWS, "items": ITEM_ROWS}
_BOOLEANS = {"rental"}
_INTEGERS = {"quantity"}
_LINES = {"member.access_barriers"}

#: Every input of the referral form, by its dotted name (live checks clear them all).
MEMBER_FIELDS = [
    "member.first_name",
    "member.last_name",
    "member.birth_date",
    "member.sex",
    "member.phone",
    "member.language",
    "member.address.line1",
    "member.address.city",
    "member.address.state",
    "member.address.zip",
    "member.access_barriers",
]
OTHER_FIELDS = [
    "external_id",
    "channel",
    "urgency",
    "requested_start",
    "discharge_at",
    "coverage.payer_id",
    "coverage.member_id",
    "coverage.group_number",
    "ordering_provider.npi",
    "ordering_provider.name",
    "ordering_provider.organization",
    "ordering_provider.phone",
    "ordering_provider.fax",
    "signed_order.signed_on",
    "signed_order.signer_npi",
    "notes",
]
ROW_FIELDS = [f"diagnoses.{i}.code" for i in range(DIAGNOSIS_ROWS)] + [
    f"items.{i}.{part}"
    for i in range(ITEM_ROWS)
    for part in ("code", "code_system", "quantity", "frequency", "rental")
]
ALL_FIELDS = MEMBER_FIELDS + OTHER_FIELDS + ROW_FIELDS

M = TypeVar("M", bound=BaseModel)


@dataclass
class ParsedForm:
    """The nested request body, and where each list row came from in the form."""

    data: dict[str, Any]
    rows: dict[str, list[int]] = field(default_factory=dict)

    def form_field(self, path: str) -> str:
        """The form input a dotted API path refers to (list rows re-numbered back)."""
        head, _, rest = path.partition(".")
        if head in self.rows and rest:
            index, _, tail = rest.partition(".")
            if index.isdigit() and int(index) < len(self.rows[head]):
                original = self.rows[head][int(index)]
                return f"{head}.{original}" + (f".{tail}" if tail else "")
        return path


def parse(
    form: Mapping[str, str], *, zone: str, allowed: Collection[str] | None = None
) -> ParsedForm:
    """The form's non-empty inputs (of ``allowed``, by default the referral form's) as
    the nested body the API takes."""
    accepted = set(ALL_FIELDS if allowed is None else allowed)
    data: dict[str, Any] = {}
    rows: dict[str, list[int]] = {}
    for name, raw in form.items():
        value = raw.strip()
        if value and name in accepted:
            _put(data, name.split("."), _convert(name, value, zone))
    for name, count in _LISTS.items():
        table = data.pop(name, None)
        if not isinstance(table, dict):
            continue
        # A row counts once its code is filled in (its other inputs have defaults).
        kept = [i for i in range(count) if _has_code(table.get(str(i)))]
        data[name] = [table[str(i)] for i in kept]
        rows[name] = kept
    return ParsedForm(data, rows)


def _has_code(row: object) -> bool:
    return isinstance(row, dict) and bool(row.get("code"))


def _put(node: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return
        node = child
    node[parts[-1]] = value


def _convert(name: str, value: str, zone: str) -> Any:
    last = name.rsplit(".", 1)[-1]
    if last in _BOOLEANS:
        return {"yes": True, "no": False}.get(value, value)
    if last in _INTEGERS:
        return int(value) if value.lstrip("-").isdigit() else value
    if name in _LINES:
        return [line.strip() for line in value.splitlines() if line.strip()]
    if name == "discharge_at":
        return _local_instant(value, zone)
    return value


def _local_instant(value: str, zone: str) -> str:
    """A ``datetime-local`` input (no zone) read in ``zone``, as ISO 8601 with offset."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value
    if naive.tzinfo is not None:
        return naive.isoformat()
    return naive.replace(tzinfo=ZoneInfo(zone)).isoformat()


def validate(model: type[M], parsed: ParsedForm) -> tuple[M | None, dict[str, str]]:
    """The request model from the form (lax types: a form sends only strings), or the
    errors by form input.

    A required group left wholly blank (the member's inputs, say) is sent as an empty
    group, so that each required input of it is named beside itself rather than the
    group, which has no input to stand beside."""
    data = dict(parsed.data)
    for name, info in model.model_fields.items():
        group = info.annotation
        if name not in data and info.is_required() and _is_model(group):
            data[name] = {}
    try:
        return model.model_validate(data, strict=False), {}
    except ValidationError as exc:
        return None, errors_by_field(parsed, shape_errors(exc))


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def errors_by_field(parsed: ParsedForm, errors: list[FieldError]) -> dict[str, str]:
    """Messages keyed by form input; two messages for one input are joined."""
    out: dict[str, str] = {}
    for error in errors:
        name = parsed.form_field(error.field)
        out[name] = f"{out[name]} {error.message}" if name in out else error.message
    return out


def shape_errors(exc: ValidationError) -> list[FieldError]:
    return field_errors(list(exc.errors(include_url=False, include_input=False)))
