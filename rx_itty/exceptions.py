"""The exceptions rx_itty raises.

Every exception derives from :class:`IttyError`, so one ``except IttyError``
catches anything the library raises on purpose::

    IttyError
    ├── InvalidOptionError       (also a ValueError)   bad argument to connect()/serve/an operator
    ├── SerializationError       (also a TypeError)    a message that is not JSON-serialisable
    ├── PayloadMismatch          (also a TypeError)    a payload that does not fit a dataclass model
    ├── RelayConfigError         (also a ValueError)   a bad relay configuration file or value
    ├── RecordingError           (also a ValueError)   a recording file that cannot be read
    ├── ConnectionFailed         (also a ConnectionError)  the socket could not open
    │   └── HandshakeRejected                          the server refused (e.g. 403 join key)
    ├── SendQueueFull            (also a BufferError)  too many sends queued while not open
    ├── StreamOverflow           (also a BufferError)  an iterator's consumer fell too far behind
    ├── StreamTimeout            (also a TimeoutError) no value arrived within an iterator's timeout
    ├── ReplyTimeout             (also a TimeoutError) no reply to a request within its timeout
    ├── SocketDisposed           (also a RuntimeError) the socket was disposed; connect() anew
    ├── LoopThreadError          (also a RuntimeError) a blocking call made on the socket's loop
    ├── RelayNotStarted          (also a RuntimeError) a relay's address read before it listens
    ├── BackplaneUnavailable     (also a ConnectionError)  a relay node cannot reach its Redis
    └── MissingDependency        (also an ImportError) an optional extra is not installed

Messages say what happened and what to do about it, in one line.
"""

from __future__ import annotations

from rx_itty._logging import redact

__all__ = [
    "BackplaneUnavailable",
    "ConnectionFailed",
    "HandshakeRejected",
    "InvalidOptionError",
    "IttyError",
    "LoopThreadError",
    "MissingDependency",
    "PayloadMismatch",
    "RecordingError",
    "RelayConfigError",
    "RelayNotStarted",
    "ReplyTimeout",
    "SendQueueFull",
    "SerializationError",
    "SocketDisposed",
    "StreamOverflow",
    "StreamTimeout",
]


class IttyError(Exception):
    """Root of every exception rx_itty raises on purpose."""


class InvalidOptionError(IttyError, ValueError):
    """An option passed to a public function has the wrong type or value."""


class SerializationError(IttyError, TypeError):
    """A message cannot be encoded as JSON for the wire."""


class PayloadMismatch(IttyError, TypeError):
    """A payload does not fit the dataclass it was decoded into (wrong shape or field type)."""


class RelayConfigError(IttyError, ValueError):
    """The relay configuration is invalid."""


class RecordingError(IttyError, ValueError):
    """A recording of a channel's traffic cannot be read: not a recording, or a bad line."""


class ConnectionFailed(IttyError, ConnectionError):
    """The socket could not be opened (refused, unreachable, timed out)."""


class HandshakeRejected(ConnectionFailed):
    """The server refused the WebSocket handshake with an HTTP status.

    Args:
        url: The URL refused, as it may be shown (without its query).
        status: The HTTP status.
        reason: The server's explanation, if any.
        key_given: A join key was given: a 403 then means it is the wrong one.

    Attributes:
        status: The HTTP status, e.g. 403 for a wrong or missing ``joinKey``.
        reason: The server's explanation, if it sent one, with any ``joinKey`` or
            ``sendKey`` value it quotes masked.
    """

    def __init__(self, url: str, status: int, reason: str = "", *, key_given: bool = False):
        reason = redact(reason)  # the server's text may quote the request, keys included
        self.status = status
        self.reason = reason
        detail = f": {reason.rstrip('.')}" if reason else ""
        hint = _rejection_hint(status, reason, key_given, _LIBRARY_HINTS)
        super().__init__(f"server refused {url} with HTTP {status}{detail}{hint}")


_LIBRARY_HINTS: dict[int | str, str] = {
    403: "pass the channel's join_key",
    "403 given": "the join_key given is not this channel's: check it",
    404: "check the server URL; channels live under /c/",
    429: "slow down and retry later",
    "other": "check the server URL and options",
}


def _rejection_hint(status: int, reason: str, key_given: bool, hints: dict[int | str, str]) -> str:
    """``; what to do`` after a refused handshake, from ``hints`` (by status, ``"403
    given"`` when a join key was given, ``"5xx"``, ``"other"``); ``""`` for a 429 whose
    reason already says when to retry (the relay's does). Shared with the CLI's hints."""
    if status == 429 and reason:
        return ""
    key = "403 given" if status == 403 and key_given else status
    hint = hints.get(key) or (status >= 500 and hints.get("5xx")) or hints["other"]
    return f"; {hint}"


class SendQueueFull(IttyError, BufferError):
    """More sends are queued than ``max_queue`` allows while the socket is not open."""


class StreamOverflow(IttyError, BufferError):
    """An iterator's consumer fell more than its buffer behind a hot stream."""


class StreamTimeout(IttyError, TimeoutError):
    """A blocking iterator waited longer than its ``timeout`` for the next value."""


class ReplyTimeout(IttyError, TimeoutError):
    """A request got no reply within its ``timeout``."""


class SocketDisposed(IttyError, RuntimeError):
    """The socket was disposed (its ``with`` block ended); create a new one with connect()."""


class LoopThreadError(IttyError, RuntimeError):
    """A blocking helper was called on the thread running the socket's event loop."""


class RelayNotStarted(IttyError, RuntimeError):
    """A relay's port or URL was read before it started listening."""


class BackplaneUnavailable(IttyError, ConnectionError):
    """A relay node cannot reach the backplane (Redis) its cluster shares; the message names it."""


class MissingDependency(IttyError, ImportError):
    """A feature needs an optional extra that is not installed; the message names the extra."""
