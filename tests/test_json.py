"""rx_itty._json: decode what JSON.parse accepts, encode compactly like JSON.stringify."""

from __future__ import annotations

import datetime
import decimal
import enum
import gc
import json
import math
import sys
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rx_itty import _json
from rx_itty.exceptions import SerializationError

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


def depth_of(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (the reference: a plain walk)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


TEXT = st.text(alphabet='[]{}"\\\\ab\ud800\udfff', max_size=8)
VALUES = st.recursive(
    st.none() | st.integers(min_value=-(10**30), max_value=10**30) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(VALUES, st.booleans())
def test_the_fallback_finds_the_same_depth_as_a_walk_of_the_value(value: Any, raw: bool) -> None:
    # Lone surrogates and integers beyond 64 bits send a text down the stdlib path;
    # brackets, quotes and backslashes inside strings must not count as nesting.
    text = json.dumps(["\ud800", value])
    depth = depth_of(["\ud800", value])
    given_text: str | bytes = text.encode("utf-8", "surrogatepass") if raw else text
    assert _json.json_error(given_text, depth) is None
    if depth > 1:
        too_deep = f"nested more than {depth - 1} levels deep"
        assert _json.json_error(given_text, depth - 1) == too_deep


def python_calls(check: Any, text: str) -> int:
    """Python-level function calls (and generator resumptions) while ``check(text)`` runs."""
    calls = 0

    def count(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    gc.collect()  # no collection (and finalizers of other tests' garbage) in between
    gc.disable()
    sys.setprofile(count)
    try:
        check(text)
    finally:
        sys.setprofile(None)
        gc.enable()
    return calls


@pytest.mark.parametrize("odd", ['"\\ud800"', '"\\udc00\\ud800"', "1e400"])
def test_a_wide_payload_orjson_refuses_is_checked_without_a_python_walk(odd: str) -> None:
    # One such value in a wide payload made the relay walk the whole decoded value in
    # Python, about 45x the usual cost of checking a frame: the work must not grow with it.
    def payload(width: int) -> str:
        return "[" + ",".join(["{}"] * width) + "," + odd + "]"

    assert _json.json_error(payload(33_000), 511) is None
    small, wide = (python_calls(_json.json_error, payload(n)) for n in (1_000, 33_000))
    assert wide == small


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


@pytest.mark.parametrize("value", [{1: "a"}, {None: "b"}, {1.5: 3}, {"ok": {True: 1, "true": 2}}])
def test_dumps_refuses_keys_that_json_would_turn_into_strings(value: Any) -> None:
    # {1: "a"} would come back as {"1": "a"}, and {True: 1, "true": 2} would repeat a key.
    with pytest.raises(SerializationError, match="object keys must be str"):
        _json.dumps(value)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_dumps_refuses_nan_and_infinity_which_json_cannot_express(number: float) -> None:
    # JSON.stringify would quietly send null; a reading of NaN must not arrive as "no value".
    for value in (number, [1, number], {"deep": {"x": [number]}}):
        with pytest.raises(SerializationError, match="not a JSON number"):
            _json.dumps(value)
        with pytest.raises(SerializationError, match="not a JSON number"):
            _json.dumps_bytes(value)


def test_dumps_escapes_a_lone_surrogate_as_json_stringify_does() -> None:
    assert _json.dumps("\ud800") == '"\\ud800"'
    assert _json.dumps_bytes(["\udfff"]) == b'["\\udfff"]'


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30])
def test_dumps_refuses_integers_beyond_64_bits_which_would_come_back_changed(number: int) -> None:
    assert type(_json.loads(str(number))) is float  # what a reader makes of them
    for value in (number, [number], {"n": number}, ["\ud800", number]):
        with pytest.raises(SerializationError, match="does not fit in 64 bits"):
            _json.dumps(value)


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 2**53 + 1])
def test_dumps_writes_64_bit_integers_exactly(number: int) -> None:
    assert _json.loads(_json.dumps(number)) == number
    assert _json.loads(_json.dumps(["\ud800", number])) == ["\ud800", number]


@pytest.mark.parametrize(
    "value", [{"é": "\ud800", "n": [2**63]}, ["\ud83d", "😀"], {"k": "\udfff", "t": "☃"}]
)
def test_values_the_fallback_encodes_decode_back_to_themselves(value: Any) -> None:
    assert _json.loads(_json.dumps(value)) == value
    assert _json.loads(_json.dumps_bytes(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        {"seen": None, "reading": math.nan},  # beside a real null
        ("tuple", math.inf),
        [[["deep", -math.inf]]],
        {"text": "nullable", "x": math.nan},  # "null" already in the text
    ],
)
def test_nan_is_found_wherever_it_hides(value: Any) -> None:
    with pytest.raises(SerializationError, match="not a JSON number"):
        _json.dumps(value)


@pytest.mark.parametrize("value", [{"a": None}, ["null", 1.5], {"null": 0.0}, -0.0, 1e308])
def test_nulls_and_finite_floats_encode_as_they_are(value: Any) -> None:
    assert _json.loads(_json.dumps(value)) == value


