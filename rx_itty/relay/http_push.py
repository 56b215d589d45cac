"""HTTP push: ``POST /c/<channel>`` with the JSON message as the body and an ``x-send-key`` header.

``websockets`` only answers GET upgrades on its port, so pushes get a listener of
their own, an HTTP/1.1 server on ``h11``: keep-alive, ``Expect: 100-continue``
(curl's default for larger bodies), ``Content-Length`` or chunked bodies::

    curl -X POST -H 'x-send-key: KEY' -d '{"type":"alert"}' http://127.0.0.1:8081/c/myapp:alerts

It applies the WebSocket port's limits: request line (414), header count and
size (431), channel name length (400), bans and new connections per second per
client address (429, the address read through the trusted proxies). The path,
those limits and the send key are checked before the body is read, so a push
that would be refused costs nothing and is answered at once. Each request,
including writing its answer, and each idle keep-alive connection have a
deadline, and the listener holds at most ``max_push_connections`` connections,
so a client that never reads, or never finishes, cannot hold the port.

Every answer is JSON, ``{"ok": bool, "status": int, "message": str}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Protocol, final

import h11

from rx_itty import _json
from rx_itty._logging import without_query
from rx_itty.relay.config import Limits
from rx_itty.relay.core import Refusal
from rx_itty.relay.proxy import TrustedProxies

__all__ = ["HttpPushListener"]

logger = logging.getLogger("rx_itty.relay")

_DEADLINE_SECONDS = 10.0  # per request, and for an idle keep-alive connection
_READ_SIZE = 65536
_HEAD_READ_SIZE = 4096
_DISCARD_BYTES = 4 * 1024 * 1024
_DISCARD_SECONDS = 2.0
_SEND_KEY = b"x-send-key"

PushHandler = Callable[[str, bytes, str | None, float], Awaitable[tuple[int, str]]]
"""``(path, body, send_key, now) -> (status, reason)``; the relay delivers as it answers."""


class PushGate(Protocol):
    """The checks a push passes before its body is read (the core's ``check_push``)."""

    def __call__(
        self, path: str, send_key: str | None, ip: str | None, now: float, *, new_connection: bool
    ) -> Refusal | None:
        """``None`` to read the body; ``now`` is monotonic."""
        ...


class _Refused(Exception):
    """Answer with this status and reason, then close (the request was not read to its end)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _header_text(value: bytes) -> str:
    """A header value as the client meant it: UTF-8 (as a query is), else Latin-1."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


async def _discard_rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read what the client is still sending (an unread body makes close send a reset,
    and the client would lose our answer), within a byte and time budget."""
    if writer.can_write_eof():
        writer.write_eof()
    budget = _DISCARD_BYTES
    async with asyncio.timeout(_DISCARD_SECONDS):
        while budget > 0:
            chunk = await reader.read(min(budget, _READ_SIZE))
            if not chunk:
                return
            budget -= len(chunk)


def _answer_body(status: int, reason: str) -> bytes:
    """Every answer's JSON body."""
    return _json.dumps_bytes({"ok": status == 200, "status": status, "message": reason})


def _refusal(status: int, reason: str) -> bytes:
    """A complete ``Connection: close`` answer, for a connection h11 never parsed."""
    body = _answer_body(status, reason)
    phrase = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_TOO_MANY = _refusal(503, "Too many push connections: try again shortly.")


@final
class _Exchange:
    """One client connection: h11's state machine fed from a stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: int):
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=head)
        self.requests = 0
        self.path: str | None = None
        """The current request's target, once its head is in."""
        self.ip: str | None = None
        """The current request's client address, once read (through the trusted proxies)."""

    async def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        """The next event from the client (never NEED_DATA: that is waited for here)."""
        while (event := self.conn.next_event()) is h11.NEED_DATA:
            # h11 bounds an incomplete head only: feed a head in small pieces, so one
            # that is too large is caught whole, not parsed because it came in one read.
            size = _HEAD_READ_SIZE if self.conn.their_state is h11.IDLE else _READ_SIZE
            self.conn.receive_data(await self.reader.read(size))
        return event

    async def body(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            event = await self.next_event()
            if isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            if not isinstance(event, h11.Data):
                raise _Refused(400, "The request body ended early.")
            size += len(event.data)
            if size > limit:
                raise _Refused(413, f"Message exceeds {limit} bytes.")
            parts.append(event.data)

    def answer(self, status: int, reason: str, close: bool) -> None:
        body = _answer_body(status, reason)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if close:
            headers.append(("Connection", "close"))
        phrase = HTTPStatus(status).phrase.encode()
        send = self.conn.send
        data = send(h11.Response(status_code=status, headers=headers, reason=phrase))
        self.writer.write(data + send(h11.Data(data=body)) + send(h11.EndOfMessage()))


@final
class HttpPushListener:
    """Accepts HTTP pushes and hands them to ``handle(path, body, send_key, now)``.

    Args:
        handle: The relay's push entry point; delivers and returns (status, reason).
        gate: What a push must pass before its body is read (the relay core's
            ``check_push``), with the client's address and a monotonic ``now``.
        limits: ``max_frame_bytes`` bounds the body (413; ``None``: 16 MiB), the
            request line, header count and head size are bounded as for handshakes,
            and ``max_push_connections`` connections are served at once (503 past it).
        proxies: Whose forwarded-for header names the client.
        deadline: Seconds each request (answer included) and each idle keep-alive
            connection may take.
    """

    def __init__(
        self,
        handle: PushHandler,
        gate: PushGate,
        limits: Limits,
        proxies: TrustedProxies | None = None,
        *,
        deadline: float = _DEADLINE_SECONDS,
    ) -> None:
        self._handle = handle
        self._gate = gate
        self._limits = limits
        self._max_body = (
            16 * 1024 * 1024 if limits.max_frame_bytes is None else limits.max_frame_bytes
        )
        self._max_head = limits.max_header_bytes or 16384
        self._proxies = proxies or TrustedProxies()
        self._deadline = deadline
        self._connections = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop listening and wait for requests in progress."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cap = self._limits.max_push_connections
        if cap is not None and self._connections >= cap:
            writer.write(_TOO_MANY)
            with contextlib.suppress(OSError, TimeoutError):
                await _discard_rest(reader, writer)
            writer.close()
            return
        self._connections += 1
        exchange = _Exchange(reader, writer, self._max_head)
        try:
            while await self._one_request(exchange):
                exchange.conn.start_next_cycle()
        except (OSError, h11.LocalProtocolError):
            pass  # the client reset or broke the connection: nothing left to answer
        finally:
            self._connections -= 1
            writer.close()

    async def _one_request(self, exchange: _Exchange) -> bool:
        """Answer one request; True if the connection can carry another."""
        conn = exchange.conn
        exchange.path = exchange.ip = None
        try:
            async with asyncio.timeout(self._deadline):
                event = await exchange.next_event()
                if not isinstance(event, h11.Request):
                    return False  # the client closed an idle connection
                path, body, send_key = await self._read_push(exchange, event)
            # Outside the deadline, which bounds the client: the push may wait on the
            # backplane, and once delivered it must not be answered as a timeout.
            status, reason = await self._handle(path, body, send_key, time.time())
        except TimeoutError:
            if conn.our_state is not h11.SEND_RESPONSE:
                return False  # idle, or no request line yet: nothing to answer
            status, reason, unread = 408, "Request took too long.", True
        except _Refused as refused:
            status, reason, unread = refused.status, refused.reason, True
        except h11.RemoteProtocolError as bad:  # h11 still lets us answer it
            status = bad.error_status_hint
            reason = "Request headers too large." if status == 431 else "Malformed HTTP request."
            unread = True
        else:
            unread = conn.their_state is not h11.DONE
        if status != 200 and exchange.path is not None:  # one line, as for handshakes
            logger.info(
                "refused push from %s to %s: %d %s",
                exchange.ip,
                without_query(exchange.path),
                status,
                reason,
            )
        close = unread or conn.their_state is h11.MUST_CLOSE
        exchange.answer(status, reason, close)
        try:
            async with asyncio.timeout(self._deadline):  # a client that never reads
                await exchange.writer.drain()
        except TimeoutError:
            exchange.writer.transport.abort()
            return False
        if close:
            with contextlib.suppress(OSError, TimeoutError):
                await _discard_rest(exchange.reader, exchange.writer)
            return False
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _read_push(
        self, exchange: _Exchange, request: h11.Request
    ) -> tuple[str, bytes, str | None]:
        """Check the request, then read its body: ``(path, body, send_key)``."""
        exchange.requests += 1
        path = exchange.path = request.target.decode("ascii", "replace")
        limits = self._limits
        line = len(request.method) + len(request.target) + len(b"  HTTP/1.1")
        if limits.max_request_line_bytes is not None and line > limits.max_request_line_bytes:
            raise _Refused(414, "Request line too long.")
        if limits.max_header_count is not None and len(request.headers) > limits.max_header_count:
            raise _Refused(431, "Too many request headers.")
        if request.method != b"POST":
            raise _Refused(405, "Use POST /c/<channel> with a JSON body.")
        keys = [value for name, value in request.headers if name == _SEND_KEY]
        if len(keys) > 1:
            raise _Refused(400, "x-send-key is given more than once: send it once.")
        send_key = _header_text(keys[0]) if keys else None
        peer = exchange.writer.get_extra_info("peername")
        forwarded = self._forwarded(request)
        ip = exchange.ip = self._proxies.client_address(peer[0] if peer else None, forwarded)
        refusal = self._gate(
            path, send_key, ip, time.monotonic(), new_connection=exchange.requests == 1
        )
        if refusal is not None:
            raise _Refused(refusal.status, refusal.reason)
        headers = dict(request.headers)
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            raise _Refused(411, "A Content-Length header (or a chunked body) is required.")
        if length is not None and int(length) > self._max_body:
            raise _Refused(413, f"Message exceeds {self._max_body} bytes.")
        conn = exchange.conn
        if conn.they_are_waiting_for_100_continue:
            exchange.writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        return path, await exchange.body(self._max_body), send_key

    def _forwarded(self, request: h11.Request) -> list[str]:
        name = self._proxies.header.lower().encode()
        return [value.decode("latin-1") for header, value in request.headers if header == name]
