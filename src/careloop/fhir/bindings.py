"""The codes of FHIR R4's required bindings (a request's ``status`` and ``intent``, a
Coverage's ``status``, a ContactPoint's ``system``, a HumanName's ``use``...).

The ``fhir.resources`` R4B models list these codes (``enum_values``) but do not check
them: ``"status": "open"`` on a ServiceRequest passed, and was read as an order that is
not active (no signed order) without a word, and ``"system": "Phone"`` dropped the
member's phone. A value outside its required binding is invalid FHIR: this names each."""

from __future__ import annotations

import re
import types
import typing
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic.fields import FieldInfo

from careloop.fhir.outcome import Issue

#: A code as R4's value sets write them; a list with anything else ("+" for "and more",
#: "etc.") was read from the spec's prose by the models' generator, and is not checked.
_CODE = re.compile(r"[A-Za-z0-9]+(?:[-.][A-Za-z0-9]+)*")
#: (codes of the field's required binding, or None; the element model inside, or None).
_Field = tuple[frozenset[str] | None, Any]


def binding_issues(data: dict[str, Any], model: Any, root: str) -> list[Issue]:
    """An issue for each code of ``data`` (a document of ``model``, at FHIRPath ``root``)
    that is not a code its required binding allows."""
    issues: list[Issue] = []
    stack: list[tuple[Any, dict[str, Any], str]] = [(model, data, root)]
    while stack:
        current, node, path = stack.pop()
        fields = _fields(current)
        for key, value in node.items():
            found = fields.get(key)
            if found is None or value is None:
                continue
            codes, element = found
            if type(value) is not list:
                if codes is not None:
                    if type(value) is str and value not in codes:
                        issues.append(_issue(value, codes, f"{path}.{key}"))
                elif type(value) is dict:
                    stack.append((_model_of(element, value), value, f"{path}.{key}"))
                continue
            for index, item in enumerate(value):
                if codes is not None:
                    if type(item) is str and item not in codes:
                        issues.append(_issue(item, codes, f"{path}.{key}[{index}]"))
                elif type(item) is dict:
                    stack.append((_model_of(element, item), item, f"{path}.{key}[{index}]"))
    return sorted(issues, key=lambda issue: issue.expression or "")


def _issue(value: str, codes: frozenset[str], where: str) -> Issue:
    allowed = ", ".join(sorted(codes)[:12])
    return Issue(
        "error",
        "code-invalid",
        f"{value[:40]!r} is not a code FHIR R4 allows here; use one of: {allowed}.",
        where,
    )


def _model_of(element: Any, item: dict[str, Any]) -> Any:
    """The model of an element's value: its own, or for a resource slot (a bundle
    entry's resource) the model its ``resourceType`` names."""
    if type(element) is not _ResourceSlot:
        return element
    kind = item.get("resourceType")
    return _resource_model(kind) if type(kind) is str else None


class _ResourceSlot:
    """A field that holds any resource (``Bundle.entry.resource``)."""


_RESOURCE_SLOT = _ResourceSlot()


@cache
def _resource_model(kind: str) -> Any:
    try:
        return get_fhir_model_class(kind)
    except (KeyError, ValueError):
        return None


@cache
def _fields(model: Any) -> dict[str, _Field]:
    if model is None:
        return {}
    out: dict[str, _Field] = {}
    for name, info in model.model_fields.items():
        codes = required_codes(info)
        found = (codes, None if codes else _element(info.annotation))
        if found != (None, None):
            out[info.alias or name] = found
    return out


def required_codes(info: FieldInfo) -> frozenset[str] | None:
    """The codes a model's field may hold by its required binding (None: no such list)."""
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    enum = extra.get("enum_values")
    codes = frozenset(str(c) for c in enum) if isinstance(enum, list) and enum else None
    if codes is not None and not all(_CODE.fullmatch(c) for c in codes):
        return None  # a list the models read wrong from the spec ("+", "etc.")
    return codes


def _element(annotation: Any) -> Any:
    """The FHIR element model a field holds (itself or as a list), or None."""
    inner = _optional(annotation)
    if typing.get_origin(inner) is list:
        inner = _optional(typing.get_args(inner)[0])
    if not (isinstance(inner, type) and issubclass(inner, FhirBase)):
        return None
    if issubclass(inner, FhirElementOrResourceBase):
        return _RESOURCE_SLOT
    return inner.get_model_klass()


def _optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return annotation
