"""What the two network transports (websockets, picows) share, apart from the library.

- :class:`NetworkTransport`: their options, and the checks ``open`` makes before
  a connection attempt starts;
- :class:`LinkBase`: the half of a link that does not depend on the library:
  exactly one ``on_close``, a listener that raises (logged, 1011, nothing more
  delivered), the connecting task's end;
- :class:`Fragments`: a message split into frames, gathered until its last one.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, final

from rx_itty._logging import without_query
from rx_itty.asyncio._tls import SSLOption, check_tls, client_context
from rx_itty.events import Close
from rx_itty.exceptions import InvalidOptionError
from rx_itty.wire import MAX_FRAGMENTS, TOO_MANY_FRAGMENTS, CloseCode, check_url

if TYPE_CHECKING:
    from rx_itty.runtime import Runtime
    from rx_itty.transport import Link, TransportListener

__all__ = [
    "INVALID_UTF8",
    "LINK_SLOTS",
    "NOBODY",
    "Fragments",
    "LinkBase",
    "NetworkTransport",
    "describe_failure",
]


INVALID_UTF8 = "invalid UTF-8 in a text message"


def describe_failure(exc: BaseException) -> str:
    """One line for what a connection attempt raised, the same from either library."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"  # asyncio's own text names the address, not the cause
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionResetError):
        return "the server reset the connection"
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class NetworkTransport(ABC):
    """What the two network transports share: their options (documented on
    :class:`~rx_itty.asyncio.WebsocketsTransport`) and the checks ``open`` makes.

    Raises:
        InvalidOptionError: ``ssl`` is neither a context nor a readable CA file.
    """

    __slots__ = (
        "close_timeout",
        "max_size",
        "open_timeout",
        "ping_interval",
        "ping_timeout",
        "ssl",
        "write_limit",
    )

    def __init__(
        self,
        *,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        max_size: int = 16 * 1024 * 1024,
        write_limit: int = 64 * 1024,
        ssl: SSLOption = None,
    ) -> None:
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.write_limit = write_limit
        self.ssl = client_context(ssl)

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Link:
        """Start connecting to ``url``; returns at once (see :class:`rx_itty.transport.Transport`).

        Raises:
            InvalidOptionError: no server could accept ``url``, a TLS context was
                given for a ``ws://`` URL, or ``runtime`` has no asyncio loop.
        """
        loop = runtime.loop
        if loop is None:
            raise InvalidOptionError(
                f"{type(self).__name__} needs a runtime with an asyncio loop; with a "
                "virtual-time scheduler, pass an in-memory transport such as "
                "rx_itty.testing.MemoryRelay()"
            )
        check_url(url)
        check_tls(url, self.ssl)
        link = self._new_link(url, listener)
        link.task = loop.create_task(link.connect())
        link.task.add_done_callback(link._connect_ended)
        return link

    @abstractmethod
    def _new_link(self, url: str, listener: TransportListener) -> LinkBase:
        """This transport's link for one attempt at ``url``."""


@final
class Fragments:
    """A message the server split into several frames, gathered until its last one.

    Args:
        text: The first frame was a text frame (the message is UTF-8), not binary.
    """

    __slots__ = ("_parts", "size", "text")

    def __init__(self, text: bool) -> None:
        self.text = text
        self.size = 0
        self._parts: list[bytes] = []

    def __len__(self) -> int:
        """How many fragments came so far."""
        return len(self._parts)

    def add(self, data: bytes) -> None:
        self._parts.append(data)
        self.size += len(data)

    def message(self) -> str | bytes:
        """The whole message: ``str`` for text, ``bytes`` for binary.

        Raises:
            UnicodeDecodeError: a text message that is not UTF-8.
        """
        data = b"".join(self._parts)
        return data.decode() if self.text else data


@final
class _Nobody:
    """Where a link's frames go once its listener has failed or heard the close: nowhere."""

    __slots__ = ()

    def on_frame(self, data: str | bytes) -> None:
        pass


NOBODY = _Nobody()


# The slots every link declares for LinkBase (see its docstring).
LINK_SLOTS = ("_close_request", "_listener", "_parts", "_receiver", "_reported", "_url", "task")


