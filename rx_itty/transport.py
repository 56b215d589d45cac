"""The transport seam: how a socket opens a WebSocket, as protocols only.

The seam is shaped like the browser ``WebSocket`` the JS client is written
against: :meth:`Transport.open` starts connecting and returns a :class:`Link`
at once; the :class:`TransportListener` then hears ``on_open``, each frame, and
exactly one ``on_close``. Implementations:

- :class:`rx_itty.asyncio.WebsocketsTransport`, on the ``websockets`` package
  (the default; ``from rx_itty.transport import WebsocketsTransport`` still works);
- :class:`rx_itty.testing.MemoryRelay` and the marble socket's scripted transport,
  for tests in virtual time. Tests replace the transport, never ``websockets``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from rx_itty._lazy import lazy_exports
from rx_itty.wire import CloseCode

if TYPE_CHECKING:
    from rx_itty.events import Close
    from rx_itty.runtime import Runtime

__all__ = ["Link", "Transport", "TransportListener"]


class TransportListener(Protocol):
    """Callbacks a transport makes, always on the runtime's thread."""

    def on_open(self) -> None:
        """The connection is open; frames may be sent."""

    def on_frame(self, data: str | bytes) -> None:
        """One frame arrived."""

    def on_close(self, close: Close) -> None:
        """The connection closed or failed to open; called exactly once per ``open``."""


class Link(Protocol):
    """One connection attempt and, once open, the connection."""

    def send(self, frame: str) -> None:
        """Write a text frame now (only called between ``on_open`` and ``on_close``)."""

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close (or abandon the attempt); ``on_close`` follows."""


class Transport(Protocol):
    """Opens links to a server."""

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Link:
        """Start connecting to ``url``; returns at once.

        The listener is called later, on the runtime's thread, never from
        inside ``open`` itself (the caller has no link to refer to until it returns).
        """


# The websockets implementation moved to rx_itty.asyncio; its old name still imports.
_getattr, __dir__ = lazy_exports(__name__, {"rx_itty.asyncio.transport": ["WebsocketsTransport"]})


def __getattr__(name: str) -> Any:
    return _getattr(name)
