"""Strict JSON bodies: the right media type, well-formed, no duplicate keys, bounded
depth, then pydantic validation with every field error listed."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError

from careloop.core.errors import DomainError, FieldError, RuleViolationError
from careloop.core.text import block_problem, strings_in
from careloop.settings import Settings
from careloop.web.problems import field_errors


class MalformedJsonError(DomainError):
    code = "malformed_json"
    status = 400
    title = "The body is not valid JSON"


class UnsupportedMediaTypeError(DomainError):
    code = "unsupported_media_type"
    status = 415
    title = "Send the body as application/json"


class PayloadTooLargeError(DomainError):
    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a parsed JSON document nests objects and arrays deeper than ``limit``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def keys_written_once(body: bytes, parsed: Any) -> bool:
    """Whether no object of the JSON text ``body`` (``parsed`` is its reading) writes a
    key twice: counted from the text when it has no backslash (every string is then
    written as it is, as in :func:`_plainly_valid`), else read again keeping each pair."""
    if b"\\" not in body and _keys_and_depth(body, parsed, None):
        return True
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError:
        return False
    return True


def plainly_within(body: bytes, parsed: Any, max_depth: int) -> bool:
    """True when the JSON text ``body`` (``parsed`` is its reading) has no backslash,
    writes no key twice in one object and nests no deeper than ``max_depth``, found
    from the text and orjson's writing of ``parsed``; False when it cannot tell (then
    :func:`depth_exceeds` and :func:`keys_written_once` say which)."""
    return b"\\" not in body and _keys_and_depth(body, parsed, max_depth)


def _keys_and_depth(body: bytes, parsed: Any, max_depth: int | None) -> bool:
    """With no backslash in ``body``: True when no object writes a key twice and, given
    ``max_depth``, nothing nests deeper; False when it cannot tell.

    The document is written again by orjson, indented by two spaces a level. In both
    texts every string is as it is in the body (with no backslash, none needed escaping)
    and every key is followed by one colon, so the texts hold as many colons exactly
    when no object lost a key written twice. In the writing, each member of a container
    at depth d is on a line of its own indented by 2d spaces: no line indented by
    ``2 * max_depth`` means nothing nests deeper."""
    try:
        again = orjson.dumps(parsed, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:
        return False
    if max_depth is not None and b"\n" + b" " * (2 * max_depth) in again:
        return False
    return body.count(b":") == again.count(b":")


def check_content_type(content_type: str | None) -> None:
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json, not {media or 'missing'}"
        )


M = TypeVar("M", bound=BaseModel)


def parse_model(body: bytes, model: type[M], *, content_type: str | None, max_depth: int) -> M:
    """Parse and validate a JSON request body into ``model``; raise a DomainError
    (400 malformed, 415 media type, 422 with every field error) otherwise."""
    check_content_type(content_type)
    if not body.strip():
        raise MalformedJsonError("The request body is empty; send the referral as JSON.")
    if not _plainly_valid(body, max_depth):
        _check_slowly(body, max_depth)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = field_errors(list(exc.errors(include_url=False, include_input=False)))
        raise RuleViolationError(
            f"{len(errors)} field(s) are invalid; nothing was stored.", errors=errors
        ) from None


def _plainly_valid(body: bytes, max_depth: int) -> bool:
    """True when the body passes every check of :func:`_check_slowly`, found the fast
    way (orjson, then the text); False when it cannot tell, and the slow checks give the
    answer and its message. With no backslash in the text every string is written as it
    is, so a forbidden character of any key or value is in the text itself, and the keys
    can be counted from the text (:func:`_keys_and_depth`)."""
    if b"\\" in body:
        return False
    try:
        parsed = orjson.loads(body)
        text = body.decode()
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        return False
    if block_problem(text) is not None:
        return False
    return _keys_and_depth(body, parsed, max_depth)


def _check_slowly(body: bytes, max_depth: int) -> None:
    """Refuse a body that is not JSON, holds a key twice in one object, NaN or Infinity,
    nests deeper than ``max_depth``, or holds forbidden characters, each with its message."""
    try:
        parsed = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _DuplicateKeyError as exc:
        raise MalformedJsonError(
            f"The key {str(exc)[:60]!r} appears twice in one object."
        ) from None
    except RecursionError:
        raise MalformedJsonError(f"The JSON is nested deeper than {max_depth} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJsonError(f"The body is not valid JSON: {str(exc)[:120]}") from None
    if depth_exceeds(parsed, max_depth):
        raise MalformedJsonError(f"The JSON is nested deeper than {max_depth} levels.")
    refuse_unclean_text(parsed)


def refuse_unclean_text(parsed: Any) -> None:
    """Refuse, naming each field, any string of the document (key or value) that holds
    what no text may: NUL and other control characters but newline and tab, unpaired
    surrogates (``\\ud800`` escapes), bidirectional controls. It runs before the model,
    so it also covers a field whose type forgot its text rule; names and identifiers
    are checked further (zero-width characters) by their types in ``core.text``."""
    errors: list[FieldError] = []
    for field, value in strings_in(parsed):
        problem = block_problem(value)
        if problem and all(e.field != field for e in errors):
            errors.append(FieldError(field, problem))
    if errors:
        raise RuleViolationError(
            f"{len(errors)} field(s) are invalid; nothing was stored.", errors=errors
        )


def parse_request_body(request: Request, raw: bytes, model: type[M]) -> M:
    """:func:`parse_model` with the request's media type and the app's depth limit."""
    settings: Settings = request.app.state.settings
    return parse_model(
        raw,
        model,
        content_type=request.headers.get("content-type"),
        max_depth=settings.max_json_depth,
    )