class LinkBase(ABC):
    """The library-independent half of a link; subclasses declare its :data:`LINK_SLOTS`.

    (Its own ``__slots__`` is empty so that the picows link can also derive from
    picows' listener, a C type: two bases with slots of their own cannot be combined.)

    Frames go to ``_receiver``: the listener, or :data:`NOBODY` once the listener
    failed or heard the close, so nothing is delivered after either.
    """

    if not TYPE_CHECKING:  # mypy would hold the subclasses' slots against this empty tuple
        __slots__ = ()

    _log: ClassVar[logging.Logger]

    def __init__(self, url: str, listener: TransportListener) -> None:
        self._url = url
        self._listener = listener
        self._receiver: Any = listener
        self._close_request: tuple[int, str] | None = None
        self._reported = False
        self._parts: Fragments | None = None  # a fragmented message being gathered
        self.task: asyncio.Task[None] | None = None  # connecting

    @abstractmethod
    async def connect(self) -> None:
        """Connect; report a failure as the close. Its task ends once the connection is open."""

    @abstractmethod
    def send(self, frame: str) -> bool:
        """:meth:`rx_itty.transport.Link.send`."""

    @abstractmethod
    def _opened(self) -> bool:
        """True once the connection opened (``on_open`` was due)."""

    @abstractmethod
    def _abort(self) -> None:
        """Drop the open connection at once (its close is reported as it ends)."""

    @abstractmethod
    def _start_close(self, code: int, reason: str) -> None:
        """Start the closing handshake with ``code`` (the connection must be open)."""

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """:meth:`rx_itty.transport.Link.close`: only the first call counts."""
        if self._close_request is not None:
            return
        self._close_request = (code, reason)
        if self._opened():
            self._start_close(code, reason)
        elif self.task is not None:
            self.task.cancel()  # still connecting: abandon the attempt

    def _report(self, close: Close) -> None:
        if not self._reported:
            self._reported = True
            self._receiver = NOBODY
            self._listener.on_close(close)

    def _deliver(self, data: str | bytes) -> None:
        try:
            self._receiver.on_frame(data)
        except Exception:
            self._listener_failed()

    def _report_open(self) -> None:
        """Tell the listener the link is open (a listener that raises closes it with 1011)."""
        try:
            self._listener.on_open()
        except Exception:
            self._listener_failed()

    def _report_drain(self) -> None:
        """Tell the listener the link takes frames again."""
        try:
            self._listener.on_drain()
        except Exception:
            self._listener_failed()

    def _gather(self, text: bool, data: bytes, fin: bool) -> None:
        """Take one frame of a message in fragments; deliver the message after its last."""
        parts = self._parts
        if parts is None:
            parts = self._parts = Fragments(text)
        parts.add(data)
        if not fin:
            if len(parts) >= MAX_FRAGMENTS:  # another one is coming: one too many
                self._fail(CloseCode.MESSAGE_TOO_BIG, TOO_MANY_FRAGMENTS)
            return
        self._parts = None
        try:
            message = parts.message()
        except UnicodeDecodeError:
            self._fail(CloseCode.INVALID_DATA, INVALID_UTF8)
            return
        self._deliver(message)

    def _listener_failed(self) -> None:
        # A listener that raises is a bug on our side of the seam: say so, and
        # end the connection cleanly rather than leave it half-served.
        self._log.exception("a listener failed on %s; closing with 1011", without_query(self._url))
        self._fail(CloseCode.INTERNAL_ERROR, "internal error")

    def _fail(self, code: int, reason: str) -> None:
        """Deliver nothing more, and close with ``code``."""
        self._receiver = NOBODY
        self._parts = None
        self._start_close(code, reason)

    def _connect_ended(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs its own handlers, and
        # an unexpected exception skips them: either way report the close once.
        self.task = None
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self._log.error("connection to %s failed", without_query(self._url), exc_info=error)
            if self._opened():
                self._abort()
            self._report(Close(None, f"connection failed: {error!r}"))
        elif not self._opened():
            self._report(Close(None, "closed before the connection opened"))
