"""Bulk-file rules: how a CSV row becomes the JSON API's referral, how a refusal is named,
how big a batch is. Pure: no database, no HTTP.

A CSV's header names are the JSON API's field names, nested fields flattened with dots
and list positions as numbers (``member.first_name``, ``items.0.code``), so a refused
row's field reads the same as the API's 422 would name it. NDJSON rows are the API's
JSON, one referral a line.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

#: Rows per batch; a batch is one transaction (stored whole or not at all) and one
#: progress step. Large enough that each table gets few statements per batch.
BATCH_ROWS = 2_000

#: A running job whose worker has not written for this long was interrupted (a restart):
#: another worker resumes it after its last stored batch.
STALE_AFTER = timedelta(minutes=5)

#: The largest file the API takes (the command line reads any size from disk).
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

#: Where a problem concerns the row as a whole rather than one field.
ROW = "row"

_INDEX = re.compile(r"^\d+$")

#: Pydantic's error types, as the rules a file's sender reads in the error file.
_RULES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "enum": "unknown_code",
    "literal_error": "unknown_code",
    "int_parsing": "whole_number",
    "int_type": "whole_number",
    "int_from_float": "whole_number",
    "bool_parsing": "true_or_false",
    "bool_type": "true_or_false",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "too_long": "too_many",
    "too_short": "too_few",
    "string_type": "text",
    "dict_type": "object",
    "model_type": "object",
    "list_type": "list",
    "value_error": "invalid_value",
}


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why a row was refused: its line in the file, the field and the rule."""

    line: int
    field: str
    rule: str
    message: str


def rule_of(error_type: str) -> str:
    """The rule a validation error names (dates: ``date``; unknown types: their own)."""
    if error_type.startswith(("date", "datetime", "time")):
        return "date"
    return _RULES.get(error_type, error_type)


def message_of(message: str) -> str:
    return message.removeprefix("Value error, ")[:500]


def field_of(loc: tuple[int | str, ...]) -> str:
    """A dotted field path (``items.0.code``), as the JSON API names fields."""
    return ".".join(str(part) for part in loc) or ROW


def column_pattern(column: str) -> str:
    """A column's name with list positions as ``*`` (``items.*.code``)."""
    return ".".join("*" if _INDEX.match(part) else part for part in column.split("."))


def unknown_columns(columns: list[str], known: set[str]) -> list[str]:
    """The header names that name no field of the referral (given as patterns)."""
    return [c for c in columns if column_pattern(c.strip()) not in known]


def coerce(cell: str, kind: str | None) -> Any:
    """A CSV cell as its JSON value: whole numbers and true/false for the fields that are
    numbers and yes/no answers; anything else stays text (and the model refuses it)."""
    if kind == "integer" and re.fullmatch(r"[+-]?\d{1,12}", cell.strip()):
        return int(cell)
    if kind == "boolean":
        folded = cell.strip().lower()
        if folded in ("true", "yes", "1"):
            return True
        if folded in ("false", "no", "0"):
            return False
    return cell


def unflatten(cells: dict[str, str], kinds: dict[str, str]) -> dict[str, Any]:
    """A CSV row (column -> cell) as the nested JSON object the API takes. Empty cells
    are left out; a list is as long as its highest position given, a position left
    empty between two given ones is an empty object (the model then names its fields)."""
    root: dict[str, Any] = {}
    for column, cell in cells.items():
        if cell is None or cell == "":
            continue
        parts = column.strip().split(".")
        node: Any = root
        for part, following in itertools.pairwise(parts):
            child_is_list = bool(_INDEX.match(following))
            node = _step(node, part, [] if child_is_list else {})
        _put(node, parts[-1], coerce(cell, kinds.get(column_pattern(column.strip()))))
    filled: dict[str, Any] = _fill(root)
    return filled


def _step(node: Any, part: str, empty: Any) -> Any:
    if isinstance(node, list):
        index = int(part)
        while len(node) <= index:
            node.append(None)
        if node[index] is None:
            node[index] = empty
        return node[index]
    return node.setdefault(part, empty)


def _put(node: Any, part: str, value: Any) -> None:
    if isinstance(node, list):
        index = int(part)
        while len(node) <= index:
            node.append(None)
        node[index] = value
    else:
        node[part] = value


def _fill(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v) for k, v in value.items()}
    if isinstance(value, list):
        objects = any(isinstance(v, dict) for v in value)
        if objects:
            return [_fill(v) if v is not None else {} for v in value]
        return [v for v in value if v is not None]
    return value


def percent_done(lines_done: int, total_lines: int | None, *, finished: bool) -> int:
    """How far a job is, in whole percent (100 only once it has finished)."""
    if finished:
        return 100
    if not total_lines:
        return 0
    return min(99, lines_done * 100 // total_lines)
