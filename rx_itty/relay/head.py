"""The handshake's request head, read within the relay's limits by either engine.

``websockets`` reads the request line and each header line with
:meth:`~websockets.streams.StreamReader.read_line`, bounding each line at 8 KiB
and their count at 128, about 1 MiB in all. :class:`BoundedReader` applies the
relay's :class:`~rx_itty.relay.config.Limits` instead (request line 414; header
count and total size 431), before anything is buffered past them, so an oversize
handshake costs no lasting memory. The ``websockets`` engine puts it under its
connections' parser; the ``picows`` engine reads its heads with
:class:`RequestHead`, the same reader and the same ``websockets`` request parser,
so both engines accept and refuse exactly the same handshakes::

    head = RequestHead(limits)
    request = head.feed(data)        # None until the blank line; then the Request,
                                     # or the Response refusing a head over a limit
    head.rest                        # bytes that came after the head
"""

from __future__ import annotations

from collections.abc import Generator
from typing import final

from websockets.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    RequestLineTooLong,
    TooManyHeaders,
)
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

from rx_itty.relay.config import Limits

__all__ = ["BoundedReader", "RequestHead", "is_upgrade"]


class BoundedReader(StreamReader):
    """``websockets``' stream reader, with the relay's limits on the request head."""

    # One per connection, for its whole life: its own fields take no dict.
    __slots__ = ("_bytes", "_lines", "_max_bytes", "_max_count", "_max_line")

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._max_line = limits.max_request_line_bytes
        self._max_count = limits.max_header_count
        self._max_bytes = limits.max_header_bytes
        self._lines = 0
        self._bytes = 0

    def read_line(
        self, m: int, too_long_exc_type: type[Exception] = RuntimeError
    ) -> Generator[None, None, bytearray]:
        first = self._lines == 0
        limit = m
        if first and self._max_line is not None:
            # + CRLF. It replaces websockets' own bound (8192 bytes with the CRLF),
            # so the default 8192-byte limit means 8192 bytes of request line.
            limit = self._max_line + 2
        budget = None if self._max_bytes is None else self._max_bytes - self._bytes
        if budget is not None and budget < limit:
            limit = budget
        try:
            line = yield from super().read_line(max(limit, 0), too_long_exc_type)
        except too_long_exc_type:
            # Say which of our limits it was; websockets' own message counts bytes read.
            if budget is not None and limit == budget:
                raise HeaderLineTooLong(f"request head exceeds {self._max_bytes} bytes") from None
            if first and self._max_line is not None and limit == self._max_line + 2:
                raise RequestLineTooLong(
                    f"request line exceeds {self._max_line} bytes; use a shorter URL"
                ) from None
            raise
        self._lines += 1
        self._bytes += len(line)
        # Neither the request line nor the blank line ending the head is a header.
        headers = self._lines - 1 if line != b"\r\n" else self._lines - 2
        if self._max_count is not None and headers > self._max_count:
            raise TooManyHeaders(f"more than {self._max_count} request headers")
        return line


@final
class RequestHead:
    """Parses one handshake's request head as it arrives, within ``limits``.

    :meth:`feed` raises what ``websockets``' parser raises for anything that is not
    a valid HTTP/1.1 request head (``ValueError``, ``NotImplementedError``, ...),
    which ``websockets`` answers with no response at all.
    """

    def __init__(self, limits: Limits) -> None:
        self._reader = BoundedReader(limits)
        self._parser = Request.parse(self._reader.read_line)
        self.rest = b""

    def feed(self, data: bytes) -> Request | Response | None:
        """Take the next bytes of the connection.

        Returns:
            ``None`` until the head is in; then the request, or, for a request line
            (414) or headers (431) over a limit, the response ``websockets`` sends.
        """
        self._reader.feed_data(data)
        try:
            next(self._parser)
        except StopIteration as done:
            self.rest = bytes(self._reader.buffer)
            request: Request = done.value
            return request
        except RequestLineTooLong as exc:
            return _refusal(414, exc)
        except (HeaderLineTooLong, TooManyHeaders) as exc:
            return _refusal(431, exc)
        return None


def _refusal(status: int, exc: Exception) -> Response:
    # What websockets' server answers a head over a limit with, word for word.
    return ServerProtocol().reject(status, f"Failed to open a WebSocket connection: {exc}.\n")


def is_upgrade(protocol: ServerProtocol, request: Request) -> bool:
    """Whether ``websockets`` will upgrade ``request``: it answers any other (400, 405...).

    Checked by ``websockets``' own code (``protocol`` is left as it was), so the
    relay can skip work (a backplane's round trip) for a request refused anyway.
    """
    try:
        protocol.process_request(request)
    except InvalidHandshake:
        return False
    return True
