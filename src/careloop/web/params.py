"""Path and query parameters are text like any other: refused (422, naming the
parameter) when they hold a control character, a bidirectional control, a zero-width
character or an unpaired surrogate, before any route reads them or any query runs.

Installed once for the whole app (``FastAPI(dependencies=...)``): every route, API and
portal, gets it without declaring it."""

from __future__ import annotations

from fastapi import Request

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
