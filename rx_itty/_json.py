"""The one place that chooses the JSON codec; everything in rx_itty encodes and decodes here.

orjson is about 5x faster than the stdlib ``json`` at decoding an itty
envelope, and JSON decoding dominates a receiver's per-message cost. Its
compact output is what JavaScript's ``JSON.stringify`` writes for the same
values, except that a float with an integral value keeps its ``.0`` (``1.0``;
JavaScript writes ``1``), which every JSON reader decodes to the same number.
The stdlib takes over for the rare value orjson refuses but JavaScript accepts
(a lone surrogate, an integer beyond 64 bits); its output is ASCII with escapes.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson

__all__ = ["JSONDecodeError", "dumps", "dumps_bytes", "is_json", "loads"]

JSONDecodeError = orjson.JSONDecodeError

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _stdlib_dumps(value: Any, error: TypeError) -> str:
    # ASCII output: a lone surrogate becomes an escape, as JSON.stringify writes it.
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise error from None


def dumps(value: Any) -> str:
    """Encode ``value`` as compact JSON text.

    Raises:
        TypeError: ``value`` (or something inside it) is not JSON-serialisable.
    """
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError as exc:
        return _stdlib_dumps(value, exc)


def dumps_bytes(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON bytes (no str round trip).

    Raises:
        TypeError: ``value`` (or something inside it) is not JSON-serialisable.
    """
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError as exc:
        return _stdlib_dumps(value, exc).encode()


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(text: str | bytes) -> Any:
    # The rare valid text orjson refuses (an escaped lone surrogate such as
    # "\ud800", which JSON.stringify emits, or a number beyond double range);
    # NaN and Infinity stay rejected, as JavaScript rejects them.
    return json.loads(text, parse_constant=_reject_constant)


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
