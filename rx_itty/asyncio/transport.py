"""The client transport on the ``websockets`` package's asyncio client.

:class:`WebsocketsTransport` implements :class:`rx_itty.transport.Transport`: each
``open`` starts one task that connects, reports ``on_open``, feeds every frame to
the listener, and reports exactly one ``on_close`` however the connection ends.
``send`` writes synchronously (frames keep their order with no task per message)
and refuses frames while the write buffer is above ``write_limit``; a task then
waits for the buffer to drain and reports ``on_drain``.
"""

from __future__ import annotations

import asyncio
from typing import Any, final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.protocol import State

from rx_itty._logging import wire_logger, without_query
from rx_itty.asyncio._tls import SSLOption, check_tls, client_context
from rx_itty.events import Close
from rx_itty.exceptions import InvalidOptionError
from rx_itty.runtime import Runtime
from rx_itty.transport import Link, TransportListener
from rx_itty.wire import CloseCode, check_url

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
        ping_timeout: Seconds to wait for a keepalive pong before giving the
            connection up (``None``: wait forever).
        close_timeout: Seconds to wait for the server to answer a close (ours, or
            one after a failed keepalive) before dropping the connection.
        max_size: Largest inbound frame in bytes.
        write_limit: High-water mark of the write buffer in bytes: above it ``send``
            refuses frames (the socket keeps them queued) until the buffer drains
            to a quarter of it.
        ssl: For ``wss://`` URLs: an ``ssl.SSLContext``, or the path of a PEM file of
            CA certificates to trust; ``None`` trusts the system's certificates.

    Raises:
        InvalidOptionError: ``ssl`` is neither a context nor a readable CA file.
    """

    def __init__(
        self,
        *,
        compression: str | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        close_timeout: float = 10.0,
        max_size: int = 16 * 1024 * 1024,
        write_limit: int = 64 * 1024,
        ssl: SSLOption = None,
    ) -> None:
        self.compression = compression
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.max_size = max_size
        self.write_limit = write_limit
        self.ssl = client_context(ssl)

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> Link:
        loop = runtime.loop
        if loop is None:
            raise InvalidOptionError(
                "WebsocketsTransport needs a runtime with an asyncio loop; with a virtual-time "
                "scheduler, pass an in-memory transport such as rx_itty.testing.MemoryRelay()"
            )
        check_url(url)
        check_tls(url, self.ssl)
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


def _final_close(conn: ClientConnection) -> Close:
    """The close frame the peer sent, else the one we sent (e.g. 1009 for a frame too big)."""
    protocol = conn.protocol
    frame = protocol.close_rcvd or protocol.close_sent
    if frame is not None:
        return Close(frame.code, frame.reason)
    return Close(conn.close_code, conn.close_reason or "")


@final
class _WebsocketsLink:
    def __init__(self, transport: WebsocketsTransport, url: str, listener: TransportListener):
        self._transport = transport
        self._url = url
        self._listener = listener
        self._conn: ClientConnection | None = None
        self._close_request: tuple[int, str] | None = None
        self._drain: asyncio.Task[None] | None = None
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

    def send(self, frame: str) -> bool:
        conn = self._conn
        if conn is None or self._close_request is not None or conn.protocol.state is not State.OPEN:
            return False
        if conn.paused:  # the write buffer is above write_limit
            self._await_drain(conn)
            return False
        try:
            conn.protocol.send_text(frame.encode())
            conn.send_data()
        except Exception as exc:  # the transport broke under us: on_close follows
            _logger.debug("could not write to %s: %r", without_query(self._url), exc)
            return False
        return True

    def _await_drain(self, conn: ClientConnection) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_task(self._drained(conn))

    async def _drained(self, conn: ClientConnection) -> None:
        try:
            await conn.drain()  # returns once asyncio resumes writing (below write_limit / 4)
        except Exception:
            return  # the connection was lost while paused: on_close follows
        finally:
            self._drain = None
        if not self._reported and conn.protocol.state is State.OPEN:
            try:
                self._listener.on_drain()
            except Exception:
                await self._listener_failed(conn)

    async def _listener_failed(self, conn: ClientConnection) -> None:
        # A listener that raises is a bug on our side of the seam: say so, and
        # end the connection cleanly rather than leave it half-served.
        url = without_query(self._url)
        _logger.exception("a listener failed on %s; closing with 1011", url)
        await conn.close(CloseCode.INTERNAL_ERROR, "internal error")

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
        # ssl=None would refuse a wss:// URL: leave it out to get the default context.
        tls: dict[str, Any] = {} if transport.ssl is None else {"ssl": transport.ssl}
        try:
            conn = await connect(
                self._url,
                compression=transport.compression,
                open_timeout=transport.open_timeout,
                ping_interval=transport.ping_interval,
                ping_timeout=transport.ping_timeout,
                close_timeout=transport.close_timeout,
                max_size=transport.max_size,
                write_limit=transport.write_limit,
                logger=_logger,
                **tls,
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
        except Exception:
            await self._listener_failed(conn)
        finally:
            if self._drain is not None:
                self._drain.cancel()
            self._report(_final_close(conn))
