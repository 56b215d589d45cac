"""rx_itty: a ReactiveX client for the itty-sockets realtime protocol, and a relay.

A channel is a hot Observable of typed events; sending is an Observer sink::

    from rx_itty import connect
    ch = connect("my-room", alias="Kevin", echo=True)
    ch.on("chat").subscribe(lambda m: print(m.alias, m["text"]))
    ch.send({"type": "chat", "text": "hi"})

The package is layered, and this face imports each name only when it is first used:

- pure: :mod:`rx_itty.events`, :mod:`rx_itty.wire` (the protocol, no I/O),
  :mod:`rx_itty.presence`, :mod:`rx_itty.backoff`, :mod:`rx_itty.models`;
- the reactive socket: :mod:`rx_itty.socket`, :mod:`rx_itty.client` (``connect``),
  :mod:`rx_itty.streams`, and the seams :mod:`rx_itty.transport`, :mod:`rx_itty.runtime`;
- I/O: :mod:`rx_itty.asyncio` (the ``websockets`` transport, loop runtimes) and
  :mod:`rx_itty.relay` (a wire-compatible relay, ``python -m rx_itty serve``);
- tools: :mod:`rx_itty.operators`, :mod:`rx_itty.testing`, :mod:`rx_itty.notebook`,
  :mod:`rx_itty.cli`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rx_itty._lazy import lazy_exports

if TYPE_CHECKING:
    from rx_itty.asyncio.lifetime import run_until_stopped as run_until_stopped
    from rx_itty.asyncio.lifetime import until_stopped as until_stopped
    from rx_itty.backoff import Backoff as Backoff
    from rx_itty.client import connect as connect
    from rx_itty.events import (
        BadFrame as BadFrame,
    )
    from rx_itty.events import (
        Close as Close,
    )
    from rx_itty.events import (
        Diagnostic as Diagnostic,
    )
    from rx_itty.events import (
        Event as Event,
    )
    from rx_itty.events import (
        Join as Join,
    )
    from rx_itty.events import (
        Leave as Leave,
    )
    from rx_itty.events import (
        ListenerError as ListenerError,
    )
    from rx_itty.events import (
        Message as Message,
    )
    from rx_itty.events import (
        Open as Open,
    )
    from rx_itty.events import (
        PayloadError as PayloadError,
    )
    from rx_itty.events import (
        SendError as SendError,
    )
    from rx_itty.events import (
        ServerError as ServerError,
    )
    from rx_itty.events import (
        Signal as Signal,
    )
    from rx_itty.events import (
        Uid as Uid,
    )
    from rx_itty.events import (
        User as User,
    )
    from rx_itty.exceptions import (
        ConnectionFailed as ConnectionFailed,
    )
    from rx_itty.exceptions import (
        HandshakeRejected as HandshakeRejected,
    )
    from rx_itty.exceptions import (
        InvalidOptionError as InvalidOptionError,
    )
    from rx_itty.exceptions import (
        IttyError as IttyError,
    )
    from rx_itty.exceptions import (
        LoopThreadError as LoopThreadError,
    )
    from rx_itty.exceptions import (
        MissingDependency as MissingDependency,
    )
    from rx_itty.exceptions import (
        PayloadMismatch as PayloadMismatch,
    )
    from rx_itty.exceptions import (
        RecordingError as RecordingError,
    )
    from rx_itty.exceptions import (
        RelayConfigError as RelayConfigError,
    )
    from rx_itty.exceptions import (
        RelayNotStarted as RelayNotStarted,
    )
    from rx_itty.exceptions import (
        ReplyTimeout as ReplyTimeout,
    )
    from rx_itty.exceptions import (
        SendQueueFull as SendQueueFull,
    )
    from rx_itty.exceptions import (
        SerializationError as SerializationError,
    )
    from rx_itty.exceptions import (
        SocketDisposed as SocketDisposed,
    )
    from rx_itty.exceptions import (
        StreamOverflow as StreamOverflow,
    )
    from rx_itty.exceptions import (
        StreamTimeout as StreamTimeout,
    )
    from rx_itty.presence import Presence as Presence
    from rx_itty.relay.config import RelayConfig as RelayConfig
    from rx_itty.relay.embed import start_relay_thread as start_relay_thread
    from rx_itty.relay.server import Relay as Relay
    from rx_itty.socket import (
        ConnectionState as ConnectionState,
    )
    from rx_itty.socket import (
        IttySocket as IttySocket,
    )
    from rx_itty.streams import (
        Stream as Stream,
    )
    from rx_itty.streams import (
        aiterate as aiterate,
    )
    from rx_itty.streams import (
        iterate as iterate,
    )
    from rx_itty.wire import (
        build_url as build_url,
    )
    from rx_itty.wire import (
        decode_frame as decode_frame,
    )
    from rx_itty.wire import (
        encode_frame as encode_frame,
    )

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
    "MissingDependency",
    "Open",
    "PayloadError",
    "PayloadMismatch",
    "Presence",
    "RecordingError",
    "Relay",
    "RelayConfig",
    "RelayConfigError",
    "RelayNotStarted",
    "ReplyTimeout",
    "SendError",
    "SendQueueFull",
    "SerializationError",
    "ServerError",
    "Signal",
    "SocketDisposed",
    "Stream",
    "StreamOverflow",
    "StreamTimeout",
    "Uid",
    "User",
    "aiterate",
    "build_url",
    "connect",
    "decode_frame",
    "encode_frame",
    "iterate",
    "run_until_stopped",
    "start_relay_thread",
    "until_stopped",
]

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rx_itty.asyncio.lifetime": ["run_until_stopped", "until_stopped"],
        "rx_itty.backoff": ["Backoff"],
        "rx_itty.client": ["connect"],
        "rx_itty.events": [
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
        ],
        "rx_itty.exceptions": [
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
        ],
        "rx_itty.streams": ["aiterate", "iterate", "Stream"],
        "rx_itty.presence": ["Presence"],
        "rx_itty.relay.config": ["RelayConfig"],
        "rx_itty.relay.embed": ["start_relay_thread"],
        "rx_itty.relay.server": ["Relay"],
        "rx_itty.socket": ["ConnectionState", "IttySocket"],
        "rx_itty.wire": ["build_url", "decode_frame", "encode_frame"],
    },
    submodules=("asyncio", "cli", "notebook", "operators", "relay", "testing"),
)
