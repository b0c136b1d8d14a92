"""Every field a caller can send is checked by the central rules: each string by a text
type of core.text, each date and time by a range type of core.dates. A new request model
with a bare ``str`` or ``date`` fails here, not in production."""

from __future__ import annotations

import types
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import AfterValidator, BaseModel

from careloop.core.text import clean_block, clean_line
from careloop.matching import api as matching_api
from careloop.network import api as network_api
from careloop.prior_auth import api as prior_auth_api
from careloop.referral import api as referral_api
from careloop.scheduling import api as scheduling_api

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    *referral_api.REQUEST_MODELS,
    *network_api.REQUEST_MODELS,
    *matching_api.REQUEST_MODELS,
    *prior_auth_api.REQUEST_MODELS,
    *scheduling_api.REQUEST_MODELS,
)
#: Birth dates stay judged by the intake checklist (a finding naming the payer's age
#: limit), as issue 9 asks; every other date is a range type.
UNRANGED_DATES = {"MemberIn.birth_date", "MemberPatch.birth_date"}


def _leaves(annotation: Any, where: str, metadata: tuple[Any, ...] = ()) -> Iterator[Any]:
    """(where, base type, metadata) of every scalar a field may hold."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        yield from _leaves(base, where, (*metadata, *meta))
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset):
        for arg in get_args(annotation):
            yield from _leaves(arg, where, metadata)
    elif origin is Literal or annotation is type(None):
        return
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            hint = info.rebuild_annotation()
            yield from _leaves(hint, f"{annotation.__name__}.{name}", ())
    else:
        yield where, annotation, metadata


def _validators(metadata: tuple[Any, ...]) -> set[Any]:
    return {m.func for m in metadata if isinstance(m, AfterValidator)}


def _fields() -> list[tuple[str, Any, tuple[Any, ...]]]:
    return [leaf for model in REQUEST_MODELS for leaf in _leaves(model, model.__name__)]


def test_the_walk_finds_the_fields() -> None:
    names = {where for where, _, _ in _fields()}
    assert {"MemberIn.first_name", "ScheduleIn.window_start", "CancelIn.reason"} <= names


@pytest.mark.parametrize(
    "where,metadata",
    [pytest.param(where, meta, id=where) for where, base, meta in _fields() if base is str],
)
def test_every_string_field_is_a_core_text_type(where: str, metadata: tuple[Any, ...]) -> None:
    assert _validators(metadata) & {clean_line, clean_block}, where


@pytest.mark.parametrize(
    "where,metadata",
    [
        pytest.param(where, meta, id=where)
        for where, base, meta in _fields()
        if base in (date, datetime) or getattr(base, "__name__", "") == "AwareDatetime"
    ],
)
def test_every_date_field_has_a_plausible_range(where: str, metadata: tuple[Any, ...]) -> None:
    checks = {f for f in _validators(metadata) if f.__module__ == "careloop.core.dates"}
    assert bool(checks) != (where in UNRANGED_DATES), where
