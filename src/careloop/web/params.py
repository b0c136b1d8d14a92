"""Path and query parameters are text like any other: refused (422, naming the
parameter) when they hold a control character, a bidirectional control, a zero-width
character or an unpaired surrogate, before any route reads them or any query runs.

Installed once for the whole app (``FastAPI(dependencies=...)``): every route, API and
portal, gets it without declaring it. :class:`Declared` is a parameter a busy route
reads itself."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from careloop.core.errors import FieldError, RuleViolationError
from careloop.core.text import line_problem


class UncleanParameterError(RuleViolationError):
    code = "invalid_parameter"
    title = "A parameter holds characters no text may hold"


def parameter_errors(request: Request) -> list[FieldError]:
    """The path and query parameters that break the text rules of ``core.text``."""
    errors: list[FieldError] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (problem := line_problem(value)):
            errors.append(FieldError(name, problem))
    for key, value in request.query_params.multi_items():
        if problem := line_problem(key):
            errors.append(FieldError("query", f"a parameter's name {problem}"))
        elif problem := line_problem(value):
            errors.append(FieldError(key, problem))
    return errors


async def refuse_unclean_parameters(request: Request) -> None:
    """Async on purpose: a plain function would cost every request a trip to the thread
    pool and back before its route runs (it only reads the parameters)."""
    errors = parameter_errors(request)
    if errors:
        raise UncleanParameterError(
            f"{len(errors)} parameter(s) are invalid; nothing was read or stored.",
            errors=errors,
        )


@dataclass(frozen=True)
class Declared:
    """A query or header parameter that a route reads itself, instead of declaring it in
    its signature: FastAPI resolves declared parameters at every request, 46 µs for the
    intake route's two (a twentieth of an accepted referral's CPU). Read by the same
    pydantic rules and refused with the same 422 as a declared parameter; documented in
    the route's ``openapi_extra`` by :meth:`openapi`."""

    where: Literal["query", "header"]
    name: str
    kind: Any
    default: Any = None
    description: str | None = None

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.kind)

    def openapi(self) -> dict[str, Any]:
        schema = self._adapter.json_schema()
        if self.default is not None:
            schema["default"] = self.default
        title = self.name if self.where == "header" else self.name.replace("_", " ").title()
        schema["title"] = title
        out: dict[str, Any] = {"name": self.name, "in": self.where, "required": False}
        if self.description:
            schema["description"] = self.description
            out["description"] = self.description
        out["schema"] = schema
        return out


def read_declared(request: Request, *params: Declared) -> tuple[Any, ...]:
    """Each parameter's value (its default when absent), or one 422 naming every bad one."""
    values: list[Any] = []
    errors: list[Any] = []
    for param in params:
        source = request.query_params if param.where == "query" else request.headers
        raw = source.get(param.name)
        if raw is None:
            values.append(param.default)
            continue
        try:
            values.append(param._adapter.validate_python(raw))
        except ValidationError as exc:
            errors.extend({**e, "loc": (param.where, param.name, *e["loc"])} for e in exc.errors())
    if errors:
        raise RequestValidationError(errors)
    return tuple(values)
