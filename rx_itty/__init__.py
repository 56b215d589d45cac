"""rx_itty: a ReactiveX client for the itty-sockets realtime protocol, and a relay.

A channel is a hot Observable of typed events; sending is an Observer sink::

    from rx_itty import connect
    ch = connect("my-room", alias="Kevin", echo=True)
    ch.on("chat").subscribe(lambda m: print(m.alias, m["text"]))
    ch.send({"type": "chat", "text": "hi"})

Modules: :mod:`rx_itty.wire` (the protocol, no I/O), :mod:`rx_itty.events`,
:mod:`rx_itty.relay` (a wire-compatible relay, ``python -m rx_itty serve``).
"""

from __future__ import annotations

from rx_itty.backoff import Backoff
from rx_itty.client import connect
from rx_itty.events import (
    BadFrame,
    Close,
    Diagnostic,
    Event,
    Join,
    Leave,
    ListenerError,
    Message,
    Open,
    PayloadError,
    SendError,
    ServerError,
    Signal,
    Uid,
    User,
)
from rx_itty.exceptions import (
    ConnectionFailed,
    HandshakeRejected,
    InvalidOptionError,
    IttyError,
    LoopThreadError,
    RelayConfigError,
    SendQueueFull,
    SerializationError,
    SocketDisposed,
    StreamOverflow,
)
from rx_itty.iterate import Stream, aiterate, iterate
from rx_itty.presence import Presence
from rx_itty.relay import Relay, RelayConfig, start_relay_thread
from rx_itty.socket import ConnectionState, IttySocket
from rx_itty.wire import build_url, decode_frame, encode_frame

__all__ = [
    "Backoff",
    "BadFrame",
    "Close",
    "ConnectionFailed",
    "ConnectionState",
    "Diagnostic",
    "Event",
    "HandshakeRejected",
    "InvalidOptionError",
    "IttyError",
    "IttySocket",
    "Join",
    "Leave",
    "ListenerError",
    "LoopThreadError",
    "Message",
    "Open",
    "PayloadError",
    "Presence",
    "Relay",
    "RelayConfig",
    "RelayConfigError",
    "SendError",
    "SendQueueFull",
    "SerializationError",
    "ServerError",
    "Signal",
    "SocketDisposed",
    "Stream",
    "StreamOverflow",
    "Uid",
    "User",
    "aiterate",
    "build_url",
    "connect",
    "decode_frame",
    "encode_frame",
    "iterate",
    "start_relay_thread",
]

__version__ = "0.1.0"
