"""Bulk-file rules: how a CSV row becomes the JSON API's referral, how a refusal is named,
how big a batch is. Pure: no database, no HTTP.

A CSV's header names are the JSON API's field names, nested fields flattened with dots
and list positions as numbers (``member.first_name``, ``items.0.code``), so a refused
row's field reads the same as the API's 422 would name it. NDJSON rows are the API's
JSON, one referral a line.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

#: Rows per batch; a batch is one transaction (stored whole or not at all) and one
#: progress step. Large enough that each table gets few statements per batch.
BATCH_ROWS = 2_000

#: Worker processes that store a large file's batches side by side (PostgreSQL only),
#: and from how many lines left a file is large enough to be worth starting them (each
#: loads the code sets, a few seconds).
PROCESSES = 2
SIDE_BY_SIDE_FROM_LINES = 100_000

#: A running job whose worker has not written for this long was interrupted (a restart):
#: another worker resumes it after its last stored batch.
STALE_AFTER = timedelta(minutes=5)

#: The largest file the API takes (the command line reads any size from disk).
MAX_UPLOAD_BYTES = 64 * 1024 * 1024

#: Where a problem concerns the row as a whole rather than one field.
ROW = "row"

_INDEX = re.compile(r"^\d+$")
_WHOLE = re.compile(r"[+-]?\d{1,12}")

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
    if kind == "integer" and _WHOLE.fullmatch(cell.strip()):
        return int(cell)
    if kind == "boolean":
        folded = cell.strip().lower()
        if folded in ("true", "yes", "1"):
            return True
        if folded in ("false", "no", "0"):
            return False
    return cell


class RowShape:
    """How the cells of a CSV row become the nested JSON object the API takes, worked
    out once from the header: each column's path (``items.0.code`` -> items, 0, code)
    and the JSON type of its field.

    The object's shape depends only on which cells are empty, and a file's rows mostly
    leave the same ones empty: the shape is worked out once per such pattern (by
    :meth:`build_slowly` on the cells' places) and each row fills it in."""

    #: Patterns of empty cells remembered per file; a file with more builds the rest slowly.
    MAX_PATTERNS = 512

    def __init__(self, header: list[str], kinds: dict[str, str]) -> None:
        self.columns = [
            (
                index,
                tuple(int(p) if _INDEX.match(p) else p for p in name.strip().split(".")),
                kinds.get(column_pattern(name.strip())),
            )
            for index, name in enumerate(header)
        ]
        self._fillers: dict[tuple[bool, ...], Callable[[list[str]], Any]] = {}

    def build(self, cells: list[str]) -> dict[str, Any]:
        """A row as JSON. Empty cells are left out; a list is as long as its highest
        position given, a position left empty between two given ones is an empty
        object (the model then names its fields)."""
        given = tuple(map(bool, cells))
        filler = self._fillers.get(given)
        if filler is None:
            if len(self._fillers) >= self.MAX_PATTERNS:
                return self.build_slowly(cells)
            places = [_Cell(i, kind) if cells[i] else "" for i, _, kind in self.columns]
            filler = self._fillers[given] = _filler(self.build_slowly(places))
        built: dict[str, Any] = filler(cells)
        return built

    def build_slowly(self, cells: Sequence[Any]) -> dict[str, Any]:
        """:meth:`build`, column by column."""
        root: dict[Any, Any] = {}
        for index, path, kind in self.columns:
            cell = cells[index]
            if not cell:
                continue
            node = root
            for part in path[:-1]:
                child = node.get(part)
                if child is None:
                    child = node[part] = {}
                node = child
            if isinstance(cell, _Cell):
                node[path[-1]] = cell
            else:
                node[path[-1]] = coerce(cell, kind) if kind in ("integer", "boolean") else cell
        built: dict[str, Any] = _lists(root)
        return built


@dataclass(frozen=True, slots=True)
class _Cell:
    """Where a cell goes in a row's shape: its column and the JSON type of its field."""

    index: int
    kind: str | None


def _filler(node: Any) -> Callable[[list[str]], Any]:
    """A function that builds ``node`` (a shape of :class:`_Cell` places) from a row: the
    text cells of an object or list are taken with one ``itemgetter``, the nested ones
    and the numbers and yes/no answers are built and put at their places."""
    if isinstance(node, _Cell):
        index, kind = node.index, node.kind
        if kind in ("integer", "boolean"):
            return lambda cells: coerce(cells[index], kind)
        return operator.itemgetter(index)
    places = list(node) if isinstance(node, dict) else list(range(len(node)))
    children = list(node.values()) if isinstance(node, dict) else list(node)
    text = [(place, c.index) for place, c in zip(places, children, strict=True) if _is_text(c)]
    built = [
        (place, _filler(c)) for place, c in zip(places, children, strict=True) if not _is_text(c)
    ]
    text_places = [place for place, _ in text]
    pick = _picker([index for _, index in text])
    if isinstance(node, dict):
        # The keys in the shape's order first, then the values (as a row's JSON reads).

        def fill_object(cells: list[str]) -> dict[Any, Any]:
            out = dict.fromkeys(places)
            out.update(zip(text_places, pick(cells), strict=True))
            for key, part in built:
                out[key] = part(cells)
            return out

        return fill_object
    if not built:
        return lambda cells: list(pick(cells))
    if not text:
        parts = [part for _, part in built]
        return lambda cells: [part(cells) for part in parts]

    def fill_list(cells: list[str]) -> list[Any]:
        out: list[Any] = [None] * len(places)
        for place, value in zip(text_places, pick(cells), strict=True):
            out[place] = value
        for place, part in built:
            out[place] = part(cells)
        return out

    return fill_list


def _is_text(node: Any) -> bool:
    return isinstance(node, _Cell) and node.kind not in ("integer", "boolean")


def _picker(places: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """The values at ``places``, always as a tuple (``itemgetter`` of one is no tuple)."""
    if len(places) == 1:
        place = places[0]
        return lambda cells: (cells[place],)
    if not places:
        return lambda _cells: ()
    return operator.itemgetter(*places)


def _lists(node: dict[Any, Any]) -> Any:
    """Nodes keyed by positions become lists (objects filled with {} where a position
    was left out; plain values just dropped)."""
    if node and all(isinstance(key, int) for key in node):
        values = [node.get(i) for i in range(max(node) + 1)]
        if any(isinstance(v, dict) for v in values):
            return [_lists(v) if isinstance(v, dict) else {} for v in values]
        return [v for v in values if v is not None]
    return {k: _lists(v) if isinstance(v, dict) else v for k, v in node.items()}


def repeats(keys: Sequence[tuple[int, str]], seen: dict[str, int]) -> list[RowProblem]:
    """The good rows whose external id a line before them in the file already carries
    (the first keeps it): ``keys`` are (line, external id) in file order, ``seen`` the
    ids met so far in the file with their line, kept up to date."""
    out = []
    for line, key in keys:
        first = seen.setdefault(key, line)
        if first != line:
            out.append(
                RowProblem(
                    line,
                    "external_id",
                    "repeated",
                    f"Line {first} of this file has the same external id.",
                )
            )
    return out


def side_by_side(dialect: str, processes: int, lines_left: int | None, *, from_lines: int) -> bool:
    """Whether a job's batches are stored by worker processes side by side: on
    PostgreSQL, with two or more, for a file with at least ``from_lines`` lines left."""
    return (
        dialect == "postgresql"
        and processes >= 2
        and lines_left is not None
        and lines_left >= from_lines
    )


def percent_done(lines_done: int, total_lines: int | None, *, finished: bool) -> int:
    """How far a job is, in whole percent (100 only once it has finished)."""
    if finished:
        return 100
    if not total_lines:
        return 0
    return min(99, lines_done * 100 // total_lines)
