"""The one place that chooses the JSON codec; everything in rx_itty encodes and decodes here.

orjson is about 5x faster than the stdlib ``json`` at decoding an itty
envelope, and JSON decoding dominates a receiver's per-message cost. Its
compact output is what JavaScript's ``JSON.stringify`` writes for the same
values, except that a float with an integral value keeps its ``.0`` (``1.0``;
JavaScript writes ``1``), which every JSON reader decodes to the same number.
The stdlib takes over for the rare value orjson refuses but JavaScript accepts
(a lone surrogate, an integer beyond 64 bits); its output is ASCII with escapes.

Decoding refuses text nested deeper than :data:`MAX_DEPTH` levels, on either
path; the relay refuses payloads that its envelope would push past that depth,
so whatever it relays decodes on every rx_itty client.
"""

from __future__ import annotations

import json
from typing import Any, Final, NoReturn

import orjson

__all__ = [
    "MAX_DEPTH",
    "JSONDecodeError",
    "dumps",
    "dumps_bytes",
    "is_json",
    "json_error",
    "loads",
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


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if type(item) is dict:
            children: Any = item.values()
        elif type(item) is list:
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


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
            if _depth(value) <= max_depth:
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
