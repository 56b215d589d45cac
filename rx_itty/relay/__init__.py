"""A wire-compatible itty-sockets relay: pure core, ``websockets`` server, embedding helpers.

- :class:`Relay` — the server, as an async context manager yielding its URL.
- :func:`start_relay_thread` — the same on a background thread, for scripts and notebooks.
- :class:`RelayConfig`, :class:`Limits`, :class:`NamespaceKeys` — configuration.
- :class:`RelayCore` — the sans-I/O protocol core the server drives.
"""

from __future__ import annotations

from rx_itty.relay.config import Limits, NamespaceKeys, RelayConfig, load_config
from rx_itty.relay.core import RelayCore
from rx_itty.relay.embed import RelayThread, start_relay_thread
from rx_itty.relay.server import Relay

__all__ = [
    "Limits",
    "NamespaceKeys",
    "Relay",
    "RelayConfig",
    "RelayCore",
    "RelayThread",
    "load_config",
    "start_relay_thread",
]
