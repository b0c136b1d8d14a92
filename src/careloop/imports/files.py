"""Reading a bulk file: CSV or NDJSON rows, each checked as the JSON API checks a body
(text without control characters, then the referral model), into a referral draft or
the problems that refuse it."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import PurePath
from typing import IO, Any

import orjson
from pydantic import ValidationError

from careloop.core.errors import RuleViolationError
from careloop.core.text import block_problem, strings_in
from careloop.imports import rules
from careloop.imports.enums import FileFormat
from careloop.imports.rules import RowProblem
from careloop.referral.enums import Channel
from careloop.referral.schemas import ReferralCreate

#: A row as read: its line and its fields (or the problems that refuse it already).
RawRow = tuple[int, dict[str, Any] | RowProblem | list[RowProblem]]

_SUFFIXES = {
    ".csv": FileFormat.csv,
    ".ndjson": FileFormat.ndjson,
    ".jsonl": FileFormat.ndjson,
}


class UnreadableFileError(RuleViolationError):
    code = "import_file_unreadable"
    title = "The file cannot be read as referrals"


def format_of(file_name: str) -> FileFormat:
    """CSV or NDJSON, from the file's name (``.csv``; ``.ndjson`` or ``.jsonl``)."""
    found = _SUFFIXES.get(PurePath(file_name).suffix.lower())
    if found is None:
        raise UnreadableFileError(
            "Send the referrals as a .csv file (headers named like the API's fields) or "
            "an .ndjson file (one referral as JSON a line).",
            field="file",
        )
    return found


def count_lines(stream: IO[bytes]) -> int:
    """The data lines of a file (a progress bar's length; CSV cells spanning lines make
    it an estimate)."""
    count, last = 0, b"\n"
    while block := stream.read(1 << 20):
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


