"""rx_itty._json: decode what JSON.parse accepts, encode compactly like JSON.stringify."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest

from rx_itty import _json

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECTS = '{"a":' * 50_000 + "1" + "}" * 50_000

VALID = [
    "{}",
    "[]",
    '"text"',
    "0",
    "-1.5e3",
    "true",
    "null",
    '  {"a" : [1, 2] }\n',
    '"\\ud800"',
    '{"\\udfff":"\\ud83d"}',
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    '"é\\u00e9"',
]
INVALID = [
    "",
    " ",
    "NaN",
    "Infinity",
    "-Infinity",
    '{"a":NaN}',
    "[1,]",
    "{'a':1}",
    "undefined",
    "{",
    '"unterminated',
    "1 2",
    DEEP,
    DEEP_OBJECTS,
]


# -- loads ---------------------------------------------------------------------


def test_loads_decodes_ordinary_json() -> None:
    assert _json.loads('{"a":[1,2.5,null,true,"x"]}') == {"a": [1, 2.5, None, True, "x"]}


def test_loads_accepts_bytes_as_well_as_text() -> None:
    assert _json.loads('{"k":"é"}'.encode()) == {"k": "é"}


def test_loads_accepts_escaped_lone_surrogates_as_json_stringify_writes_them() -> None:
    assert _json.loads('"\\ud800"') == "\ud800"
    assert _json.loads(b'{"\\udfff":["\\ud83d"]}') == {"\udfff": ["\ud83d"]}


def test_loads_accepts_numbers_beyond_double_range_as_infinity_like_json_parse() -> None:
    assert _json.loads("[1e400,-1e400]") == [math.inf, -math.inf]


def test_loads_accepts_integers_beyond_64_bits() -> None:
    assert _json.loads("123456789012345678901234567890") == pytest.approx(1.2345678901234568e29)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a":NaN}', "[1,Infinity]"])
def test_loads_rejects_nan_and_infinity_literals_as_json_parse_does(text: str) -> None:
    with pytest.raises(_json.JSONDecodeError):
        _json.loads(text)


@pytest.mark.parametrize("text", ["", "[1,]", "{'a':1}", "undefined", "{", "1 2", b"\xff"])
def test_loads_rejects_garbage_with_json_decode_error(text: str | bytes) -> None:
    with pytest.raises(_json.JSONDecodeError):
        _json.loads(text)


def test_json_decode_error_is_also_the_stdlib_one_and_a_value_error() -> None:
    assert issubclass(_json.JSONDecodeError, json.JSONDecodeError)
    assert issubclass(_json.JSONDecodeError, ValueError)


@pytest.mark.parametrize("text", [DEEP, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_absurd_nesting_is_a_decode_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(_json.JSONDecodeError):
        _json.loads(text)


# -- is_json -----------------------------------------------------------------------


def decodes(text: str) -> bool:
    try:
        _json.loads(text)
    except _json.JSONDecodeError:
        return False
    return True


@pytest.mark.parametrize("text", VALID + INVALID, ids=lambda t: repr(t)[:30])
def test_is_json_agrees_with_loads(text: str) -> None:
    assert _json.is_json(text) is decodes(text)
    assert _json.is_json(text.encode("utf-8", "surrogatepass")) is decodes(text)


def test_is_json_says_which_texts_are_json() -> None:
    assert all(_json.is_json(text) for text in VALID)
    assert not any(_json.is_json(text) for text in INVALID)


# -- nesting depth ------------------------------------------------------------------


def nested(depth: int, inner: str = "1", kind: str = "array") -> str:
    if kind == "array":
        return "[" * depth + inner + "]" * depth
    return '{"k":' * depth + inner + "}" * depth


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("inner", ["1", '"\\ud800"'], ids=["orjson", "stdlib-fallback"])
def test_loads_decodes_exactly_max_depth_levels_on_either_path(kind: str, inner: str) -> None:
    assert _json.loads(nested(_json.MAX_DEPTH, inner, kind)) is not None
    assert _json.loads(nested(_json.MAX_DEPTH, inner, kind).encode()) is not None
    with pytest.raises(_json.JSONDecodeError, match="nested more than 512 levels deep"):
        _json.loads(nested(_json.MAX_DEPTH + 1, inner, kind))
    with pytest.raises(_json.JSONDecodeError, match="nested more than 512 levels deep"):
        _json.loads(nested(_json.MAX_DEPTH + 1, inner, kind).encode())


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = json.dumps(["[" * 5000, {"a": "{" * 5000}])
    assert _json.loads(text) == ["[" * 5000, {"a": "{" * 5000}]


def test_max_depth_is_within_what_orjson_decodes_by_itself() -> None:
    # The exact depth check wraps text up to orjson's own limit; that limit must hold.
    assert _json._ORJSON_DEPTH > _json.MAX_DEPTH
    orjson.loads(nested(_json._ORJSON_DEPTH))
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(nested(_json._ORJSON_DEPTH + 1))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[1]", None),
        ("{", "not valid JSON"),
        (nested(3), None),
        (nested(4), "nested more than 3 levels deep"),
    ],
)
def test_json_error_says_why_text_would_be_refused(text: str, problem: str | None) -> None:
    assert _json.json_error(text, max_depth=3) == problem


# -- dumps and dumps_bytes -------------------------------------------------------------


def test_dumps_is_compact_like_json_stringify() -> None:
    value = {"a": [1, 2.5, None, True, False], "b": {"c": "d"}, "e": ""}
    assert _json.dumps(value) == '{"a":[1,2.5,null,true,false],"b":{"c":"d"},"e":""}'


def test_dumps_keeps_non_ascii_text_as_utf8() -> None:
    assert _json.dumps({"k": "é☃😀"}) == '{"k":"é☃😀"}'
    assert _json.dumps_bytes({"k": "é☃😀"}) == '{"k":"é☃😀"}'.encode()


def test_dumps_escapes_control_characters() -> None:
    assert _json.dumps("a\nb\x1f") == '"a\\nb\\u001f"'


def test_dumps_writes_non_string_keys_as_strings_like_a_js_object() -> None:
    assert _json.dumps({1: "a", None: "b"}) == '{"1":"a","null":"b"}'


def test_dumps_writes_nan_and_infinity_as_null_like_json_stringify() -> None:
    assert _json.dumps([math.nan, math.inf, -math.inf]) == "[null,null,null]"


def test_dumps_escapes_a_lone_surrogate_as_json_stringify_does() -> None:
    assert _json.dumps("\ud800") == '"\\ud800"'
    assert _json.dumps_bytes(["\udfff"]) == b'["\\udfff"]'


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_dumps_writes_integers_beyond_64_bits_exactly(number: int) -> None:
    assert _json.dumps(number) == str(number)
    assert _json.dumps_bytes([number]) == f"[{number}]".encode()


@pytest.mark.parametrize(
    "value", [{"é": "\ud800", "n": [2**70]}, ["\ud83d", "😀"], {"k": 2**64, "t": "☃"}]
)
def test_values_the_fallback_encodes_decode_back_to_themselves(value: Any) -> None:
    assert _json.loads(_json.dumps(value)) == value
    assert _json.loads(_json.dumps_bytes(value)) == value


@pytest.mark.xfail(
    strict=True, reason="bug: the stdlib fallback refuses NaN that orjson writes as null"
)
def test_a_lone_surrogate_next_to_nan_still_encodes() -> None:
    assert _json.dumps(["\ud800", math.nan]) == '["\\ud800",null]'


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", {"a": [object()]}, {(1, 2): 3}])
def test_unserialisable_values_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        _json.dumps(value)
    with pytest.raises(TypeError):
        _json.dumps_bytes(value)


def test_unserialisable_values_raise_type_error_even_next_to_a_fallback_value() -> None:
    with pytest.raises(TypeError):
        _json.dumps(["\ud800", object()])
    with pytest.raises(TypeError):
        _json.dumps_bytes([2**70, object()])


def test_dumps_bytes_equals_dumps_encoded() -> None:
    for value in ({"a": "é"}, "\ud800", 2**64, [1.5, None]):
        assert _json.dumps_bytes(value) == _json.dumps(value).encode()
