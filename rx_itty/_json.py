"""The one place that chooses the JSON codec; everything in rx_itty encodes and decodes here.

orjson is about 5x faster than the stdlib ``json`` at decoding an itty
envelope, and JSON decoding dominates a receiver's per-message cost. Its
compact output is what JavaScript's ``JSON.stringify`` writes for the same
values, except that a float with an integral value keeps its ``.0`` (``1.0``;
JavaScript writes ``1``), which every JSON reader decodes to the same number.
The stdlib takes over for the rare value orjson refuses but JavaScript accepts
(a lone surrogate, an integer beyond 64 bits); its output is ASCII with escapes.

:func:`dumps` takes plain JSON values only, whichever codec writes them: dicts
(keys str, int, bool, None or finite float, written as strings like a JavaScript
object's), lists, tuples, str, int, finite float, bool and None. Anything else
raises :class:`~rx_itty.exceptions.SerializationError` (a ``TypeError``) unless a
``default`` converts it: NaN and Infinity (which JSON cannot express and
``JSON.stringify`` would silently turn into ``null``), and ``datetime``, ``UUID``,
``Enum``, sets, bytes, numpy values, subclasses of the builtins... each of which
orjson alone would encode in a way of its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, NoReturn

import orjson

from rx_itty.exceptions import SerializationError

__all__ = [
    "JSONDecodeError",
    "dumps",
    "dumps_bytes",
    "fast_loads",
    "is_json",
    "loads",
    "stringify",
]

JSONDecodeError = orjson.JSONDecodeError

_OPTIONS = orjson.OPT_NON_STR_KEYS

Default = Callable[[Any], Any]


def _not_json(value: Any) -> NoReturn:
    kind = type(value).__name__
    if isinstance(value, float):
        raise SerializationError(f"{value!r} is not a JSON number (JSON has no NaN or Infinity)")
    raise SerializationError(
        f"{kind} is not a plain JSON value; convert it first (str(...), .isoformat(), "
        ".tolist(), .value ...)"
    )


def _key(key: Any) -> None:
    kind = type(key)
    if kind is str or kind is int or kind is bool or key is None:
        return
    if kind is float and math.isfinite(key):
        return
    raise SerializationError(
        f"an object key must be a str (or int, float, bool, None), not {kind.__name__}"
    )


# Floats pass the walk unchecked: orjson writes NaN and Infinity as ``null``, so
# only an output containing "null" can hide one, and only then are floats checked.
_SCALARS = frozenset((str, int, bool, float, type(None)))


def _plain(value: Any, default: Default | None) -> Any:
    """``value`` checked to be plain JSON: the same object, or a copy with models converted.

    Floats are not checked here: see :func:`dumps`.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        converted: Any = None
        for key, item in value.items():
            if type(key) is not str:
                _key(key)
            if type(item) in _SCALARS:  # the common case, without a call
                continue
            plain = _plain(item, default)
            if plain is not item:
                if converted is None:
                    converted = dict(value)
                converted[key] = plain
        return value if converted is None else converted
    if kind is list or kind is tuple:
        converted = None
        for index, item in enumerate(value):
            if type(item) in _SCALARS:
                continue
            plain = _plain(item, default)
            if plain is not item:
                if converted is None:
                    converted = list(value)
                converted[index] = plain
        return value if converted is None else converted
    if default is None:
        _not_json(value)
    return _plain(default(value), default)


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


def _stdlib_dumps(value: Any, error: TypeError) -> str:
    # ASCII output: a lone surrogate becomes an escape, as JSON.stringify writes it.
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise error from None


def dumps(value: Any, default: Default | None = None) -> str:
    """Encode a plain JSON value as compact JSON text.

    Args:
        value: Plain JSON values (see the module docstring).
        default: Converts any other object into plain JSON values, or raises
            ``TypeError`` (the socket passes :func:`rx_itty.models.as_payload`).

    Raises:
        SerializationError: ``value`` (or something inside it) is not a plain JSON
            value (a ``TypeError``, as ``json.dumps`` raises).
    """
    try:
        plain = _plain(value, default)
    except RecursionError:
        raise SerializationError("value is nested too deeply to encode as JSON") from None
    try:
        text = orjson.dumps(plain, option=_OPTIONS).decode()
    except TypeError as exc:  # a lone surrogate, an integer beyond 64 bits
        _finite(plain, _not_json)
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


def stringify(value: Any) -> str:
    """JSON text for a value :func:`loads` produced, as ``JSON.stringify`` would write it.

    Decoding a number beyond double range (``1e400``) gives Infinity, which
    :func:`dumps` refuses; here it becomes ``null``, so re-encoding what a peer
    sent (to show it, or to quote it in an event) never raises.
    """
    try:
        return dumps(value)
    except TypeError:
        return dumps(_finite(value, _null))


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(text: str | bytes) -> Any:
    # The rare valid text orjson refuses (an escaped lone surrogate such as
    # "\ud800", which JSON.stringify emits, or a number beyond double range);
    # NaN and Infinity stay rejected, as JavaScript rejects them.
    return json.loads(text, parse_constant=_reject_constant)


fast_loads: Callable[[str | bytes], Any] = orjson.loads
"""The first choice of :func:`loads`, without a Python call around it: for a hot path
that calls :func:`loads` when it raises :data:`JSONDecodeError` (the rare valid text
only the stdlib decodes) and then believes that verdict."""


def loads(text: str | bytes) -> Any:
    """Decode JSON text as JavaScript's ``JSON.parse`` would accept it.

    Raises:
        JSONDecodeError: ``text`` is not valid JSON.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return _stdlib_loads(text)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            pass
        raise


def is_json(text: str | bytes) -> bool:
    """True if ``text`` is JSON that :func:`loads` decodes (the relay's check before relaying)."""
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            _stdlib_loads(text)
        except (ValueError, RecursionError):
            return False
    return True
