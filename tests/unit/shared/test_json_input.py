"""Reading untrusted JSON within limits: what is read, what is refused, and where it says so."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.http.json_input import (
    MAX_JSON_DEPTH,
    MalformedJSON,
    might_hold_refused_values,
    nesting_error,
    parse_json,
    refused_values,
)

SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r"), max_size=20)
SAFE_SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | SAFE_TEXT)
DOCUMENTS = st.recursive(SAFE_SCALARS, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(SAFE_TEXT, inner, max_size=4), max_leaves=30)


@given(DOCUMENTS)
def test_ordinary_documents_are_read_unchanged_and_nothing_is_refused(doc):
    raw = json.dumps(doc).encode()
    assert parse_json(raw) == doc
    assert refused_values(doc) == {}


@given(DOCUMENTS, st.sampled_from(["\x00", "\x07", "\x1f", "\ud800", "\udfff"]))
def test_a_refused_character_is_found_wherever_it_hides(doc, bad):
    wrapped = {"outer": [doc, {"note": f"a{bad}b"}]}
    raw = json.dumps(wrapped).encode()  # json.dumps escapes them as \\uXXXX: valid JSON
    assert might_hold_refused_values(raw)
    assert "outer.1.note" in refused_values(parse_json(raw))


def test_nesting_is_counted_outside_strings_only():
    assert nesting_error('{"a": "' + "[" * 100 + '"}') is None
    assert nesting_error("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is None
    assert "at character 32" in nesting_error("[" * (MAX_JSON_DEPTH + 1))
    assert nesting_error('["\\"[[[[", ' + "[" * 3 + "]]]]", limit=4) is None


@pytest.mark.parametrize(("raw", "needle"), [
    (b"[" * 100_000, "nested deeper than 32"), (b"\xff", "UTF-8"), (b"  ", "empty"), (b"[NaN]", "NaN"),
    (b"[Infinity]", "Infinity"), (b"[1,]", "invalid JSON"), (b"1" * 5000, "invalid JSON"),
])
def test_unreadable_documents_say_why(raw, needle):
    with pytest.raises(MalformedJSON, match=needle):
        parse_json(raw)


def test_numbers_beyond_64_bits_and_infinite_floats_are_named():
    doc = parse_json(b'{"a": 9223372036854775807, "b": [9223372036854775808], "c": -9223372036854775809, "d": 1e999}')
    assert set(refused_values(doc)) == {"b.0", "c", "d"}


def test_a_field_name_with_a_control_character_is_named_printably():
    assert refused_values({"k\x00": 1}) == {"k\\x00": ["field name contains a control character (U+0000 at position 1)"]}


def test_the_screen_lets_plain_bodies_skip_the_walk():
    assert not might_hold_refused_values(b'{"a": "plain", "n": 123456789012345678}')
    assert might_hold_refused_values(b'{"n": 1234567890123456789}')
    assert might_hold_refused_values(b'{"n": 1e400}')
