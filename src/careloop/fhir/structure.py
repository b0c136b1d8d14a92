"""What the ``fhir.resources`` R4B models find wrong in a Bundle (they read R4
payloads), each issue at its FHIRPath, and the codes of R4's required bindings, which
the models list but do not check (``fhir.bindings``): the first of the intake's checks
(``fhir.intake``)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from pydantic import ValidationError

from careloop.fhir.bindings import binding_issues
from careloop.fhir.outcome import Issue
from careloop.fhir.shapes import SHAPES


def structure_issues(data: dict[str, Any]) -> tuple[list[Issue], bool]:
    """What the R4B models find wrong in the Bundle, each issue at its FHIRPath, and
    whether its codes were found allowed by their required bindings on the way.

    Each entry's resource is checked by its own type's model, and the Bundle without
    them: the same checks and paths as the Bundle's model over the whole, without its
    look-up of each resource's model by name (a fifth of the parse's time). All go
    through ``fhir.shapes``: shapes the models took before are judged by their values'
    FHIR types and bound codes, the whole bundle's values together."""
    entries = data.get("entry")
    shapes = _entry_shape_issues(entries)
    if shapes:
        return shapes, False
    models = [_model_of(e) for e in entries] if isinstance(entries, list) else None
    if entries is None or models is None or None in models:
        try:
            Bundle.model_validate(data)  # odd shapes: let the Bundle's model say what
        except ValidationError as exc:
            return _model_issues(exc), False
        except (KeyError, TypeError):  # fhir_core, on a resourceType it has no model for
            return _unknown_types(entries), False
        return [], False
    shell = {**data, "entry": [{k: v for k, v in e.items() if k != "resource"} for e in entries]}
    documents = [(Bundle, shell)]
    documents += [(model, entry["resource"]) for entry, model in zip(entries, models, strict=True)]
    roots = ["Bundle", *(f"Bundle.entry[{index}].resource" for index in range(len(entries)))]
    issues: list[Issue] = []
    verdicts = SHAPES.validate_all(documents)
    for root, verdict in zip(roots, verdicts.errors, strict=True):
        if verdict is not None:
            issues += _model_issues(verdict, root)
    return issues, verdicts.by_shape


def codes_issues(data: dict[str, Any], accepted: frozenset[str]) -> list[Issue]:
    """The codes outside R4's required bindings, in the Bundle and in the entries of
    the ``accepted`` types (another type is refused as such, by the intake)."""
    entries = data.get("entry") or []
    issues = binding_issues({k: v for k, v in data.items() if k != "entry"}, Bundle, "Bundle")
    for index, entry in enumerate(entries):
        issues += binding_issues(
            {k: v for k, v in entry.items() if k != "resource"},
            BundleEntry,
            f"Bundle.entry[{index}]",
        )
        resource = entry["resource"]
        if resource.get("resourceType") in accepted:
            model = get_fhir_model_class(resource["resourceType"])
            issues += binding_issues(resource, model, f"Bundle.entry[{index}].resource")
    return issues


def _entry_shape_issues(entries: Any) -> list[Issue]:
    """An issue for each entry that is no object or carries no resource to create (the
    Bundle's model would answer the first with a JSON parser's words)."""
    issues = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        where = f"Bundle.entry[{index}]"
        if not isinstance(entry, dict):
            message = "Each entry must be a JSON object with its fullUrl, resource and request."
            issues.append(Issue("error", "structure", message, where))
        elif not isinstance(entry.get("resource"), dict):
            message = "Each entry of a transaction needs the resource to create, as an object."
            issues.append(Issue("error", "required", message, f"{where}.resource"))
    return issues


def _unknown_types(entries: Any) -> list[Issue]:
    """An issue for each entry whose resourceType names no R4B resource."""
    issues = []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and _model_of(entry) is None:
            kind = resource.get("resourceType")
            issues.append(
                Issue(
                    "error",
                    "structure",
                    f"{str(kind)[:60]!r} is not a FHIR R4 resource type.",
                    f"Bundle.entry[{index}].resource.resourceType",
                )
            )
    return issues or [Issue("error", "structure", "The Bundle cannot be read.", "Bundle")]


def _model_of(entry: Any) -> Any:
    """The R4B model of an entry's resource, or None where it has no known one."""
    resource = entry.get("resource") if isinstance(entry, dict) else None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(kind, str):
        return None
    try:
        return get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return None


def _model_issues(exc: ValidationError, path_root: str = "Bundle") -> list[Issue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        path = path_root
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        issues.append(Issue("error", "structure", _plain_model_message(error), path))
    return issues


#: The FHIR primitive types' formats, for a value the models find not written as one.
_FORMATS = {
    "Date": "a FHIR date: YYYY, YYYY-MM or YYYY-MM-DD, a real month and a year from 0001",
    "DateTime": (
        "a FHIR dateTime: YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with its time zone "
        "(2026-11-23T14:00:00-05:00), a real month, hour and a year from 0001"
    ),
    "Instant": "a FHIR instant: YYYY-MM-DDThh:mm:ss with its time zone",
    "Time": "a FHIR time: hh:mm:ss",
}
_NOT_TEXT = frozenset({"date_from_datetime_inexact", "date_type", "datetime_type"})


def _plain_model_message(error: Any) -> str:
    """The models' complaint, with the ones that quote their regular expressions or
    Python's types said as the rule they break."""
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = message.partition(" value string does not match spec regex")[0]
    if kind != message and kind in _FORMATS:
        return f"The value is not written as {_FORMATS[kind]}."
    if error.get("type") in _NOT_TEXT:
        return "A date is written as text (YYYY-MM-DD), not as a number or true/false."
    if error.get("type") == "string_pattern_mismatch":
        pattern = str((error.get("ctx") or {}).get("pattern", ""))
        return _PATTERNS.get(pattern, "The value is not written as its FHIR type allows.")
    return message


#: The R4 primitive types' regular expressions, said as the rule they are.
_PATTERNS = {
    "[ \r\n\t\\S]+": (
        "The text is empty: FHIR has no empty strings; leave the element out instead."
    ),
    "^[^\\s]+(\\s[^\\s]+)*$": (
        "A code is not empty and has no space at its start or end, nor two in a row."
    ),
    "^[A-Za-z0-9\\-.]+$": "An id holds only letters, digits, '-' and '.' (at most 64).",
}
