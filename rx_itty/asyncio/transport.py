"""The client transport on the ``websockets`` package's asyncio client.

:class:`WebsocketsTransport` implements :class:`rx_itty.transport.Transport`. Each
``open`` starts one task that connects (TCP, TLS, the HTTP upgrade) and ends.
After that the connection lives in websockets' protocol callbacks: a subclass of
its ``ClientConnection`` reports ``on_open`` as the upgrade succeeds and hands
each frame to the listener as websockets parses it, with no queue and no
``recv()`` coroutine per message; a message split into fragments is handed on
whole; ``connection_lost`` reports the one ``on_close``. ``send`` writes
synchronously (frames keep their order with no task per message) and refuses
frames while the write buffer is above ``write_limit``; a task then waits for
the buffer to drain and reports ``on_drain``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, cast, final

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from rx_itty._logging import wire_logger, without_query
from rx_itty.asyncio._link import (
    INVALID_UTF8,
    LINK_SLOTS,
    LinkBase,
    NetworkTransport,
    describe_failure,
)
from rx_itty.asyncio._tls import SSLOption
from rx_itty.events import Close
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode, check_frame

__all__ = ["WebsocketsTransport"]

_logger = wire_logger("rx_itty.client.websockets")


@final
class WebsocketsTransport(NetworkTransport):
    """The default transport, on ``websockets``' asyncio client.

    Args:
        compression: ``"deflate"`` to offer permessage-deflate; off by default
            (about 2x CPU per message and 3x memory per connection).
        open_timeout: Seconds allowed for TCP, TLS and the WebSocket handshake.
        ping_interval: Keepalive ping period in seconds (``None`` disables keepalive).
        ping_timeout: Seconds to wait for a keepalive pong before giving the
            connection up (``None``: no limit).
        close_timeout: Seconds to wait for the server to answer a close (ours, or
            one after a failed keepalive) before dropping the connection.
        max_size: Largest inbound message in bytes; a larger one closes the
            connection with 1009.
        write_limit: High-water mark of the write buffer in bytes: above it ``send``
            refuses frames (the socket keeps them queued) until the buffer drains
            to a quarter of it.
        ssl: For ``wss://`` URLs: an ``ssl.SSLContext``, or the path of a PEM file of
            CA certificates to trust; ``None`` trusts the system's certificates.

    Raises:
        InvalidOptionError: ``ssl`` is neither a context nor a readable CA file.
    """

    __slots__ = ("compression",)

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
        super().__init__(
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            max_size=max_size,
            write_limit=write_limit,
            ssl=ssl,
        )
        self.compression = compression

    def _new_link(self, url: str, listener: TransportListener) -> LinkBase:
        return _WebsocketsLink(self, url, listener)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, InvalidURI):  # its text quotes the whole URL, keys included
        return f"{without_query(exc.uri)} isn't a valid URI: {exc.msg}"
    return describe_failure(exc)


def _final_close(conn: ClientConnection) -> Close:
    """The close frame the peer sent, else the one we sent (e.g. 1009 for a frame too big)."""
    protocol = conn.protocol
    frame = protocol.close_rcvd or protocol.close_sent
    if frame is not None:
        return Close(frame.code, frame.reason)
    return Close(conn.close_code, conn.close_reason or "")


_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PONG = Opcode.PONG


class _Connection(ClientConnection):
    """websockets' client connection, reporting straight to its link.

    ``process_event`` is where websockets hands over each parsed event; the
    link takes every frame there, so nothing waits in websockets' message queue.
    """

    def __init__(self, link: _WebsocketsLink, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.link = link

    def process_event(self, event: Any) -> None:
        if self.response is not None:
            self.link.frame(self, event)
            return
        super().process_event(event)  # the handshake response
        if self.protocol.handshake_exc is None:
            self.link.opened(self)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.link.lost(self)


@final
class _WebsocketsLink(LinkBase):
    __slots__ = (*LINK_SLOTS, "_conn", "_drain", "_transport")

    _log = _logger

    def __init__(self, transport: WebsocketsTransport, url: str, listener: TransportListener):
        super().__init__(url, listener)
        self._transport = transport
        self._conn: ClientConnection | None = None
        self._drain: asyncio.Task[None] | None = None

    def _opened(self) -> bool:
        return self._conn is not None

    def _abort(self) -> None:
        if self._conn is not None:
            self._conn.transport.abort()

    def _start_close(self, code: int, reason: str) -> None:
        if self._conn is not None:
            asyncio.get_running_loop().create_task(self._conn.close(code, reason))

    # -- the connection's callbacks ---------------------------------------------------

    def opened(self, conn: ClientConnection) -> None:
        if self._close_request is not None:  # closed while the upgrade was on its way
            conn.transport.abort()
            self._report(Close(None, "closed before the connection opened"))
            return
        self._conn = conn
        self._report_open()

    def frame(self, conn: ClientConnection, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is _TEXT and frame.fin and self._parts is None:  # the hot path
            try:
                text = str(frame.data, "utf-8")
            except UnicodeDecodeError:
                self._fail(CloseCode.INVALID_DATA, INVALID_UTF8)
                return
            try:  # _deliver(), inline: a call less per frame
                self._receiver.on_frame(text)
            except Exception:
                self._listener_failed()
        elif opcode is _PONG:
            conn.acknowledge_pings(bytes(frame.data))
        elif opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
            # websockets has checked the order of fragments and the size of the message.
            self._gather(opcode is _TEXT, bytes(frame.data), frame.fin)
        # Pings and close frames: websockets' protocol has answered them.

    def lost(self, conn: ClientConnection) -> None:
        if conn is not self._conn:
            return  # an attempt that never opened (refused, redirected): connect() reports it
        if self._drain is not None:
            self._drain.cancel()
        self._report(_final_close(conn))

    # -- the Link ---------------------------------------------------------------------------

    def send(self, frame: str) -> bool:
        conn = self._conn
        if conn is None or self._close_request is not None or conn.protocol.state is not State.OPEN:
            return False
        if conn.paused:  # the write buffer is above write_limit
            self._await_drain(conn)
            return False
        try:
            data = frame.encode()
        except UnicodeEncodeError:
            check_frame(frame)  # raises SerializationError, saying why
            raise
        try:
            conn.protocol.send_text(data)
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
            self._report_drain()

    async def connect(self) -> None:
        transport = self._transport
        # ssl=None would refuse a wss:// URL: leave it out to get the default context.
        tls: dict[str, Any] = {} if transport.ssl is None else {"ssl": transport.ssl}
        try:
            await connect(
                self._url,
                compression=transport.compression,
                open_timeout=transport.open_timeout,
                ping_interval=transport.ping_interval,
                ping_timeout=transport.ping_timeout,
                close_timeout=transport.close_timeout,
                max_size=transport.max_size,
                write_limit=transport.write_limit,
                logger=_logger,
                create_connection=cast(
                    type[ClientConnection], functools.partial(_Connection, self)
                ),
                **tls,
            )
        except asyncio.CancelledError:
            self._abandon("closed before the connection opened")
        except InvalidStatus as exc:
            response = exc.response
            reason = bytes(response.body or b"").decode(errors="replace").strip()
            self._report(Close(None, reason, rejected=response.status_code))
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._abandon(_describe(exc))

    def _abandon(self, reason: str) -> None:
        if self._opened():  # it opened as the attempt was given up: lost() reports
            self._abort()
        else:
            self._report(Close(None, reason))
