"""Validation by a ``fhir.resources`` R4B model, remembered per shape of the document.

A model's verdict on a JSON document depends on two things only: its shape (which keys
at which places, lists and their lengths, which values are null, numbers, booleans or
strings, and each ``resourceType``, which picks the model of a resource) and each
primitive value checked on its own by its FHIR type (a ``date``, a ``code``, a ``uri``).
Every model-wide rule of the R4B models looks at the shape alone: unknown keys, required
elements, one choice of a ``value[x]``, no null in a list of elements, an extension
beside a primitive.

So once a model has accepted a document, its shape is remembered with the FHIR type of
each of its primitive values; a later document of the same shape is accepted when each
of its values passes its type's own validator (one call per type, run by pydantic-core),
the same validators the model runs. Anything else, or a value that fails, goes through
the model itself, whose errors are the answer. The models stay the judges: this only
avoids asking them twice the question of a shape they have already answered (most of
their time is per element, in Python: a third of a FHIR intake's CPU).
"""

from __future__ import annotations

import types
import typing
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from operator import itemgetter
from threading import Lock
from typing import Any, Literal

from fhir_core.constraints import FHIR_TYPES_MAPS
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import TypeAdapter, ValidationError

from careloop.fhir.bindings import required_codes

#: How many shapes are remembered, of all models together (the least recently used go
#: first): a bundle's are a dozen, a shape a few kB.
MAX_SHAPES = 2048


class _UnknownShapeError(Exception):
    """A document this module does not take apart: the model alone judges it."""


@dataclass(frozen=True, slots=True)
class _Checks:
    """The validators of one shape's values: per FHIR type, what picks its values out
    of the document's (a tuple of them, in document order)."""

    groups: tuple[tuple[TypeAdapter[Any], Callable[[list[Any]], tuple[Any, ...]]], ...]

    def passes(self, values: list[Any]) -> bool:
        for adapter, pick in self.groups:
            try:
                adapter.validate_python(pick(values))
            except ValidationError:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Verdicts:
    """A verdict per document (None: accepted, or the model's errors); ``by_shape``
    when all were accepted by known shapes, their values (codes included) each passing
    its check."""

    errors: list[ValidationError | None]
    by_shape: bool


class ShapeCache:
    """``model.model_validate(data)`` as a yes-or-raise, remembered per shape."""

    def __init__(self, max_shapes: int = MAX_SHAPES) -> None:
        self._max = max_shapes
        self._known: OrderedDict[tuple[type, Hashable], _Checks] = OrderedDict()
        self._lock = Lock()

    def validate(self, model: Any, data: Any) -> None:
        """Return when ``model`` accepts ``data``; raise its ValidationError otherwise."""
        values: list[Any] = []
        try:
            key = (model, _shape(data, values))
        except (_UnknownShapeError, RecursionError):
            model.model_validate(data)
            return
        checks = self._known.get(key)
        if checks is not None and checks.passes(values):
            self._touch(key)
            return
        model.model_validate(data)  # raises what is wrong
        if checks is None:
            self._learn(key, model, data, values)

    def validate_all(self, documents: Sequence[tuple[Any, Any]]) -> Verdicts:
        """Each document's verdict (None: accepted), as :meth:`validate` gives it; when
        every shape is known, the values of all of them are checked together, one call
        per FHIR type (and the verdicts say so: every code is then one its required
        binding allows)."""
        merged: dict[TypeAdapter[Any], list[Any]] = {}
        keys = []
        for model, data in documents:
            values: list[Any] = []
            try:
                key = (model, _shape(data, values))
            except (_UnknownShapeError, RecursionError):
                break
            checks = self._known.get(key)
            if checks is None:
                break
            keys.append(key)
            for adapter, pick in checks.groups:
                merged.setdefault(adapter, []).extend(pick(values))
        else:
            try:
                for adapter, batch in merged.items():
                    adapter.validate_python(batch)
            except ValidationError:
                pass
            else:
                for key in keys:
                    self._touch(key)
                return Verdicts([None] * len(documents), by_shape=True)
        verdicts = Verdicts([], by_shape=False)
        for model, data in documents:
            try:
                self.validate(model, data)
            except ValidationError as exc:
                verdicts.errors.append(exc)
            else:
                verdicts.errors.append(None)
        return verdicts

    def __len__(self) -> int:
        return len(self._known)

    def _touch(self, key: tuple[type, Hashable]) -> None:
        """Mark a shape as just used (one call under the GIL: no lock needed)."""
        with suppress(KeyError):  # forgotten meanwhile by another thread
            self._known.move_to_end(key)

    def _learn(self, key: tuple[type, Hashable], model: Any, data: Any, values: list[Any]) -> None:
        kinds: list[Any] = []
        try:
            _types_of_model(model, data, kinds)
            checks = _checks(kinds)
        except (_UnknownShapeError, RecursionError, TypeError):
            return
        if len(kinds) != len(values):  # the two walks disagree: do not guess
            return
        with self._lock:
            self._known[key] = checks
            while len(self._known) > self._max:
                self._known.popitem(last=False)


