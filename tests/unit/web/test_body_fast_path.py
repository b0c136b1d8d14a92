"""The fast check of a JSON body (orjson and the text) agrees with the slow one: what it
passes, the slow checks pass too, and what the slow checks refuse it never passes."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.core.errors import DomainError
from careloop.web.body import _check_slowly, _plainly_valid

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
        | st.lists(st.tuples(_TEXT, inner), max_size=3).map(
            lambda pairs: "{" + " , ".join(f"{json.dumps(k)} :{v}" for k, v in pairs) + "}"
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
