"""The itty-sockets wire format, without I/O: URLs, frames, events and close codes.

- :func:`build_url` turns a channel name or a ``ws://``/``wss://`` URL plus options
  into exactly the URL the official JS client would open: options serialised as
  ``URLSearchParams`` would, and a ``?`` always appended.
- :func:`encode_frame` serialises a payload (plain JSON values or a model), with
  the ``\\x1F<uid>\\x1F`` prefix for a direct message; :func:`split_direct` reads
  that prefix back.
- :func:`check_url` refuses a URL no server could accept (bad scheme, host or port,
  a fragment, text that is not UTF-8); :func:`check_recipient` a bad direct-message uid.
- :func:`decode_frame` turns one server frame into an :data:`~rx_itty.events.Event`,
  or a :class:`~rx_itty.events.BadFrame`: it never raises on remote input.
- :class:`CloseCode` names the WebSocket close codes the client and relay use.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote, quote_plus, urlsplit

from rx_itty import _json
from rx_itty._logging import without_query
from rx_itty.events import (
    BadFrame,
    Event,
    Join,
    Leave,
    Message,
    ServerError,
    Signal,
    Uid,
    User,
    _received_message,
)
from rx_itty.exceptions import InvalidOptionError, SerializationError
from rx_itty.models import as_payload

__all__ = [
    "DEFAULT_BASE",
    "DM_SEPARATOR",
    "MAX_FRAGMENTS",
    "TOO_MANY_FRAGMENTS",
    "CloseCode",
    "build_url",
    "check_frame",
    "check_recipient",
    "check_url",
    "decode_frame",
    "encode_channel",
    "encode_frame",
    "encode_query",
    "is_raw_url",
    "split_direct",
]

DEFAULT_BASE = "wss://itty.ws/c/"
"""The hosted relay; a channel name is appended to it."""

DM_SEPARATOR = "\x1f"
"""ASCII unit separator framing a direct message's recipient uid."""


MAX_FRAGMENTS: Final = 1024
"""Frames one message may arrive in, at the relay (every engine) and at the client.
Past it the receiver closes the connection with 1009 and :data:`TOO_MANY_FRAGMENTS`:
however small its frames, each fragment of a message costs a little until the last
one comes, so their number needs a bound of its own as well as their size."""
TOO_MANY_FRAGMENTS: Final = f"message in more than {MAX_FRAGMENTS} fragments"


class CloseCode(enum.IntEnum):
    """WebSocket close codes (RFC 6455) with the meaning they have between itty peers."""

    NORMAL = 1000
    """A deliberate close: ``close()``, ``push()``, or a relay shutting down cleanly."""
    GOING_AWAY = 1001
    """The peer is going away (a relay stopping, a browser tab closing)."""
    PROTOCOL_ERROR = 1002
    """A frame broke the WebSocket protocol."""
    NO_STATUS = 1005
    """The close frame carried no code. Never sent on the wire."""
    ABNORMAL = 1006
    """No close frame was exchanged: the connection was lost. Never sent on the wire."""
    INVALID_DATA = 1007
    """A text message that is not UTF-8."""
    POLICY_VIOLATION = 1008
    """The relay closed a connection that broke its limits; reconnecting will not help."""
    MESSAGE_TOO_BIG = 1009
    """A message over the receiver's size limit, or in more than :data:`MAX_FRAGMENTS`
    fragments."""
    INTERNAL_ERROR = 1011
    """The relay hit an unexpected error on this connection."""
    SERVICE_RESTART = 1012
    """The relay lost its backplane and dropped every connection: reconnect (to any node)."""
    TRY_AGAIN_LATER = 1013
    """The relay could not serve this connection just now: its backplane went down during
    the join, or the member fell too far behind reading. Reconnecting later is fine."""


_RAW_URL = re.compile(r"^wss?:")
# The relay wraps a payload in its envelope, one level of nesting more: it refuses
# payloads that would then nest deeper than the decoders' limit.
_PAYLOAD_DEPTH = _json.MAX_DEPTH - 1
# Characters kept literal in a channel path: ':' and '/' are namespace
# boundaries and must match what the JS client sends; the rest are RFC 3986
# sub-delimiters that are legal in a path segment.
_CHANNEL_SAFE = ":/@!$&'()*+,;="

