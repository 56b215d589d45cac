"""The client's I/O layer on asyncio: the ``websockets`` transport and the loop runtimes.

This is the only client code that imports ``websockets`` or starts threads:

- :class:`WebsocketsTransport` — the default :class:`rx_itty.transport.Transport`;
- :class:`LoopRuntime`, :func:`current_runtime`, :func:`shared_runtime` — where a
  socket lives: the running loop of the calling thread, else one shared loop thread;
- :func:`run_until_stopped`, :func:`until_stopped` — run a program until Ctrl-C or
  SIGTERM, then close its sockets, flushing what they queued.
"""

from __future__ import annotations

from rx_itty.asyncio.lifetime import run_until_stopped, until_stopped
from rx_itty.asyncio.runtime import (
    LoopRuntime,
    at_exit,
    current_runtime,
    is_shared,
    shared_runtime,
)
from rx_itty.asyncio.transport import WebsocketsTransport

__all__ = [
    "LoopRuntime",
    "WebsocketsTransport",
    "at_exit",
    "current_runtime",
    "is_shared",
    "run_until_stopped",
    "shared_runtime",
    "until_stopped",
]
