"""The events a channel carries, as frozen values.

A server frame decodes into exactly one of these (see :func:`rx_itty.wire.decode_frame`):

- :class:`Message` — a user message (broadcast, echo or direct message). Its
  ``message`` is the sender's JSON payload; ``m["text"]`` reads an object
  payload's field, the envelope winning on a clash.
- :class:`Join`, :class:`Leave`, :class:`ServerError` — system events, classified
  *only* from the envelope's top-level ``type``, so a payload ``{"type": "join"}``
  is a :class:`Message`, never a :class:`Join`.
- :class:`Signal` — a frame with some other top-level ``type`` (raw-mode servers).
- :class:`BadFrame` — something that could not be decoded. It is a value, not an
  exception: remote garbage never raises out of the decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    NewType,
    TypeAlias,
    TypeVar,
    final,
)

__all__ = [
    "BadFrame",
    "Close",
    "Diagnostic",
    "Event",
    "Join",
    "Leave",
    "ListenerError",
    "Message",
    "Open",
    "PayloadError",
    "SendError",
    "ServerError",
    "Signal",
    "Uid",
    "User",
]

Uid = NewType("Uid", str)
"""A connection id assigned by the relay; opaque, unique within a channel."""

T = TypeVar("T")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _no_fields() -> Mapping[str, Any]:
    return _EMPTY


# Envelope-owned keys: a payload can never supply these through the merged
# view, even when the envelope lacks them (a payload "alias" would otherwise
# impersonate a sender who set none).
_ENVELOPE_KEYS = frozenset(("uid", "alias", "date", "message"))


@final
@dataclass(frozen=True, slots=True)
class User:
    """One announced connection in a ``list=true`` join snapshot."""

    uid: Uid
    alias: str | None = None
    is_self: bool = False


@final
@dataclass(frozen=True, slots=True)
class Message(Generic[T]):
    """A user message: the sender's payload in its envelope.

    Attributes:
        message: The payload exactly as sent (any JSON value), or a decoded model.
        uid: The sender's uid; ``None`` for HTTP-pushed or raw-server frames.
        alias: The sender's alias, if it set one.
        date: Server timestamp, milliseconds since the Unix epoch.
        raw: The decoded frame as received, for fields this class does not name.
    """

    message: T
    uid: Uid | None = None
    alias: str | None = None
    date: int | None = None
    raw: Mapping[str, Any] = field(default_factory=_no_fields, repr=False, compare=False)

    @property
    def type(self) -> str | None:
        """The payload's ``type`` field, when the payload is an object with a string one."""
        payload: Any = self.message
        if type(payload) is dict:
            kind = payload.get("type")
            if type(kind) is str:
                return kind
        return None

    def __getitem__(self, key: str) -> Any:
        """Read a field of the merged event, as the JS client merges it, the envelope winning.

        ``uid``, ``alias``, ``date`` and ``message`` always come from the
        envelope; any other key comes from the frame, then from an object payload.

        Raises:
            KeyError: neither the envelope nor an object payload has ``key``.
        """
        if key in _ENVELOPE_KEYS:
            value = self.message if key == "message" else getattr(self, key)
            if value is None and key not in self.raw:
                raise KeyError(key)
            return value
        if key in self.raw:
            return self.raw[key]
        payload: Any = self.message
        if type(payload) is dict and key in payload:
            return payload[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """Like :meth:`__getitem__`, returning ``default`` for a missing key."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True


_MESSAGE_FIELDS = ("message", "uid", "alias", "date", "raw")


class _MessageSlots(Generic[T]):
    """:class:`Message`'s layout, writable: the decoder fills one, then makes it a Message."""

    __slots__ = _MESSAGE_FIELDS


def _received_message(
    message: Any, uid: str | None, alias: str | None, date: int | None, raw: Mapping[str, Any]
) -> Message[Any]:
    """``Message(message, uid, alias, date, raw)`` for the decoder's hot path.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    and even its slot descriptors, called directly, cost a call each. A plain slotted
    class of the same layout takes plain attribute stores; assigning ``__class__``
    then turns it into the Message it is, in about a quarter of the time. Every
    received message is built here. The arguments are taken as they are: the caller
    has already checked their types.
    """
    event: Any = _MessageSlots()
    event.message = message
    event.uid = uid
    event.alias = alias
    event.date = date
    event.raw = raw
    event.__class__ = Message
    return event  # type: ignore[no-any-return]


# Fail at import, not on the first frame, should Message's layout ever drift from its twin's.
_received_message(None, None, None, None, _EMPTY)


@final
@dataclass(frozen=True, slots=True)
class Join:
    """Someone joined the channel; ``is_self`` marks our own join, always the first frame.

    Attributes:
        total: Connections in the channel after the join (legacy ``users: n`` is mapped here).
        uid: The joiner's uid: always on our own join, on others' only if they announced.
        alias: The joiner's alias, under the same rule (own join: whenever set).
        is_self: True on our own join.
        users: The ``list=true`` snapshot of announced connections, else ``None``.
        date: Server timestamp in milliseconds.
    """

    total: int | None = None
    uid: Uid | None = None
    alias: str | None = None
    is_self: bool = False
    users: tuple[User, ...] | None = None
    date: int | None = None
    raw: Mapping[str, Any] = field(default_factory=_no_fields, repr=False, compare=False)

    type: ClassVar[Literal["join"]] = "join"


@final
@dataclass(frozen=True, slots=True)
class Leave:
    """Someone left; ``uid``/``alias`` are present only if the leaver announced."""

    total: int | None = None
    uid: Uid | None = None
    alias: str | None = None
    date: int | None = None
    raw: Mapping[str, Any] = field(default_factory=_no_fields, repr=False, compare=False)

    type: ClassVar[Literal["leave"]] = "leave"


@final
@dataclass(frozen=True, slots=True)
class ServerError:
    """An ``error`` event from the relay, sent only to the offending connection.

    The text is for humans; do not parse it.
    """

    message: str
    date: int | None = None
    raw: Mapping[str, Any] = field(default_factory=_no_fields, repr=False, compare=False)

    type: ClassVar[Literal["error"]] = "error"


@final
@dataclass(frozen=True, slots=True)
class Signal:
    """A frame whose top-level ``type`` is not a system event (raw-mode servers)."""

    type: str
    date: int | None = None
    raw: Mapping[str, Any] = field(default_factory=_no_fields, repr=False, compare=False)


@final
@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that could not be decoded, and why; reported instead of raised."""

    data: str | bytes
    reason: str


if TYPE_CHECKING:
    Event: TypeAlias = Message[Any] | Join | Leave | ServerError | Signal
else:  # unsubscripted at run time, so that isinstance(x, Event) works
    Event = Message | Join | Leave | ServerError | Signal
"""Any protocol event a channel emits (``isinstance(x, Event)`` works)."""


@final
@dataclass(frozen=True, slots=True)
class Open:
    """Lifecycle: a connection opened (queued sends have just been flushed).

    Attributes:
        url: Where, without the query string (which may hold keys).
    """

    url: str


@final
@dataclass(frozen=True, slots=True)
class Close:
    """Lifecycle: a connection closed, or failed to open.

    Attributes:
        code: WebSocket close code, or ``None`` if no close frame was exchanged.
        reason: Close reason or a description of the failure.
        rejected: The HTTP status if the handshake was refused (e.g. 403).
        reconnecting: True if the socket will reconnect by itself.
    """

    code: int | None = None
    reason: str = ""
    rejected: int | None = None
    reconnecting: bool = False


@final
@dataclass(frozen=True, slots=True)
class PayloadError:
    """A payload that did not fit the model asked for; the message was skipped.

    Attributes:
        event: The message as received.
        model: What it was to be decoded into.
        error: Why decoding failed.
    """

    event: Message[Any]
    model: Any
    error: Exception


@final
@dataclass(frozen=True, slots=True)
class ListenerError:
    """A subscriber raised while handling an event; other subscribers still got it."""

    value: Any
    error: Exception


@final
@dataclass(frozen=True, slots=True)
class SendError:
    """A value pushed into a sink could not be sent (not JSON, queue full, disposed), or a
    queued frame no connection could take was dropped (``value`` is then the frame text)."""

    value: Any
    error: Exception


Diagnostic: TypeAlias = BadFrame | PayloadError | ListenerError | SendError
"""Local trouble reported on ``IttySocket.diagnostics`` instead of killing a stream."""