QueryValue = str | bool | int | float | None


def is_raw_url(target: str) -> bool:
    """True if ``target`` is used verbatim as a base URL (it starts with ``ws:``/``wss:``)."""
    return _RAW_URL.match(target) is not None


def _unencodable(text: str) -> str | None:
    """Why ``text`` cannot travel as UTF-8 (it holds a lone surrogate), else ``None``."""
    if text.isascii():  # the usual case, and O(1)
        return None
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return (
            f"holds {text[exc.start]!r}, which is not a Unicode character (bytes that were "
            "not UTF-8, decoded with surrogateescape, or a lone surrogate)"
        )
    return None


def _utf8(text: str, what: str) -> str:
    """``text``, checked to be encodable as UTF-8.

    Raises:
        InvalidOptionError: it is not; the message names ``what`` it is.
    """
    problem = _unencodable(text)
    if problem is not None:
        raise InvalidOptionError(f"{what} {problem}; pass valid text")
    return text


def _form_encode(text: str) -> str:
    # URLSearchParams leaves only A-Z a-z 0-9 * - . _ unescaped and writes ' ' as '+'.
    return quote_plus(text, safe="*").replace("~", "%7E")


def _query_text(key: str, value: QueryValue) -> str | None:
    if value is None or value is False:
        return None
    if value is True:
        return "true"
    if isinstance(value, str):
        return _utf8(value, f"query parameter {key!r}")
    if isinstance(value, int | float):
        return str(value)
    raise InvalidOptionError(
        f"query parameter {key!r} has type {type(value).__name__}; use a str, int, float or bool"
    )


def encode_query(params: Mapping[str, QueryValue]) -> str:
    """Serialise ``params`` exactly as ``new URLSearchParams(params).toString()`` would.

    ``True`` becomes ``true``; ``None`` and ``False`` are omitted (the relay reads a
    present flag as on, so sending ``false`` would be misleading).

    Raises:
        InvalidOptionError: a value is not a str, int, float, bool or None, or a
            name or value is not valid Unicode text (a lone surrogate).
    """
    parts = []
    for key, value in params.items():
        text = _query_text(key, value)
        if text is not None:
            name = _utf8(key, "a query parameter name")
            parts.append(f"{_form_encode(name)}={_form_encode(text)}")
    return "&".join(parts)


def encode_channel(name: str) -> str:
    """Percent-encode a channel name for a URL path, keeping ``:`` and ``/`` literal.

    Raises:
        InvalidOptionError: the name is empty, or not valid Unicode text (a lone surrogate).
    """
    if not name:
        raise InvalidOptionError("channel name is empty; pass a name such as 'my-room'")
    return quote(_utf8(name, f"channel name {name!r}"), safe=_CHANNEL_SAFE)


def build_url(
    target: str,
    params: Mapping[str, QueryValue] | None = None,
    *,
    base: str = DEFAULT_BASE,
) -> str:
    """Build the URL to open for a channel name or a raw ``ws://``/``wss://`` URL.

    The ``?`` is always appended, as the JS client does, so ``ws://h/path`` becomes
    ``ws://h/path?``. A raw URL is used verbatim; a channel name is percent-encoded
    and appended to ``base``, completed with a final ``/`` if it lacks one
    (``ws://h:8080/c`` is ``ws://h:8080/c/``).

    Args:
        target: A channel name (``"my-room"``, ``"myapp:chat"``) or a raw URL.
        params: Query parameters, serialised by :func:`encode_query`.
        base: Where channel names live; ``wss://itty.ws/c/`` by default.

    Raises:
        InvalidOptionError: empty channel name, non-ws base, or a bad parameter value.
    """
    if not isinstance(target, str):
        raise InvalidOptionError(
            f"channel must be a str (a name or a ws:// URL), not {type(target).__name__}"
        )
    if is_raw_url(target):
        url = target
    else:
        if not is_raw_url(base):
            raise InvalidOptionError(
                f"server base {base!r} must start with ws:// or wss://, "
                "e.g. 'ws://127.0.0.1:8080/c/'"
            )
        url = (base if base.endswith("/") else base + "/") + encode_channel(target)
    return url + "?" + encode_query(params or {})


