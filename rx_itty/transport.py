"""The transport seam: how a socket opens a WebSocket, as protocols only.

The seam is shaped like the browser ``WebSocket`` the JS client is written
against: :meth:`Transport.open` starts connecting and returns a :class:`Link`
at once; the :class:`TransportListener` then hears ``on_open``, each frame, and
exactly one ``on_close``. Implementations:

- :class:`rx_itty.asyncio.WebsocketsTransport`, on the ``websockets`` package
  (the default; ``from rx_itty.transport import WebsocketsTransport`` still works);
- :class:`rx_itty.testing.MemoryRelay` and the marble socket's scripted transport,
  for tests in virtual time. Tests replace the transport, never ``websockets``.

What every transport promises (the project's contract tests check each
implementation against these; a new transport joins them with one more parameter):

1. ``open`` returns at once and never calls the listener itself; it raises
   :class:`~rx_itty.exceptions.InvalidOptionError` for a URL no server could
   accept (see :func:`rx_itty.wire.check_url`), which the socket treats as final.
2. Callbacks come later, on the runtime's thread, never from inside ``open``,
   ``send`` or ``close``: ``on_open`` at most once and before any frame, then
   frames in arrival order, then exactly one ``on_close`` per ``open`` however the
   attempt ends (refused, failed, closed by either side, or abandoned by
   ``close()`` while connecting, even in the same tick as ``open``).
3. Nothing after ``on_close``: no frame, no ``on_drain``.
4. ``send`` returns True only if it handed the frame to an open connection; it
   returns False before ``on_open``, after ``close()`` was called, after the
   connection started closing, and while the write buffer is above its
   high-water mark. A refused frame is the caller's to keep; ``on_drain``
   follows once a frame refused for backpressure can be sent. A frame that no
   connection could ever take (text that is not UTF-8: a lone surrogate) is not
   refused but raises :class:`~rx_itty.exceptions.SerializationError` (see
   :func:`rx_itty.wire.check_frame`), at the latest when the connection would
   have taken it; nothing of it is written, and the connection goes on.
5. A listener callback that raises is a bug in the listener: the transport logs it
   with its traceback, closes the connection with 1011 (internal error), reports
   ``on_close`` once, and delivers nothing more.
6. ``close`` may be called any number of times, in any state; only the first counts.
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

    def on_drain(self) -> None:
        """The write buffer drained after ``send`` refused a frame for backpressure."""

    def on_close(self, close: Close) -> None:
        """The connection closed or failed to open; called exactly once per ``open``."""


class Link(Protocol):
    """One connection attempt and, once open, the connection."""

    def send(self, frame: str) -> bool:
        """Write a text frame now if the connection is open and not backed up.

        Returns:
            True if the frame was handed to the open connection; False if it was
            not (not open yet, closing or closed, or the write buffer is above its
            high-water mark: ``on_drain`` follows then).

        Raises:
            SerializationError: no connection could ever take ``frame`` (it is not
                UTF-8); nothing was written.
        """

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Close (or abandon the attempt); ``on_close`` follows. Later calls do nothing."""


class Transport(Protocol):
    """Opens links to a server."""

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Link:
        """Start connecting to ``url``; returns at once.

        The listener is called later, on the runtime's thread, never from
        inside ``open`` itself (the caller has no link to refer to until it returns).

        Raises:
            InvalidOptionError: no server could accept ``url`` (scheme, host, port).
        """


# The websockets implementation moved to rx_itty.asyncio; its old name still imports.
_getattr, __dir__ = lazy_exports(__name__, {"rx_itty.asyncio.transport": ["WebsocketsTransport"]})


def __getattr__(name: str) -> Any:
    return _getattr(name)