def _shape(value: Any, values: list[Any]) -> Hashable:
    """The document's shape as a flat tuple, its primitive values appended to
    ``values`` in document order."""
    tokens: list[Any] = []
    _walk(value, tokens, values)
    return tuple(tokens)


# Tokens of a shape: keys and ``resourceType`` values are strings, everything else a
# small int, so that no key can pass for a marker.
_OBJECT, _END_OBJECT, _LIST, _END_LIST, _STRING, _INT, _FLOAT, _BOOL, _NULL = range(9)
_SCALARS = {str: _STRING, int: _INT, float: _FLOAT, bool: _BOOL}


def _walk(value: Any, tokens: list[Any], values: list[Any]) -> None:
    kind = type(value)
    if kind is dict:
        add, keep = tokens.append, values.append
        add(_OBJECT)
        for key, item in value.items():
            if type(item) is not str:
                add(key)
                _walk(item, tokens, values)
            elif key == "resourceType":
                tokens += (key, item)
            else:
                tokens += (key, _STRING)
                keep(item)
        add(_END_OBJECT)
    elif kind is list:
        tokens.append(_LIST)
        for item in value:
            _walk(item, tokens, values)
        tokens.append(_END_LIST)
    elif value is None:
        tokens.append(_NULL)
    else:
        marker = _SCALARS.get(kind)
        if marker is None:
            raise _UnknownShapeError(kind.__name__)
        tokens.append(marker)
        values.append(value)


@cache
def _fields(model: Any) -> dict[str, Any]:
    """A model's fields by the keys that name them in a document (alias, or name). A
    code with a required binding (``fhir.bindings``) is checked as one of its codes,
    which the models do not do: a shape's values pass only when its codes are allowed."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        codes = required_codes(info)
        annotation = info.annotation if codes is None else _bound(info.annotation, codes)
        out[name] = annotation
        if info.alias:
            out[info.alias] = annotation
    return out


def _bound(annotation: Any, codes: frozenset[str]) -> Any:
    """The field's type with its codes as the only values (a list stays a list)."""
    allowed: Any = Literal[tuple(sorted(codes))]
    try:
        is_list = typing.get_origin(_optional(annotation)) is list
    except _UnknownShapeError:  # a union of types: left to the model
        return annotation
    return types.GenericAlias(list, (allowed,)) if is_list else allowed


@cache
def _resource_model(base: Any, resource_type: str) -> Any:
    """The model a generic ``Resource`` element takes for ``resourceType`` (as fhir_core
    picks it)."""
    module, _, name = FHIR_TYPES_MAPS[base._prefix + resource_type + "Type"].rpartition(".")
    return getattr(import_module(module), name)


def _types_of_model(model: Any, data: Any, kinds: list[Any]) -> None:
    if type(data) is not dict:
        raise _UnknownShapeError("not an object")
    fields = _fields(model)
    for key, item in data.items():
        if key == "resourceType" and type(item) is str:
            continue  # in the shape itself
        if key not in fields:
            raise _UnknownShapeError(key)
        _types_of_field(fields[key], item, kinds)


def _optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise _UnknownShapeError("a union")
        return args[0]
    return annotation


def _types_of_field(annotation: Any, item: Any, kinds: list[Any]) -> None:
    if item is None:
        return
    inner = _optional(annotation)
    if typing.get_origin(inner) is list:
        if type(item) is not list:
            raise _UnknownShapeError("not a list")
        (element,) = typing.get_args(inner)
        for one in item:
            _types_of_one(element, one, kinds)
    else:
        _types_of_one(inner, item, kinds)


def _types_of_one(annotation: Any, item: Any, kinds: list[Any]) -> None:
    if item is None:
        return
    kind = _optional(annotation)
    if isinstance(kind, type) and issubclass(kind, FhirBase):
        if type(item) is not dict:
            raise _UnknownShapeError("not an object")
        if issubclass(kind, FhirElementOrResourceBase) and "resourceType" in item:
            if type(item["resourceType"]) is not str:
                raise _UnknownShapeError("resourceType")
            model = _resource_model(kind, item["resourceType"])
        else:
            model = kind.get_model_klass()
        _types_of_model(model, item, kinds)
        return
    if type(item) in (dict, list):
        raise _UnknownShapeError("a primitive as an object")
    kinds.append(annotation)


@cache
def _adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(list[annotation])


def _checks(kinds: list[Any]) -> _Checks:
    positions: dict[Any, list[int]] = {}
    for index, annotation in enumerate(kinds):
        positions.setdefault(annotation, []).append(index)
    return _Checks(tuple((_adapter(a), _picker(p)) for a, p in positions.items()))


def _picker(positions: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    if len(positions) == 1:
        (only,) = positions
        return lambda values: (values[only],)
    return itemgetter(*positions)


#: The process's cache, shared by the intake (bundles read) and the answers (resources
#: written).
SHAPES = ShapeCache()
