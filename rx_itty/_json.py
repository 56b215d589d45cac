"""The one place that chooses the JSON codec; everything in rx_itty encodes and decodes here.

orjson is about 5x faster than the stdlib ``json`` at decoding an itty
envelope, and JSON decoding dominates a receiver's per-message cost. Its
compact output is what JavaScript's ``JSON.stringify`` writes for the same
values, except that a float with an integral value keeps its ``.0`` (``1.0``;
JavaScript writes ``1``), which every JSON reader decodes to the same number.
The stdlib takes over for the rare value orjson refuses but JavaScript accepts
(a lone surrogate, an integer beyond 64 bits); its output is ASCII with escapes.

:func:`dumps` takes plain JSON values only, whichever codec writes them: dicts
with str keys, lists, tuples, str, int (within 64 bits), finite float, bool and
None, nested at most :data:`MAX_DEPTH` levels. Anything else raises
:class:`~rx_itty.exceptions.SerializationError` (a ``TypeError``) unless a
``default`` converts it, rather than being changed on its way: NaN and Infinity
(which JSON cannot express and ``JSON.stringify`` would silently turn into
``null``); a key that is not a str (JSON would make it a string, so ``{1: "a"}``
would come back as ``{"1": "a"}`` and ``{True: 1, "true": 2}`` would repeat a
key); an int beyond 64 bits (JSON readers, orjson included, would read it back as
an approximate float); and ``datetime``, ``UUID``, ``Enum``, sets, bytes, numpy
values, subclasses of the builtins... each of which orjson alone would encode in a
way of its own.

Decoding refuses text nested deeper than :data:`MAX_DEPTH` levels, on either
path; the relay refuses payloads that its envelope would push past that depth,
so whatever it relays decodes on every rx_itty client.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Any, Final, NoReturn

import orjson

from rx_itty.exceptions import SerializationError

__all__ = [
    "MAX_DEPTH",
    "JSONDecodeError",
    "dumps",
    "dumps_bytes",
    "fast_loads",
    "is_json",
    "json_error",
    "loads",
    "loads_unique",
    "stringify",
]

JSONDecodeError = orjson.JSONDecodeError

MAX_DEPTH: Final = 512
"""The deepest nesting of arrays and objects that :func:`loads` decodes (``[]`` is 1 level).

Below orjson's own limit (1024) and far below what the stdlib parser can reach
before Python's recursion limit, so both decoding paths enforce exactly this.
"""

_ORJSON_DEPTH: Final = 1024  # orjson refuses anything nested deeper, by itself


class _TooDeep(JSONDecodeError):
    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested more than {max_depth} levels deep", "", 0)


Default = Callable[[Any], Any]

_INT_MIN: Final = -(2**63)  # the ints orjson writes, and reads back as ints
_INT_MAX: Final = 2**64 - 1


class _NestedTooDeep(SerializationError):
    """Raised inside the walk; :func:`dumps` turns it into a SerializationError."""


def _not_json(value: Any) -> NoReturn:
    kind = type(value).__name__
    if isinstance(value, float):
        raise SerializationError(f"{value!r} is not a JSON number (JSON has no NaN or Infinity)")
    raise SerializationError(
        f"{kind} is not a plain JSON value; convert it first (str(...), .isoformat(), "
        ".tolist(), .value ...)"
    )


def _key(key: Any) -> NoReturn:
    shown = repr(key)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise SerializationError(
        f"object keys must be str, got {type(key).__name__} {shown}: JSON would turn it "
        "into a string (and could repeat a key); convert the keys first, e.g. str(key)"
    )


# Floats pass the walk unchecked: orjson writes NaN and Infinity as ``null``, so
# only an output containing "null" can hide one, and only then are floats checked.
# Ints beyond 64 bits make orjson raise, and are found on that rare path.
_SCALARS = frozenset((str, int, bool, float, type(None)))


def _plain(value: Any, default: Default | None, depth: int) -> Any:
    """``value`` checked to be plain JSON: the same object, or a copy with models converted.

    ``depth`` is how many levels of lists and dicts may still open here. Floats
    and ints are not checked here: see :func:`dumps`.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        if depth <= 0:
            raise _NestedTooDeep
        converted: Any = None
        for key, item in value.items():
            if type(key) is not str:
                _key(key)
            if type(item) in _SCALARS:  # the common case, without a call
                continue
            plain = _plain(item, default, depth - 1)
            if plain is not item:
                if converted is None:
                    converted = dict(value)
                converted[key] = plain
        return value if converted is None else converted
    if kind is list or kind is tuple:
        if depth <= 0:
            raise _NestedTooDeep
        converted = None
        for index, item in enumerate(value):
            if type(item) in _SCALARS:
                continue
            plain = _plain(item, default, depth - 1)
            if plain is not item:
                if converted is None:
                    converted = list(value)
                converted[index] = plain
        return value if converted is None else converted
    if default is None:
        _not_json(value)
    return _plain(default(value), default, depth)