def encode_frame(message: Any, to: str | None = None) -> str:
    """Serialise one outgoing frame: ``JSON(message)``, prefixed for a direct message.

    ``message`` is a plain JSON value: dicts, lists, tuples, str, int, finite
    float, bool and None, as JavaScript would read them. A dataclass, pydantic
    model or msgspec Struct instance (anywhere in it) is encoded through its own
    library, the inverse of how ``on(type, Model)`` decodes it (see
    :func:`rx_itty.models.as_payload`). Anything else is refused rather than
    guessed at: NaN and Infinity, ``datetime``, ``UUID``, ``Enum``, sets, bytes,
    numpy values.

    Args:
        message: The payload.
        to: A recipient uid for a direct message; ``None`` broadcasts.

    Raises:
        SerializationError: ``message`` is not a plain JSON value or a model, or
            ``to`` is not a uid (see :func:`check_recipient`).
    """
    try:
        text = _json.dumps(message, as_payload, max_depth=_PAYLOAD_DEPTH)
    except TypeError as exc:
        raise SerializationError(
            f"cannot send {type(message).__name__} as JSON ({exc}); send dicts, lists, str, "
            "int, finite float, bool, None, or a dataclass, pydantic model or msgspec Struct"
        ) from exc
    if to is None:
        return text
    check_recipient(to)
    return f"{DM_SEPARATOR}{to}{DM_SEPARATOR}{text}"


def check_recipient(to: Any) -> None:
    """Raise unless ``to`` can name the recipient of a direct message.

    Raises:
        SerializationError: ``to`` is not a non-empty str, holds ``\\x1f`` (the
            separator), or is not valid Unicode text (a lone surrogate).
    """
    if type(to) is not str or not to or DM_SEPARATOR in to:
        raise SerializationError(
            f"a direct message needs the recipient's uid as a non-empty str without "
            f"'\\x1f', got {to!r}; pass to=None to broadcast"
        )
    problem = _unencodable(to)
    if problem is not None:
        raise SerializationError(f"the recipient uid {to!r} {problem}; pass the peer's uid")


def check_frame(frame: str) -> None:
    """Raise if no connection could take ``frame``: a text frame must be UTF-8.

    :func:`encode_frame` never makes such a frame; a transport's ``Link.send``
    raises this for one, rather than refusing it as it refuses a frame it cannot
    take *yet*.

    Raises:
        SerializationError: ``frame`` holds a lone surrogate, which has no UTF-8 form.
    """
    problem = _unencodable(frame)
    if problem is not None:
        raise SerializationError(
            f"a frame that {problem} cannot be sent: WebSocket text must be UTF-8"
        )


def check_url(url: str) -> None:
    """Raise if no server could accept ``url``: retrying it could never succeed.

    Raises:
        InvalidOptionError: not ``ws://``/``wss://``, no host, a port that is not a
            number in 1-65535, a ``#fragment`` (a WebSocket URL has none), or text
            that is not UTF-8 (the message never shows the query, which may hold keys).
    """
    shown = without_query(url)
    problem = _unencodable(url)
    if problem is not None:
        raise InvalidOptionError(f"the URL {shown!r} {problem}; pass valid text")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "port" in str(exc).lower():
            raise InvalidOptionError(
                f"{shown} is not a valid URL: its port must be a whole number from 1 to 65535"
            ) from None
        raise InvalidOptionError(f"{shown} is not a valid URL ({exc})") from None
    if parts.scheme not in ("ws", "wss"):
        raise InvalidOptionError(f"{shown} is not a ws:// or wss:// URL")
    if not parts.hostname:
        raise InvalidOptionError(f"{shown} has no host; e.g. ws://127.0.0.1:8080/c/room")
    if port == 0:
        raise InvalidOptionError(
            f"{shown} has port 0, which no server listens on; use the relay's port (1 to 65535)"
        )
    if "#" in url:
        raise InvalidOptionError(
            f"{shown.split('#', 1)[0]} has a #fragment, which a WebSocket URL cannot have; "
            "remove it (a '#' in a channel name is written %23)"
        )


