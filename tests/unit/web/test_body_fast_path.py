"""The fast check of a JSON body (orjson and the text) agrees with the slow one: what it
passes, the slow checks pass too, and what the slow checks refuse it never passes."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.core.errors import DomainError
from careloop.web.body import (
    _check_slowly,
    _no_duplicates,
    _plainly_valid,
    depth_exceeds,
    keys_written_once,
    plainly_within,
)

_TEXT = st.text(
    alphabet=st.sampled_from(list('ab :,"{}[]\\\x00\x08\n\t\u202e\u200b\ufeffé')), max_size=6
)
# JSON text fragments, so that an object may write a key twice at any depth.
_JSON = st.recursive(
    (st.none() | st.booleans() | st.integers() | _TEXT).map(json.dumps)
    | _TEXT.map(lambda t: json.dumps(t, ensure_ascii=False))
    | st.sampled_from(["NaN", "1e999", "Infinity"]),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
        | st.lists(
            st.tuples(_TEXT, st.sampled_from([":", " :", ": ", "\n:\t"]), inner), max_size=3
        ).map(
            lambda pairs: (
                "{" + " , ".join(f"{json.dumps(k)}{colon}{v}" for k, colon, v in pairs) + "}"
            )
        )
    ),
    max_leaves=8,
)


def _slow_passes(body: bytes, depth: int) -> bool:
    try:
        _check_slowly(body, depth)
    except DomainError:
        return False
    return True


@settings(max_examples=300)
@given(document=_JSON, depth=st.integers(1, 4))
def test_fast_check_never_passes_what_the_slow_one_refuses(document: str, depth: int) -> None:
    body = document.encode("utf-8", "surrogatepass")
    if _plainly_valid(body, depth):
        assert _slow_passes(body, depth), body


def test_a_key_written_twice_or_a_hidden_character_goes_the_slow_way() -> None:
    assert _plainly_valid(b'{"a":[1,":b"],"c":{"d":"e"}}', 3)
    assert not _plainly_valid(b'{"a":1,"b":{"c":1,"c":2}}', 3)
    assert not _plainly_valid('{"a":"x\u202ey"}'.encode(), 3)
    assert not _plainly_valid(b'{"a":"\\u0000"}', 3)
    assert not _plainly_valid(b'{"a":NaN}', 3)
    assert not _plainly_valid(b"[[[[1]]]]", 3)


def _exactly(body: bytes) -> tuple[bool, object]:
    """Whether the text writes each key once per object, and its reading."""
    try:
        return True, json.loads(body, object_pairs_hook=_no_duplicates)
    except ValueError:
        return False, json.loads(body)


# Keys and strings with colons, brackets and spaces, and no backslash: the bodies the
# fast check answers for itself.
_PLAIN = st.text(alphabet=st.sampled_from(list("ab :,{}[]é陈")), max_size=5)
_DOCUMENT = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _PLAIN,
    lambda inner: (
        st.lists(inner, max_size=3) | st.lists(st.tuples(_PLAIN, inner), max_size=3)
    ),  # pairs: an object, maybe a key twice
    max_leaves=10,
)


def _written(value: object, colon: str, comma: str) -> str:
    if isinstance(value, list) and all(isinstance(p, tuple) for p in value) and value:
        members = (
            f"{json.dumps(k, ensure_ascii=False)}{colon}{_written(v, colon, comma)}"
            for k, v in value
        )
        return "{" + comma.join(members) + "}"
    if isinstance(value, list):
        return "[" + comma.join(_written(v, colon, comma) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=400)
@given(
    document=_DOCUMENT,
    colon=st.sampled_from([":", ": ", " :", " : ", "\n:\n"]),
    comma=st.sampled_from([",", ", ", ",\n  "]),
    depth=st.integers(1, 6),
)
def test_the_texts_own_keys_and_depth_are_judged_exactly(
    document: object, colon: str, comma: str, depth: int
) -> None:
    """Never yes where a key is written twice or the text nests deeper than the limit;
    yes whenever neither is so and the limit is not reached (the fast way answers)."""
    body = _written(document, colon, comma).encode()
    once, _ = _exactly(body)
    parsed = orjson.loads(body)  # as the routes read it
    too_deep = depth_exceeds(parsed, depth)
    assert keys_written_once(body, parsed) is once
    if plainly_within(body, parsed, depth):
        assert once and not too_deep, body
    if once and not depth_exceeds(parsed, depth - 1):
        assert plainly_within(body, parsed, depth), body


def test_a_bundle_as_clients_write_it_is_read_the_fast_way() -> None:
    document = {"resourceType": "Bundle", "entry": [{"resource": {"a": [1, {"b": ": x"}]}}]}
    for body in (
        json.dumps(document),
        json.dumps(document, indent=2),
        json.dumps(document, separators=(",", ":")),
    ):
        assert plainly_within(body.encode(), document, 7)
    assert not plainly_within(json.dumps(document).encode(), document, 5)  # nests 6 deep
    assert not plainly_within(b'{"a": {"b": 1, "b": 1}}', {"a": {"b": 1}}, 4)
