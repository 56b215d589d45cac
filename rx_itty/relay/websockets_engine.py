"""The default relay engine: ``websockets``' asyncio server, its connections as links.

:class:`WebsocketsEngine` runs ``websockets.asyncio.server.serve`` for a
:class:`~rx_itty.relay.switchboard.Switchboard`; each connection is a
:class:`RelayConnection`, a ``ServerConnection`` made for relaying. Compared with
the library's own it

- bounds the request head with the relay's limits before ``websockets`` buffers
  and parses it (:class:`~rx_itty.relay.head.BoundedReader`);
- parses no frame before the handshake is accepted: frames a client sends right
  behind its head (in the same TCP segment, even a close) are held back, then
  handled as frames of the open connection (``websockets`` would parse them
  during the handshake, and a close among them would end the connection
  unanswered); reading pauses while the relay decides, so this holds one read;
- hands every complete message to the switchboard as its frames are parsed,
  within the read that brought them (corked: see the switchboard), instead of
  queueing it for a ``recv()`` loop: no per-message wake-up of a task, and no
  receive queue kept per connection;
- takes whole prepared frames in :meth:`RelayConnection.write`, the same bytes
  for every recipient (unless permessage-deflate was negotiated: then each
  message is compressed for its connection);
- writes nothing to a transport that is already closing: asyncio would log a
  warning for every such write, thousands when a busy member vanishes;
- tells the switchboard's backlog when its write buffer backs up or drains, and
  can be closed with any code and cut off after a grace period;
- lets the switchboard's keepalive ping it, rather than a task of its own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar, cast, final

from websockets.asyncio.messages import Assembler
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Event, State

from rx_itty._logging import wire_logger
from rx_itty.exceptions import RelayNotStarted
from rx_itty.relay.config import Limits
from rx_itty.relay.core import Refusal, Ticket
from rx_itty.relay.engine import (
    CLOSE_TIMEOUT,
    LINK_SLOTS,
    MAX_FRAGMENTS,
    SERVER_HEADER,
    TOO_MANY_FRAGMENTS,
    Link,
    invalid_utf8,
    library_max_size,
    start_link,
)
from rx_itty.relay.head import BoundedReader, is_upgrade

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from websockets.server import ServerProtocol

    from rx_itty.relay.switchboard import Switchboard

__all__ = ["RelayConnection", "WebsocketsEngine"]

# websockets' own INFO lines (one per connection opened or closed) become DEBUG:
# the relay logs one line per notable event itself.
_wire_logger = wire_logger("rx_itty.relay.websockets", quiet=True)

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
_PONG, _CLOSE = Opcode.PONG, Opcode.CLOSE
_OPEN_STATE = State.OPEN


class _HeadFirstReader(BoundedReader):
    """A :class:`~rx_itty.relay.head.BoundedReader` that holds back what follows the head.

    ``websockets``' parser goes straight on from the request head to frames, while
    the handshake is still being decided. From the blank line ending the head until
    :meth:`release`, this reader keeps every byte aside, so the parser sees no frame
    before the connection is open. Once ``protocol`` has refused the handshake (it
    sent the end of its stream), nothing is held any more: its parser discards
    whatever comes.
    """

    __slots__ = ("_protocol", "held")

    def __init__(self, limits: Limits, protocol: ServerProtocol) -> None:
        super().__init__(limits)
        self._protocol = protocol
        self.held: bytearray | None = None
        """What came after the head, until :meth:`release`."""

    def read_line(
        self, m: int, too_long_exc_type: type[Exception] = RuntimeError
    ) -> Generator[None, None, bytearray]:
        line = yield from super().read_line(m, too_long_exc_type)
        if line == b"\r\n" and self._lines > 1:  # the blank line that ends the head
            self.held, self.buffer = self.buffer, bytearray()
        return line

    def feed_data(self, data: bytes | bytearray) -> None:
        held = self.held
        if held is None:
            super().feed_data(data)
        elif self._protocol.eof_sent:  # refused: none of it will be handled
            self.held = None
            super().feed_data(data)
        else:
            held += data

    def release(self) -> bytes:
        """Stop holding back; return what was held."""
        held, self.held = self.held, None
        return bytes(held) if held else b""


def _payload(frame: bytes) -> bytes:
    """The payload of one unmasked frame built by :func:`~rx_itty.relay.engine.text_frame`."""
    size = frame[1] & 0x7F
    return frame[2 if size < 126 else 4 if size == 126 else 10 :]


class RelayConnection(ServerConnection, Link):
    """A ``websockets`` server connection as the relay runs it (see the module docstring)."""

    board: ClassVar[Switchboard]
    limits: ClassVar[Limits]
    spent: ClassVar[Assembler]
    """One closed receive queue that every connection points at: messages never queue."""

    # Slots, not instance attributes: websockets' own 27 fill the instance dict's
    # shared keys almost to their limit (29); one more and every dict costs 1.3 KB more.
    __slots__ = (*LINK_SLOTS, "_fragments", "_gone", "_text", "deflate", "ticket")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        start_link(self)
        self.ticket: Ticket | None = None
        """The admitted handshake, until the handler joins with it."""
        self.deflate = False
        """permessage-deflate was negotiated: each message is compressed for this connection."""
        self._fragments: list[bytes] | None = None
        self._text = False
        self._gone: asyncio.Future[None] | None = None
        protocol = self.protocol
        # Nothing has been received yet, so the parser can start over on our reader.
        protocol.reader = _HeadFirstReader(self.limits, protocol)
        protocol.parser = protocol.parse()
        next(protocol.parser)
        # Only close() and send() wait for a drain, and the relay calls neither: a
        # list iterates like websockets' deque, for a tenth of its memory.
        self.drain_waiters = []  # type: ignore[assignment]
        # websockets adds these two in connection_made. Added now, every instance
        # dict has all its keys from the start and shares them with the others; a
        # burst of accepted connections would otherwise give each a dict of its own
        # (1.3 KB more).
        self.recv_messages = self.spent
        self.transport = None  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.recv_messages = self.spent

    # -- reading -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        board = self.board
        corked = board.cork()
        try:
            super().data_received(data)
        finally:
            if corked:
                board.uncork()

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame):  # the handshake request
            super().process_event(event)
            # What follows the head waits for the answer (see _HeadFirstReader): no
            # more is read until the relay has decided, so holding it back costs
            # one read at most (the engine's _process_request reads on).
            self.transport.pause_reading()
            return
        opcode = event.opcode
        if opcode is _TEXT or opcode is _BINARY or opcode is _CONT:
            if event.fin and opcode is not _CONT:
                self._message(opcode is _TEXT, event.data)
            else:
                self._fragment(event)
        elif opcode is _PONG:
            self.board.ponged(self)
        elif opcode is _CLOSE:  # websockets answers it; the member leaves now
            self.board.closed(self)

    def opened(self) -> None:
        """The handshake is accepted: handle what came after the head, then what comes next."""
        rest = cast(_HeadFirstReader, self.protocol.reader).release()
        if rest:
            self.data_received(rest)

    def _message(self, text: bool, data: Any) -> None:
        if not text:
            self.board.receive(self, bytes(data))
            return
        try:
            message = str(data, "utf-8")
        except UnicodeDecodeError as exc:
            self.board.close(self, CloseCode.INVALID_DATA, invalid_utf8(exc))
            return
        self.board.receive(self, message)

    def _fragment(self, frame: Frame) -> None:
        # websockets checks the sequence and the total size; this gathers, and counts.
        if frame.opcode is not _CONT:
            self._text = frame.opcode is _TEXT
            self._fragments = []
        parts = self._fragments
        if parts is None:  # the rest of a message refused for its fragments
            return
        parts.append(bytes(frame.data))
        if len(parts) > MAX_FRAGMENTS:
            self._fragments = None
            self.board.close(self, CloseCode.MESSAGE_TOO_BIG, TOO_MANY_FRAGMENTS)
        elif frame.fin:
            data, self._fragments = b"".join(parts), None
            self._message(self._text, data)

    # -- the switchboard's link ----------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write complete frames (nothing once the closing handshake started, or the transport
        is closing)."""
        if self.protocol.state is not _OPEN_STATE or self.transport.is_closing():
            return
        if self.deflate:  # one frame per write: the switchboard never corks then
            self.protocol.send_text(_payload(data))
            self.send_data()
        else:
            self.transport.write(data)

    def buffered(self) -> int:
        """Bytes written to this connection that the peer has not taken yet."""
        return self.transport.get_write_buffer_size()

    def send_ping(self) -> None:
        """Send a keepalive ping."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_ping(b"")
            self.send_data()

    def shut(self, code: int, reason: str) -> None:
        """Send a close frame, behind everything the peer has not read; unlike ``close()``,
        it does not wait."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self.send_data()

    def abort(self) -> None:
        """Cut the TCP connection now."""
        self.transport.abort()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    # -- transport callbacks ---------------------------------------------------------

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
        self.board.backlog.paused(self)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.board.backlog.resumed(self)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.board.gone(self)
        finally:  # the handler waits for this, whatever happened above
            super().connection_lost(exc)
            if self._gone is not None and not self._gone.done():
                self._gone.set_result(None)

    async def wait_gone(self) -> None:
        """Return once the connection is lost (cheaper than ``wait_closed()``: no shield)."""
        if self.protocol.state is not State.CLOSED:
            self._gone = self.loop.create_future()
            await self._gone