def split_direct(frame: str) -> tuple[str | None, str] | None:
    """Split a client frame into its recipient uid (``None`` for a broadcast) and JSON text.

    ``"\\x1fp0x7zq\\x1f{...}"`` gives ``("p0x7zq", "{...}")``; ``"{...}"`` gives
    ``(None, "{...}")``.

    Returns:
        The pair, or ``None`` for a malformed direct message (no closing separator).
    """
    if not frame.startswith(DM_SEPARATOR):
        return None, frame
    end = frame.find(DM_SEPARATOR, 1)
    if end < 0:
        return None
    return frame[1:end], frame[end + 1 :]


_fast_loads = _json.fast_loads
_SHORT_TEXT = _json.SHORT_TEXT


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _users(value: Any) -> tuple[User, ...] | None:
    if type(value) is not list:
        return None
    return tuple(
        User(Uid(entry["uid"]), _str(entry.get("alias")), entry.get("self") is True)
        for entry in value
        if type(entry) is dict and type(entry.get("uid")) is str
    )


def _join(frame: dict[str, Any]) -> Join:
    users = frame.get("users")
    total = _int(frame.get("total"))
    if total is None:  # legacy relays (before 0.9) sent the count as `users`
        total = _int(users)
    uid = _str(frame.get("uid"))
    return Join(
        total=total,
        uid=None if uid is None else Uid(uid),
        alias=_str(frame.get("alias")),
        is_self=frame.get("self") is True,
        users=_users(users),
        date=_int(frame.get("date")),
        raw=frame,
    )


def _leave(frame: dict[str, Any]) -> Leave:
    total = _int(frame.get("total"))
    if total is None:
        total = _int(frame.get("users"))
    uid = _str(frame.get("uid"))
    return Leave(
        total=total,
        uid=None if uid is None else Uid(uid),
        alias=_str(frame.get("alias")),
        date=_int(frame.get("date")),
        raw=frame,
    )


def _error(frame: dict[str, Any]) -> ServerError:
    text = frame.get("message")
    return ServerError(
        message=text if type(text) is str else _json.stringify(text),
        date=_int(frame.get("date")),
        raw=frame,
    )


def decode_frame(data: str | bytes) -> Event | BadFrame:
    """Decode one server frame into an event; never raises on remote garbage.

    System events (join, leave, error) are recognised only by the frame's top-level
    ``type``; a payload's ``type`` never makes a system event.

    Returns:
        The event, or a :class:`BadFrame` saying why the frame was not decodable.
    """
    if not isinstance(data, str):
        return BadFrame(data, "binary frame; itty frames are JSON text")
    try:
        # Short text cannot nest too deep: orjson alone (the stdlib takes over below for
        # what orjson refuses); longer text goes through _json.loads, fallback included.
        if len(data) <= _SHORT_TEXT:
            try:
                frame = _fast_loads(data)
            except _json.JSONDecodeError:
                frame = _json.loads(data)
        else:
            frame = _json.loads(data)
    except _json.JSONDecodeError as exc:
        return BadFrame(data, f"not valid JSON ({exc})")
    if type(frame) is not dict:
        # Not an itty envelope (a raw server); the whole value is the payload.
        return Message(frame)
    # frame.get(...) each time, not a bound `get`: the interpreter calls a method it
    # looks up in place faster than a bound method object.
    kind = frame.get("type")
    if not kind:
        uid = frame.get("uid")
        alias = frame.get("alias")
        date = frame.get("date")
        return _received_message(
            frame.get("message"),
            uid if type(uid) is str else None,
            alias if type(alias) is str else None,
            date if type(date) is int else _int(date),
            frame,
        )
    if kind == "join":
        return _join(frame)
    if kind == "leave":
        return _leave(frame)
    if kind == "error":
        return _error(frame)
    name = kind if type(kind) is str else _json.stringify(kind)
    return Signal(name, _int(frame.get("date")), frame)
