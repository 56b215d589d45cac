"""The relay's ``websockets`` server connection: bounded handshakes, quiet writes, drops.

:func:`connection_type` makes the class a :class:`~rx_itty.relay.Relay` hands to
``websockets.asyncio.server.serve``. Compared with ``ServerConnection`` it

- bounds the request head with the relay's :class:`~rx_itty.relay.config.Limits`
  (request line 414; header count and total size 431), before ``websockets``
  buffers and parses it, so an oversize handshake costs no lasting memory;
- writes nothing to a transport that is already closing: asyncio would log a
  warning for every such write, thousands when a busy member vanishes;
- tells its :class:`~rx_itty.relay.backlog.Backlog` when its write buffer backs
  up or drains, and can be dropped with close code 1013.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    RequestLineTooLong,
    TooManyHeaders,
)
from websockets.http11 import Request
from websockets.protocol import State
from websockets.streams import StreamReader

from rx_itty.relay.config import Limits
from rx_itty.wire import CloseCode

if TYPE_CHECKING:
    from rx_itty.relay.backlog import Backlog

__all__ = ["RelayConnection", "connection_type", "is_upgrade"]


class _BoundedReader(StreamReader):
    """``websockets``' stream reader, with the relay's limits on the request head.

    ``websockets`` reads the request line and each header line with :meth:`read_line`
    (and only those: frames are read by length), bounding each line at 8 KiB and the
    count at 128, about 1 MiB in all. This keeps a running total to bound the whole.
    """

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
            limit = min(limit, self._max_line + 2)  # + CRLF
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


class RelayConnection(ServerConnection):
    """A ``websockets`` server connection as the relay runs it (see the module docstring)."""

    limits: ClassVar[Limits] = Limits()
    backlog: Backlog | None = None
    """Set once the connection joins a channel; it watches the write buffer from then on."""
    member: Any = None
    """The core's member for this connection, once joined."""
    dropped = False
    """Set by :meth:`drop`: the member has left its channel, whatever the peer still sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        protocol = self.protocol
        # Nothing has been received yet, so the parser can start over on our reader.
        protocol.reader = _BoundedReader(self.limits)
        protocol.parser = protocol.parse()
        next(protocol.parser)

    def joined(self, member: Any, backlog: Backlog) -> None:
        """The connection joined as ``member``: ``backlog`` watches its output from now on."""
        self.member = member
        self.backlog = backlog
        if self.paused:  # backed up already while the join went round the backplane
            backlog.paused(self)

    def send_data(self) -> None:
        # After a failed write, asyncio logs "socket.send() raised exception." for
        # every further write until connection_lost runs; a relay writing to a
        # member that just vanished would flood the log. Discard instead.
        if self.transport.is_closing():
            self.protocol.data_to_send()
            return
        super().send_data()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.backlog is not None:
            self.backlog.paused(self)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.backlog is not None:
            self.backlog.resumed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.backlog is not None:
            self.backlog.resumed(self)
        super().connection_lost(exc)

    def buffered(self) -> int:
        """Bytes written to this connection that the peer has not taken yet."""
        return self.transport.get_write_buffer_size()

    def drop(self, reason: str, linger: float | None) -> None:
        """Close with 1013 (try again later), and cut the TCP connection after ``linger``.

        The close frame queues behind everything the peer has not read; a peer that
        resumes reading within ``linger`` seconds gets it, others are cut off then
        (at once with ``None``), which frees the buffer.
        """
        self.dropped = True
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(CloseCode.TRY_AGAIN_LATER, reason)
            self.send_data()
        if linger is None:
            self.transport.abort()
        else:
            self.loop.call_later(linger, self.transport.abort)


def is_upgrade(conn: ServerConnection, request: Request) -> bool:
    """Whether ``websockets`` will upgrade ``request``: it answers any other (400, 405...).

    Checked by ``websockets``' own code, so the relay can skip work (a backplane's
    round trip) for a request that will be refused anyway.
    """
    try:
        conn.protocol.process_request(request)
    except InvalidHandshake:
        return False
    return True


def connection_type(limits: Limits) -> type[RelayConnection]:
    """A :class:`RelayConnection` subclass bound to ``limits`` (``serve`` makes instances)."""

    class _Bound(RelayConnection):
        pass

    _Bound.limits = limits
    return _Bound