@final
class WebsocketsEngine:
    """Runs a relay's sockets on ``websockets``; see the module docstring."""

    __slots__ = ("_board", "_server")

    def __init__(self, board: Switchboard) -> None:
        self._board = board
        self._server: Server | None = None

    async def listen(self, host: str, port: int) -> None:
        board = self._board
        config = board.config

        class Connection(RelayConnection):
            __slots__ = ()

        Connection.board = board
        Connection.limits = config.limits
        Connection.spent = Assembler()
        Connection.spent.close()
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            compression="deflate" if config.compression else None,
            max_size=library_max_size(config.limits.max_frame_bytes),
            server_header=SERVER_HEADER,
            logger=_wire_logger,
            create_connection=Connection,
            ping_interval=None,  # the switchboard's keepalive pings every link
            close_timeout=CLOSE_TIMEOUT,
        )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RelayNotStarted("the relay is not started: use 'async with Relay()'")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    def links(self) -> Iterable[Link]:
        return (
            () if self._server is None else cast("set[RelayConnection]", self._server.connections)
        )

    async def aclose(self, code: int, reason: str) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close(close_connections=False)
        for conn in server.connections:
            self._board.close(cast(RelayConnection, conn), code, reason)
        await server.wait_closed()

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        board = self._board
        # A closed uvloop transport has no peer address (it raises), but this one
        # cannot have closed yet: reading paused with the head, so a reset right
        # after it is noticed only once the relay has decided.
        peer = conn.remote_address[0] if conn.remote_address else None
        forwarded = request.headers.get_all(board.proxies.header)
        try:
            verdict = await board.admit(
                request.path, peer, forwarded, lambda: is_upgrade(conn.protocol, request)
            )
        finally:
            # websockets answers as soon as this returns, with no await in between:
            # what is read from now on comes after the answer (accepted: held until
            # the handler opens the link; refused: discarded, up to the peer's close).
            conn.transport.resume_reading()
        if isinstance(verdict, Refusal):
            return conn.respond(verdict.status, verdict.reason + "\n")
        cast(RelayConnection, conn).ticket = verdict
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        assert isinstance(conn, RelayConnection)
        ticket, conn.ticket = conn.ticket, None
        assert ticket is not None
        conn.deflate = bool(conn.protocol.extensions)
        # The relay has read all it needs from the handshake. The request stays
        # referenced by websockets' parser for the connection's life: not its headers.
        if conn.request is not None:
            conn.request.headers.clear()
        conn.request = conn.response = None
        # Frames that came with the head are handled now: held by the switchboard
        # until the join is done (a close among them: then the member leaves).
        conn.opened()
        await self._board.join(conn, ticket)
        await conn.wait_gone()
