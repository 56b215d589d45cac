"""HTTP push: ``POST /c/<channel>`` with the JSON message as the body and an ``x-send-key`` header.

``websockets`` only answers GET upgrades on its port, so pushes get a small
listener of their own: one request per connection, bounded header and body
sizes, and a deadline per request so a slow client cannot hold a slot::

    curl -X POST -H 'x-send-key: KEY' -d '{"type":"alert"}' http://127.0.0.1:8081/c/myapp:alerts
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import final

from rx_itty import _json

__all__ = ["HttpPushListener"]

logger = logging.getLogger("rx_itty.relay")

_MAX_HEAD = 16 * 1024
_DEADLINE_SECONDS = 10.0

PushHandler = Callable[[str, bytes, str | None, float], Awaitable[tuple[int, str]]]
"""``(path, body, send_key, now) -> (status, reason)``; the relay delivers as it answers."""


_DISCARD_BYTES = 4 * 1024 * 1024
_DISCARD_SECONDS = 2.0


async def _discard_rest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read what the client is still sending (an unread body makes close send a reset,
    and the client would lose our answer), within a byte and time budget."""
    if writer.can_write_eof():
        writer.write_eof()
    budget = _DISCARD_BYTES
    async with asyncio.timeout(_DISCARD_SECONDS):
        while budget > 0:
            chunk = await reader.read(min(budget, 65536))
            if not chunk:
                return
            budget -= len(chunk)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@final
class HttpPushListener:
    """Accepts HTTP pushes and hands them to ``handle(path, body, send_key, now)``.

    Args:
        handle: The relay's push entry point; delivers and returns (status, reason).
        max_body: Largest accepted body in bytes (413 above it); ``None`` for 16 MiB.
    """

    def __init__(self, handle: PushHandler, max_body: int | None) -> None:
        self._handle = handle
        self._max_body = 16 * 1024 * 1024 if max_body is None else max_body
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
        try:
            async with asyncio.timeout(_DEADLINE_SECONDS):
                status, reason = await self._respond(reader)
        except _BadRequest as bad:
            status, reason = bad.status, bad.reason
        except TimeoutError:
            status, reason = 408, "Request took too long."
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            return
        body = _json.dumps_bytes({"ok": status == 200, "status": status, "message": reason})
        phrase = HTTPStatus(status).phrase
        writer.write(
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        try:
            await writer.drain()
            await _discard_rest(reader, writer)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[int, str]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "Request headers too large.") from None
        if len(head) > _MAX_HEAD:
            raise _BadRequest(431, "Request headers too large.")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.rpartition(" ")[0] or rest
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method != "POST":
            raise _BadRequest(405, "Use POST /c/<channel> with a JSON body.")
        length = headers.get("content-length")
        if length is None or not (length.isascii() and length.isdigit()):
            raise _BadRequest(411, "A Content-Length header is required.")
        if int(length) > self._max_body:
            raise _BadRequest(413, f"Message exceeds {self._max_body} bytes.")
        body = await reader.readexactly(int(length))
        return await self._handle(path, body, headers.get("x-send-key"), time.time())
