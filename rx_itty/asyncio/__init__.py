"""The client's I/O layer on asyncio: the transports and the loop runtimes.

This is the only client code that imports ``websockets`` or ``picows`` or starts threads:

- :class:`WebsocketsTransport` — the :class:`rx_itty.transport.Transport` on ``websockets``;
- :class:`PicowsTransport` — the faster one on ``picows`` (``pip install 'rx_itty[fast]'``),
  imported only when first used;
- :func:`make_transport`, :func:`new_event_loop` — which transport and which loop
  rx_itty picks (the fast extra's when installed; ``$RX_ITTY_TRANSPORT``, ``$RX_ITTY_LOOP``);
- :class:`LoopRuntime`, :func:`current_runtime`, :func:`shared_runtime` — where a
  socket lives: the running loop of the calling thread, else one shared loop thread;
- :func:`run_until_stopped`, :func:`until_stopped` — run a program until Ctrl-C or
  SIGTERM, then close its sockets, flushing what they queued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rx_itty._lazy import lazy_exports
from rx_itty.asyncio.choose import LOOP_ENV, TRANSPORT_ENV, make_transport, new_event_loop
from rx_itty.asyncio.lifetime import run_until_stopped, until_stopped
from rx_itty.asyncio.runtime import (
    LoopRuntime,
    at_exit,
    current_runtime,
    is_shared,
    shared_runtime,
)
from rx_itty.asyncio.transport import WebsocketsTransport

if TYPE_CHECKING:
    from rx_itty.asyncio.picows import PicowsTransport as PicowsTransport

__all__ = [
    "LOOP_ENV",
    "TRANSPORT_ENV",
    "LoopRuntime",
    "PicowsTransport",
    "WebsocketsTransport",
    "at_exit",
    "current_runtime",
    "is_shared",
    "make_transport",
    "new_event_loop",
    "run_until_stopped",
    "shared_runtime",
    "until_stopped",
]

# picows is an optional extra: import it on first use, not with this package.
_getattr, __dir__ = lazy_exports(__name__, {"rx_itty.asyncio.picows": ["PicowsTransport"]})


def __getattr__(name: str) -> Any:
    return _getattr(name)
