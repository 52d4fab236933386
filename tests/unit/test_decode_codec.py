"""``decode_payload`` parses with msgspec, the stdlib behind it: the answer is the stdlib's.

For any bytes, ``decode_payload`` and ``decode_payload_stdlib`` give the same value
(same types, floats to the bit, keys in the same order) or refuse with the same
reason and the same words. Hypothesis searches documents that msgspec might read
otherwise than the stdlib: big and negative integers, floats at the edges of
their range, any Unicode (lone surrogates too, escaped or not), duplicate keys,
whitespace, and bytes that are not JSON at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.consumer import decode
from streaming.consumer.decode import decode_payload, decode_payload_stdlib
from streaming.consumer.records import InvalidEvent


def outcome(fn: Any, raw: bytes) -> tuple[str, Any]:
    try:
        return "value", fn(raw)
    except InvalidEvent as exc:
        return "refused", (exc.reason, exc.detail)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values and as Python objects: types, float bits, key order.
    Iterative: a document may nest as deep as the parser allows."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if x.hex() != y.hex():
                return False
        elif isinstance(x, dict):
            if list(x) != list(y):
                return False
            stack.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y, strict=True))
        elif x != y:
            return False
    return True


def assert_same_answer(raw: bytes) -> None:
    fast, slow = outcome(decode_payload, raw), outcome(decode_payload_stdlib, raw)
    assert fast[0] == slow[0], (raw[:200], fast, slow)
    if fast[0] == "refused":
        assert fast[1] == slow[1]
    else:
        assert same(fast[1], slow[1]), (raw[:200], fast, slow)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
spaces = st.text(alphabet=" \t\r\n", max_size=3)
NUMBER = r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,4})?"


@given(value=values, ascii_only=st.booleans(), before=spaces, after=spaces)
def test_any_json_document_decodes_as_the_stdlib_decodes_it(value, ascii_only, before, after):
    text = json.dumps(value, ensure_ascii=ascii_only)
    raw = (before + text + after).encode("utf-8", "surrogatepass")
    assert_same_answer(raw)


@given(raw=st.binary(max_size=64))
def test_any_bytes_decode_or_fail_as_with_the_stdlib(raw):
    assert_same_answer(raw)


@given(
    number=st.one_of(
        st.from_regex(
            r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,4})?", fullmatch=True
        ),
        st.sampled_from(
            ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "-0", "-0.0"]
        ),
    )
)
def test_numbers_at_every_edge_decode_as_with_the_stdlib(number):
    assert_same_answer(f'{{"ride": {{"trip_distance": {number}}}, "ride_id": {number}}}'.encode())


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "a": 2}',
        b'"\\ud800"',
        b'"\\udc00\\ud800"',
        b'"\\ud83d\\ude00"',
        b"\xef\xbb\xbf{}",
        b'"a\x01b"',
        b"1" * 4300,
        b"1" * 4301,
        b"[" * 900 + b"]" * 900,
        b"[" * 5000 + b"]" * 5000,
        b"",
        b" ",
        b"{} {}",
    ],
)
def test_the_edges_msgspec_meets_otherwise_decode_as_with_the_stdlib(raw):
    assert_same_answer(raw)


def test_msgspec_does_the_parsing_where_it_is_installed():
    """msgspec is a project dependency: if its import failed silently, every batch
    would pay the stdlib's price unseen."""
    assert decode._FAST_DECODE is not None
    assert decode_payload(b'{"ride_id": 256}') == {"ride_id": 256}
