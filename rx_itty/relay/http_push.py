"""HTTP push: ``POST /c/<channel>`` with the JSON message as the body and an ``x-send-key`` header.

``websockets`` only answers GET upgrades on its port, so pushes get a listener of
their own, an HTTP/1.1 server on ``h11``: keep-alive, ``Expect: 100-continue``
(curl's default for larger bodies), ``Content-Length`` or chunked bodies,
bounded head and body sizes, and a deadline per request so a slow client cannot
hold a slot::

    curl -X POST -H 'x-send-key: KEY' -d '{"type":"alert"}' http://127.0.0.1:8081/c/myapp:alerts

Every answer is JSON, ``{"ok": bool, "status": int, "message": str}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import final

import h11

from rx_itty import _json
from rx_itty._logging import without_query

__all__ = ["HttpPushListener"]

logger = logging.getLogger("rx_itty.relay")

_DEADLINE_SECONDS = 10.0  # per request, and for an idle keep-alive connection
_READ_SIZE = 65536
_HEAD_READ_SIZE = 4096
_DISCARD_BYTES = 4 * 1024 * 1024
_DISCARD_SECONDS = 2.0

PushHandler = Callable[[str, bytes, str | None, float], Awaitable[tuple[int, str]]]
"""``(path, body, send_key, now) -> (status, reason)``; the relay delivers as it answers."""


class _Refused(Exception):
    """Answer with this status and reason, then close (the request was not read to its end)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


@final
class _Exchange:
    """One client connection: h11's state machine fed from a stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: int):
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=head)

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
        body = _json.dumps_bytes({"ok": status == 200, "status": status, "message": reason})
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
        max_body: Largest accepted body in bytes (413 above it); ``None`` for 16 MiB.
        max_head: Largest request head (request line and headers) in bytes (431 above it).
    """

    def __init__(self, handle: PushHandler, max_body: int | None, max_head: int = 16384) -> None:
        self._handle = handle
        self._max_body = 16 * 1024 * 1024 if max_body is None else max_body
        self._max_head = max_head
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
        exchange = _Exchange(reader, writer, self._max_head)
        try:
            while await self._one_request(exchange):
                exchange.conn.start_next_cycle()
        except (ConnectionError, h11.LocalProtocolError):
            pass
        finally:
            writer.close()

    async def _one_request(self, exchange: _Exchange) -> bool:
        """Answer one request; True if the connection can carry another."""
        conn = exchange.conn
        try:
            async with asyncio.timeout(_DEADLINE_SECONDS):
                event = await exchange.next_event()
                if not isinstance(event, h11.Request):
                    return False  # the client closed an idle connection
                path, body, send_key = await self._read_push(exchange, event)
            # Outside the deadline, which bounds the client: the push may wait on the
            # backplane, and once delivered it must not be answered as a timeout.
            status, reason = await self._handle(path, body, send_key, time.time())
            if status != 200:
                logger.info("refused push to %s: %d %s", without_query(path), status, reason)
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
        close = unread or conn.their_state is h11.MUST_CLOSE
        exchange.answer(status, reason, close)
        await exchange.writer.drain()
        if close:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await _discard_rest(exchange.reader, exchange.writer)
            return False
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _read_push(
        self, exchange: _Exchange, request: h11.Request
    ) -> tuple[str, bytes, str | None]:
        """Check the request and read its body: ``(path, body, send_key)``."""
        headers = dict(request.headers)
        if request.method != b"POST":
            raise _Refused(405, "Use POST /c/<channel> with a JSON body.")
        length = headers.get(b"content-length")
        if length is None and b"transfer-encoding" not in headers:
            raise _Refused(411, "A Content-Length header (or a chunked body) is required.")
        if length is not None and int(length) > self._max_body:
            raise _Refused(413, f"Message exceeds {self._max_body} bytes.")
        conn = exchange.conn
        if conn.they_are_waiting_for_100_continue:
            exchange.writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        body = await exchange.body(self._max_body)
        path = request.target.decode("ascii", "replace")
        key = headers.get(b"x-send-key")
        return path, body, None if key is None else key.decode("latin-1")