@cache
def field_kinds() -> dict[str, str]:
    """Every field of the referral, flattened (``items.*.quantity``), with its JSON type."""
    schema = ReferralCreate.model_json_schema()
    defs = schema.get("$defs", {})
    out: dict[str, str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        node = _resolve(node, defs)
        if node.get("type") == "object" and "properties" in node:
            for name, child in node["properties"].items():
                walk(child, f"{prefix}{name}.")
        elif node.get("type") == "array":
            walk(node.get("items", {}), f"{prefix}*.")
        else:
            out[prefix.rstrip(".")] = str(node.get("type", "string"))

    walk(schema, "")
    return out


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in node:
            node = next((n for n in node["anyOf"] if n.get("type") != "null"), {})
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = node["allOf"][0]
        else:
            return node


def read_rows(stream: IO[bytes], file_format: FileFormat) -> Iterator[RawRow]:
    """The rows of a file with their line numbers (the header is line 1 of a CSV)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")
    try:
        if file_format is FileFormat.csv:
            yield from _csv_rows(text)
        else:
            yield from _ndjson_rows(text)
    except UnicodeDecodeError:
        line = _first_line_not_utf8(stream)
        where = f": line {line} holds the first byte that is not UTF-8" if line else ""
        raise UnreadableFileError(f"The file is not UTF-8 text{where}.", field="file") from None
    except csv.Error as exc:
        raise UnreadableFileError(f"The CSV cannot be read: {exc}", field="file") from None
    finally:
        text.detach()


def _first_line_not_utf8(stream: IO[bytes]) -> int | None:
    """The line of the file's first byte that is not UTF-8, read again from the start
    (the text is decoded a block at a time, so the failing block does not say its line);
    None for a stream that cannot be read again."""
    if not stream.seekable():
        return None
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    while True:
        block = stream.read(1 << 20)
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            # exc.object is the block after the few bytes of a character the previous
            # block left unfinished, which hold no line break.
            return line + exc.object[: exc.start].count(b"\n")
        if not block:
            return None
        line += block.count(b"\n")


def _csv_rows(text: IO[str]) -> Iterator[RawRow]:
    # strict: a quote left open runs to the end of the file, and would otherwise take
    # every row after it into one cell without a word.
    reader = csv.reader(text, strict=True)
    header = next(reader, None)
    if not header:
        raise UnreadableFileError("The file is empty: the first line names the columns.")
    header = [name.strip() for name in header]
    kinds = field_kinds()
    unknown = rules.unknown_columns(header, set(kinds))
    if unknown:
        # A column without a name (a trailing comma, an empty column from a spreadsheet)
        # is named by its place: its empty name alone said nothing.
        names = ", ".join(
            name[:60] if name else f"column {header.index(name) + 1} (it has no name)"
            for name in unknown[:5]
        )
        raise UnreadableFileError(
            f"These columns name no field of a referral: {names}. Columns are the API's "
            "field names, nested ones with dots (member.first_name, items.0.code).",
            field="file",
        )
    if len(set(header)) != len(header):
        raise UnreadableFileError("A column is named twice in the header.", field="file")
    width = len(header)
    shape = rules.RowShape(header, kinds)
    for line, cells in _records(reader):
        if isinstance(cells, RowProblem):
            yield line, cells
            continue
        if not any(cells):
            continue
        if len(cells) != width:
            yield (
                line,
                RowProblem(
                    line,
                    rules.ROW,
                    "column_count",
                    f"The row has {len(cells)} cells; the header names {width} columns.",
                ),
            )
            continue
        problems = _unclean_cells(line, header, cells)
        yield line, problems or shape.build(cells)


def _records(reader: Any) -> Iterator[tuple[int, list[str] | RowProblem]]:
    """Each record with the line it starts on (a quoted cell may span lines), or the
    problem that makes it no CSV record; the reader goes on at the next line."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, RowProblem(line, rules.ROW, "csv_syntax", _csv_problem(str(exc)))
            continue
        yield line, cells


def _csv_problem(error: str) -> str:
    """The csv module's complaint in plain words."""
    if "unexpected end of data" in error:
        return (
            "A quoted cell opened on this row is never closed: every line after it would "
            "be read into that one cell."
        )
    if "field larger than field limit" in error:
        return (
            f"A cell is longer than {csv.field_size_limit():,} characters, the most one may hold."
        )
    return f"The row is not well-formed CSV ({error}); a quote must close its cell."


def _unclean_cells(line: int, header: list[str], cells: list[str]) -> list[RowProblem]:
    """Control characters in a CSV row, each named by its column (the field's path):
    one pass over the whole row first, the cells only when it finds one."""
    if block_problem("\n".join(cells)) is None:
        return []
    return [
        RowProblem(line, name, "control_characters", problem)
        for name, cell in zip(header, cells, strict=True)
        if (problem := block_problem(cell))
    ]


def _ndjson_rows(text: Iterable[str]) -> Iterator[RawRow]:
    for line, raw in enumerate(text, start=1):
        if not raw.strip():
            continue
        try:
            value = _json_line(raw)
        except _RepeatedKeyError as exc:
            # As the JSON API answers 400: which of the two was meant is unknown.
            message = f"{exc.path.rpartition('.')[2]} is written twice in one object; send it once."
            yield line, RowProblem(line, exc.path, "duplicate_key", message)
            continue
        except (ValueError, RecursionError) as exc:
            yield line, RowProblem(line, rules.ROW, "malformed_json", f"Not JSON: {str(exc)[:120]}")
            continue
        if not isinstance(value, dict):
            yield line, RowProblem(line, rules.ROW, "object", "Each line holds one JSON object.")
            continue
        yield line, value


class _RepeatedKeyError(ValueError):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


#: A key of a JSON text with no backslash: a string, then a colon.
_KEY = re.compile(r'"[^"]*"\s*:')
#: Marks, in an object read by :func:`_marking_repeats`, the key it writes twice.
_REPEATED = object()


def _json_line(raw: str) -> Any:
    """One NDJSON line, read as the JSON API reads a body: NaN and Infinity are no
    numbers, and a key written twice in one object refuses it (naming the field),
    since which of the two was meant is unknown. The keys are counted from the text
    when it has no backslash (every string is then written as it is); otherwise, or
    when they differ, the line is read again keeping each pair, to find where."""
    value = json.loads(raw, parse_constant=_no_constant)
    if "\\" not in raw and len(_KEY.findall(raw)) == _keys_in(value):
        return value
    path = _repeated_path(
        json.loads(raw, object_pairs_hook=_marking_repeats, parse_constant=_no_constant)
    )
    if path is not None:
        raise _RepeatedKeyError(path)
    return value


def _keys_in(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            count += len(node)
            stack.extend(node.values())
        elif type(node) is list:
            stack.extend(node)
    return count


def _marking_repeats(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, value in pairs:
        if key in out:
            out[_REPEATED] = key
        out[key] = value
    return out


def _repeated_path(value: Any) -> str | None:
    """The field path (``member.first_name``, ``items.0.code``) of the first key found
    written twice, or None."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            if _REPEATED in node:
                return f"{path}{node[_REPEATED]}"
            stack.extend((f"{path}{k}.", v) for k, v in node.items() if isinstance(k, str))
        elif isinstance(node, list):
            stack.extend((f"{path}{n}.", v) for n, v in enumerate(node))
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_row(
    line: int, fields: dict[str, Any], *, text_checked: bool = False
) -> ReferralCreate | list[RowProblem]:
    """A row as the JSON API checks a body: every string free of control characters,
    then the referral model (strict types, known fields, dates in range). A file's row
    must carry its ``external_id``, the key that makes a re-run create nothing new;
    its channel is ``batch`` unless it says otherwise. ``text_checked``: a CSV row's
    cells were checked as they were read."""
    if not text_checked:
        problems = [
            RowProblem(line, field, "control_characters", problem)
            for field, value in strings_in(fields)
            if (problem := block_problem(value))
        ]
        if problems:
            return _first_per_field(problems)
    if not fields.get("external_id"):
        return [
            RowProblem(
                line,
                "external_id",
                "required",
                "Each row needs its external id (your order's id): it keeps a file sent "
                "twice from creating the cases twice.",
            )
        ]
    fields.setdefault("channel", Channel.batch.value)
    try:
        return ReferralCreate.model_validate_json(_as_json(fields, text_checked=text_checked))
    except ValidationError as exc:
        return [
            RowProblem(
                line,
                rules.field_of(tuple(err["loc"])),
                rules.rule_of(err["type"]),
                rules.message_of(err["msg"]),
            )
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]


def _as_json(fields: dict[str, Any], *, text_checked: bool) -> bytes | str:
    """The row as the JSON body the API would take. A CSV row holds only text, whole
    numbers and true/false, which orjson writes as json does, much faster; a JSON line
    is written back with json (its numbers may be beyond 64 bits, or NaN)."""
    if text_checked:
        return orjson.dumps(fields)
    return json.dumps(fields)


def _first_per_field(problems: list[RowProblem]) -> list[RowProblem]:
    seen: set[str] = set()
    out = []
    for problem in problems:
        if problem.field not in seen:
            seen.add(problem.field)
            out.append(problem)
    return out


def errors_csv(rows: Iterable[tuple[int, str, str, str]]) -> Iterator[str]:
    """The error file: one line per refused field (line, field, rule, message)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", "field", "rule", "message"])
    yield _drain(buffer)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 1 << 16:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return value
