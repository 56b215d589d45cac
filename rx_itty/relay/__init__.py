"""A wire-compatible itty-sockets relay: a pure core, a ``websockets`` server, embedding helpers.

- :class:`Relay` — the server, as an async context manager yielding its URL.
- :func:`start_relay_thread` — the same on a background thread, for scripts and notebooks.
- :class:`RelayConfig`, :class:`Limits`, :class:`NamespaceKeys` — configuration.
- :class:`BackplaneConfig`, :func:`open_backplane` — several relays as one, on Redis.
- :class:`RelayCore` — the sans-I/O protocol core the server drives.

Names are imported on first use, so ``import rx_itty.relay.core`` loads no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rx_itty._lazy import lazy_exports

if TYPE_CHECKING:
    from rx_itty.relay.backplane import (
        Backplane as Backplane,
    )
    from rx_itty.relay.backplane import (
        LocalBackplane as LocalBackplane,
    )
    from rx_itty.relay.backplane import (
        open_backplane as open_backplane,
    )
    from rx_itty.relay.config import (
        BackplaneConfig as BackplaneConfig,
    )
    from rx_itty.relay.config import (
        Limits as Limits,
    )
    from rx_itty.relay.config import (
        NamespaceKeys as NamespaceKeys,
    )
    from rx_itty.relay.config import (
        RelayConfig as RelayConfig,
    )
    from rx_itty.relay.config import (
        load_config as load_config,
    )
    from rx_itty.relay.core import RelayCore as RelayCore
    from rx_itty.relay.embed import (
        RelayThread as RelayThread,
    )
    from rx_itty.relay.embed import (
        start_relay_thread as start_relay_thread,
    )
    from rx_itty.relay.server import Relay as Relay

__all__ = [
    "Backplane",
    "BackplaneConfig",
    "Limits",
    "LocalBackplane",
    "NamespaceKeys",
    "Relay",
    "RelayConfig",
    "RelayCore",
    "RelayThread",
    "load_config",
    "open_backplane",
    "start_relay_thread",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rx_itty.relay.backplane": ["Backplane", "LocalBackplane", "open_backplane"],
        "rx_itty.relay.config": [
            "BackplaneConfig",
            "Limits",
            "load_config",
            "NamespaceKeys",
            "RelayConfig",
        ],
        "rx_itty.relay.core": ["RelayCore"],
        "rx_itty.relay.embed": ["RelayThread", "start_relay_thread"],
        "rx_itty.relay.server": ["Relay"],
    },
)
