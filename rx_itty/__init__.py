"""rx_itty: a ReactiveX client for the itty-sockets realtime protocol, and a relay.

The pieces available today:

- :mod:`rx_itty.wire` — URL building, frame encoding and decoding (no I/O).
- :mod:`rx_itty.events` — the frozen event values a channel carries.
- :mod:`rx_itty.relay` — a wire-compatible relay (``python -m rx_itty serve``).
"""

from __future__ import annotations

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
)
from rx_itty.exceptions import (
    InvalidOptionError,
    IttyError,
    RelayConfigError,
    SerializationError,
)
from rx_itty.relay import Relay, RelayConfig, start_relay_thread
from rx_itty.wire import build_url, decode_frame, encode_frame

__all__ = [
    "BadFrame",
    "Event",
    "InvalidOptionError",
    "IttyError",
    "Join",
    "Leave",
    "Message",
    "Relay",
    "RelayConfig",
    "RelayConfigError",
    "SerializationError",
    "ServerError",
    "Signal",
    "Uid",
    "User",
    "build_url",
    "decode_frame",
    "encode_frame",
    "start_relay_thread",
]

__version__ = "0.1.0"
