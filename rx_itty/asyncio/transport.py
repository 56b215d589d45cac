"""The client transport on the ``websockets`` package's asyncio client.

:class:`WebsocketsTransport` implements :class:`rx_itty.transport.Transport`: each
``open`` starts one task that connects, reports ``on_open``, feeds every frame to
the listener, and reports exactly one ``on_close`` however the connection ends.
"""

from __future__ import annotations

import asyncio
from typing import final

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import broadcast
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.protocol import State

from rx_itty._logging import wire_logger, without_query
from rx_itty.events import Close
from rx_itty.exceptions import InvalidOptionError
from rx_itty.runtime import Runtime
from rx_itty.transport import Link, TransportListener
from rx_itty.wire import CloseCode

__all__ = ["WebsocketsTransport"]

_logger = wire_logger("rx_itty.client.websockets")


@final
class WebsocketsTransport:
    """The real transport, on ``websockets``' asyncio client.

    Args:
        compression: ``"deflate"`` to offer permessage-deflate; off by default
            (about 2x CPU per message and 3x memory per connection).
        open_timeout: Seconds allowed for the TCP + WebSocket handshake.
        ping_interval: Keepalive ping period in seconds (``None`` disables).
        max_size: Largest inbound frame in bytes.
    """

    def __init__(
        self,
        *,
        compression: str | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        max_size: int = 16 * 1024 * 1024,
    ) -> None:
        self.compression = compression
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.max_size = max_size

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Link:
        loop = runtime.loop
        if loop is None:
            raise InvalidOptionError(
                "WebsocketsTransport needs a runtime with an asyncio loop; with a virtual-time "
                "scheduler, pass an in-memory transport such as rx_itty.testing.MemoryRelay()"
            )
        link = _WebsocketsLink(self, url, listener)
        link.task = loop.create_task(link.run())
        link.task.add_done_callback(link._finished)
        return link


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidURI):  # its text quotes the whole URL, keys included
        return f"{without_query(exc.uri)} isn't a valid URI: {exc.msg}"
    if isinstance(exc, TimeoutError):
        return "timed out opening the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@final
class _WebsocketsLink:
    def __init__(self, transport: WebsocketsTransport, url: str, listener: TransportListener):
        self._transport = transport
        self._url = url
        self._listener = listener
        self._conn: ClientConnection | None = None
        self._close_request: tuple[int, str] | None = None
        self.task: asyncio.Task[None] | None = None
        self._reported = False

    def _report(self, close: Close) -> None:
        if not self._reported:
            self._reported = True
            self._listener.on_close(close)

    def _finished(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs run()'s handlers, and
        # an unexpected exception skips them: either way report the close once.
        error = None if task.cancelled() else task.exception()
        if error is not None:
            _logger.error("connection to %s failed", without_query(self._url), exc_info=error)
            if self._conn is not None:
                self._conn.transport.abort()
            self._report(Close(None, f"connection failed: {error!r}"))
        self._report(Close(None, "closed before the connection opened"))

    def send(self, frame: str) -> None:
        conn = self._conn
        if conn is not None and conn.protocol.state is State.OPEN:
            # Synchronous write: frames keep their order with no task per message.
            broadcast((conn,), frame)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        if self._close_request is not None:
            return
        self._close_request = (code, reason)
        conn = self._conn
        if conn is not None:
            asyncio.get_running_loop().create_task(conn.close(code, reason))
        elif self.task is not None:
            self.task.cancel()  # still connecting: abandon the attempt

    async def run(self) -> None:
        listener = self._listener
        transport = self._transport
        try:
            conn = await connect(
                self._url,
                compression=transport.compression,
                open_timeout=transport.open_timeout,
                ping_interval=transport.ping_interval,
                max_size=transport.max_size,
                logger=_logger,
            )
        except asyncio.CancelledError:
            self._report(Close(None, "closed before the connection opened"))
            return
        except InvalidStatus as exc:
            response = exc.response
            reason = bytes(response.body or b"").decode(errors="replace").strip()
            self._report(Close(None, reason, rejected=response.status_code))
            return
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._report(Close(None, _describe(exc)))
            return
        self._conn = conn
        try:
            listener.on_open()
            if self._close_request is not None:
                await conn.close(*self._close_request)
            # recv() in a loop, not `async for`: the async iterator costs ~2 us a frame.
            recv = conn.recv
            while True:
                listener.on_frame(await recv())
        except ConnectionClosed:
            pass  # the code and reason are read below
        except asyncio.CancelledError:
            conn.transport.abort()
        finally:
            self._report(Close(conn.close_code, conn.close_reason or ""))