def test_the_fast_path_and_the_fallback_agree_on_nan() -> None:
    # A lone surrogate sends the value down the stdlib fallback; NaN is refused
    # there exactly as on orjson's path, with the same error.
    for value in (["\ud800", math.nan], ["\udfff", [math.nan]], [math.nan]):
        with pytest.raises(SerializationError, match=r"nan is not a JSON number"):
            _json.dumps(value)


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
    for value in ({"a": "é"}, "\ud800", 2**64 - 1, [1.5, None]):
        assert _json.dumps_bytes(value) == _json.dumps(value).encode()


# -- plain JSON values only ------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2024, 5, 1, 12, 0),
        datetime.date(2024, 5, 1),
        uuid.UUID(int=7),
        Colour.RED,
        Level.HIGH,
        Name("ann"),
        decimal.Decimal("1.5"),
        {"when": datetime.date(2024, 5, 1)},
        [{"id": uuid.UUID(int=1)}],
        {datetime.date(2024, 5, 1): 1},
        {Colour.RED: 1},
        {(1, 2): 3},
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_orjson_would_encode_its_own_way_are_refused(value: Any) -> None:
    # orjson alone writes these (ISO dates, UUID strings, enum values); a contract of
    # plain JSON means the sender converts them, choosing the format themselves.
    with pytest.raises(SerializationError):
        _json.dumps(value)


def test_tuples_encode_as_arrays() -> None:
    assert _json.dumps({"t": (1, "a"), "u": ((True,),)}) == '{"t":[1,"a"],"u":[[true]]}'


def test_dumps_encodes_max_depth_levels_and_refuses_one_more() -> None:
    # What it writes, loads reads back: nothing deeper than a reader accepts leaves.
    deep: Any = []
    for _ in range(_json.MAX_DEPTH - 1):
        deep = [deep]
    assert _json.loads(_json.dumps(deep)) == deep
    for too_deep in ([deep], {"a": deep}, [[deep] * 2]):
        with pytest.raises(SerializationError, match=f"more than {_json.MAX_DEPTH} levels"):
            _json.dumps(too_deep)
    with pytest.raises(SerializationError, match="more than 2 levels"):
        _json.dumps({"a": [[]]}, max_depth=2)
    assert _json.dumps({"a": []}, max_depth=2) == '{"a":[]}'


def test_a_default_converts_what_is_not_plain_wherever_it_is() -> None:
    def as_text(value: Any) -> Any:
        if isinstance(value, datetime.date):
            return value.isoformat()
        raise SerializationError(f"no {type(value).__name__}")

    when = datetime.date(2024, 5, 1)
    assert _json.dumps({"a": [when], "b": when}, as_text) == '{"a":["2024-05-01"],"b":"2024-05-01"}'
    with pytest.raises(SerializationError, match="no UUID"):
        _json.dumps([when, uuid.UUID(int=1)], as_text)


def test_a_default_that_returns_nan_is_still_refused() -> None:
    with pytest.raises(SerializationError, match="not a JSON number"):
        _json.dumps({"x": object()}, lambda value: math.nan)


def test_nested_plain_values_round_trip() -> None:
    value = {"a": [1, {"b": "c"}]}
    assert _json.loads(_json.dumps(value)) == value


def test_stringify_writes_a_decoded_infinity_as_null_like_json_stringify() -> None:
    decoded = _json.loads('{"big":1e400,"list":[-1e400,1],"t":"é"}')
    assert _json.stringify(decoded) == '{"big":null,"list":[null,1],"t":"é"}'
    assert _json.stringify({"ok": 1}) == '{"ok":1}'


def test_stringify_exact_writes_what_decodes_back_to_the_same_values() -> None:
    text = '{"big":1e400,"list":[-1e400,1],"t":"é","s":"\\ud800","n":123456789012345678901234}'
    decoded = _json.loads(text)
    exact = _json.stringify(decoded, exact=True)
    assert _json.loads(exact) == decoded


def test_stringify_never_raises_on_what_loads_returns() -> None:
    decoded = _json.loads('["\\ud800", 123456789012345678901234567890, 1e400]')
    assert _json.loads(_json.stringify(decoded)) == [*decoded[:2], None]


def test_loads_unique_decodes_as_loads_but_refuses_a_repeated_key() -> None:
    text = '{"a": [1, {"b": 2.5}], "c": null, "d": "\\ud800"}'
    assert _json.loads_unique(text) == _json.loads(text)
    with pytest.raises(_json.JSONDecodeError) as caught:
        _json.loads_unique(b'{"x": {"k": 1, "k": 2}}')
    assert (
        caught.value.msg == "the key 'k' appears twice in one object, and only the last would count"
    )
    assert caught.value.pos == 15
    for bad, problem in (('{"a": NaN}', "NaN is not JSON"), ("[1,]", "Expecting value")):
        with pytest.raises(ValueError, match=problem):
            _json.loads_unique(bad)