def _finite(value: Any, replace: Callable[[float], Any]) -> Any:
    """``value`` with each NaN or Infinity replaced by ``replace(it)`` (which may raise)."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else replace(value)  # false for NaN and +-Infinity
    if kind is dict:
        return {key: _finite(item, replace) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_finite(item, replace) for item in value]
    return value


def _check_numbers(value: Any) -> None:
    """Raise for a NaN, an Infinity or an int beyond 64 bits anywhere in plain ``value``."""
    kind = type(value)
    if kind is float:
        if value - value != 0.0:
            _not_json(value)
    elif kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise SerializationError(
                f"{value} does not fit in 64 bits: JSON readers (orjson, and JavaScript "
                "beyond 2**53) would read it back as an approximate float; send it as a str"
            )
    elif kind is dict:
        for item in value.values():
            _check_numbers(item)
    elif kind is list or kind is tuple:
        for item in value:
            _check_numbers(item)


def _stdlib_text(value: Any) -> str:
    # ASCII output: a lone surrogate becomes an escape, as JSON.stringify writes it.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _stdlib_dumps(value: Any, error: TypeError) -> str:
    try:
        return _stdlib_text(value)
    except (TypeError, ValueError, RecursionError):
        raise error from None


def dumps(value: Any, default: Default | None = None, *, max_depth: int = MAX_DEPTH) -> str:
    """Encode a plain JSON value as compact JSON text.

    Args:
        value: Plain JSON values (see the module docstring).
        default: Converts any other object into plain JSON values, or raises
            ``TypeError`` (the socket passes :func:`rx_itty.models.as_payload`).
        max_depth: The deepest nesting of lists and dicts allowed (``[]`` is 1 level).

    Raises:
        SerializationError: ``value`` (or something inside it) is not a plain JSON
            value, or nests deeper than ``max_depth`` (a ``TypeError``, as
            ``json.dumps`` raises).
    """
    try:
        plain = _plain(value, default, max_depth)
    except (_NestedTooDeep, RecursionError):
        raise SerializationError(
            f"value nests lists and dicts more than {max_depth} levels deep, more than a "
            "JSON reader accepts; flatten it"
        ) from None
    try:
        text = orjson.dumps(plain).decode()
    except TypeError as exc:  # a lone surrogate, or an int beyond 64 bits
        _check_numbers(plain)
        return _stdlib_dumps(plain, exc)
    if "null" in text:  # where orjson may have written a NaN or an Infinity
        _finite(plain, _not_json)
    return text


def dumps_bytes(value: Any, default: Default | None = None) -> bytes:
    """:func:`dumps`, as UTF-8 bytes.

    Raises:
        TypeError: as :func:`dumps`.
    """
    return dumps(value, default).encode()


def _null(value: float) -> None:
    return None


def stringify(value: Any, *, exact: bool = False) -> str:
    """JSON text for a value :func:`loads` produced, as ``JSON.stringify`` would write it.

    Never raises on what :func:`loads` returns, so re-encoding what a peer sent
    (to show it, or to quote it in an event) is always possible. Decoding a number
    beyond double range (``1e400``) gives Infinity, which :func:`dumps` refuses:
    here it becomes ``null``, as ``JSON.stringify`` writes it, or with ``exact``
    the number ``1e400`` (``-1e400``), which decodes back to the same Infinity (a
    recording keeps what it recorded). Ints beyond 64 bits are written as they are.
    """
    try:
        return dumps(value)
    except TypeError:
        pass
    if not exact:
        return _lenient(_finite(value, _null))
    token = secrets.token_hex(16)  # cannot occur in what a peer sent

    def mark(number: float) -> str | None:
        return None if number != number else f"{token}{'+' if number > 0 else '-'}"

    text = _lenient(_finite(value, mark))
    return text.replace(f'"{token}+"', "1e400").replace(f'"{token}-"', "-1e400")


def _lenient(value: Any) -> str:
    """Finite ``value`` as JSON, whatever its ints and keys (the stdlib writes the rest)."""
    try:
        return dumps(value)
    except TypeError:
        return _stdlib_text(value)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(text: str | bytes) -> Any:
    # The rare valid text orjson refuses (an escaped lone surrogate such as
    # "\ud800", which JSON.stringify emits, or a number beyond double range);
    # NaN and Infinity stay rejected, as JavaScript rejects them.
    return json.loads(text, parse_constant=_reject_constant)


# The strings of valid JSON text (possessive: no backtracking). Outside them, valid
# JSON has only these characters besides brackets: numbers, literals, separators.
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_SQUARE = str.maketrans("{}", "[]", "0123456789+-.eEtruefalsn,: \t\n\r")


def _skeleton(text: str | bytes) -> str:
    """Valid JSON ``text`` reduced to its nesting: every array and object as an array.

    ``[{"a": [1]}, "x]"]`` becomes ``[[[]]]``: as deep as the text, and valid JSON
    that orjson decodes in C, whatever in the text made orjson refuse it.
    """
    if isinstance(text, bytes):  # as json.loads reads bytes
        text = text.decode(json.detect_encoding(text), "surrogatepass")
    return _STRING.sub("", text).translate(_SQUARE).replace("][", "],[")


def _shallow(text: str | bytes, max_depth: int) -> bool:
    """True if ``text``, which orjson decoded, nests at most ``max_depth`` levels."""
    # Nesting d levels deep takes at least d openers: text with few brackets (the
    # usual case) needs no further look.
    pad = _ORJSON_DEPTH - max_depth
    wrapped: str | bytes
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= max_depth:
            return True
        wrapped = "[" * pad + text + "]" * pad
    else:
        if text.count(b"[") + text.count(b"{") <= max_depth:
            return True
        wrapped = b"[" * pad + text + b"]" * pad
    # Exact and still in C: wrapped in enough arrays to reach orjson's own limit,
    # the text decodes iff it was no deeper than max_depth.
    try:
        orjson.loads(wrapped)
    except orjson.JSONDecodeError:
        return False
    return True


SHORT_TEXT: Final = 2 * MAX_DEPTH + 1
"""Text of at most this many characters cannot nest deeper than :data:`MAX_DEPTH`
(each level takes an opening and a closing bracket): :data:`fast_loads` may decode it."""

fast_loads: Callable[[str | bytes], Any] = orjson.loads
"""orjson itself, for a hot path that decodes text of at most :data:`SHORT_TEXT`
characters and calls :func:`loads` when it raises :data:`JSONDecodeError` (the rare
valid text only the stdlib decodes) or when the text is longer (the depth check)."""


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode JSON text as JavaScript's ``JSON.parse`` would accept it, up to ``max_depth``.

    Raises:
        JSONDecodeError: ``text`` is not valid JSON, or nests arrays and objects more
            than ``max_depth`` levels deep.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            value = _stdlib_loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            pass
        else:
            # The depth is checked in C too: a walk of the value in Python would make
            # one "\ud800" in a wide payload cost several times its plain decode.
            if _shallow(_skeleton(text), max_depth):
                return value
            raise _TooDeep(max_depth) from None
        raise
    # Nesting d levels deep takes at least 2d characters: most text needs no look.
    if len(text) > 2 * max_depth + 1 and not _shallow(text, max_depth):
        raise _TooDeep(max_depth)
    return value


def json_error(text: str | bytes, max_depth: int = MAX_DEPTH) -> str | None:
    """Why :func:`loads` would refuse ``text``, or ``None`` if it decodes (the relay's check).

    Returns:
        ``None``, ``"not valid JSON"``, or ``"nested more than N levels deep"``.
    """
    try:
        loads(text, max_depth)
    except _TooDeep as exc:
        return str(exc.msg)
    except JSONDecodeError:
        return "not valid JSON"
    return None


def is_json(text: str | bytes) -> bool:
    """True if ``text`` is JSON that :func:`loads` decodes."""
    return json_error(text) is None


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _RepeatedKey(key)
        result[key] = value
    return result


def loads_unique(text: str | bytes) -> Any:
    """Decode JSON text written by hand (a configuration file), refusing repeated keys.

    JSON readers keep the last of two equal keys in one object without a word, so
    a second ``"namespaces"`` would silently replace the first. Not for the wire:
    this parser is the stdlib's, slower than :func:`loads`.

    Raises:
        JSONDecodeError: ``text`` is not valid JSON (NaN and Infinity included), or
            an object repeats a key (the error names it, and where it repeats).
    """
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs, parse_constant=_reject_constant)
    except _RepeatedKey as exc:
        doc = text if isinstance(text, str) else text.decode(errors="replace")
        places = [m.start() for m in re.finditer(re.escape(json.dumps(exc.key)) + r"\s*:", doc)]
        raise JSONDecodeError(
            f"the key {exc.key!r} appears twice in one object, and only the last would count",
            doc,
            places[1] if len(places) > 1 else 0,
        ) from None
