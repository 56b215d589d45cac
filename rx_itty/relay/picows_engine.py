"""The fast relay engine: ``picows``' C frame parser, the relay's own handshake.

``picows`` parses and writes WebSocket frames in C, but its server decides a
handshake synchronously and sees neither the peer's address nor a relay's
limits. So each connection starts with :class:`_Handshake`, an asyncio protocol
that reads the request head within the relay's limits (the same reader and
parser as the ``websockets`` engine, so both accept and refuse the same heads),
takes the peer's address from its transport, and awaits the switchboard's
admission (which may ask the backplane). A refusal is answered there, as the
``websockets`` engine answers it; an admitted connection is handed over to a
``picows`` protocol on the same transport, fed the upgrade request it needs, and
from then on its :class:`PicowsLink` hands messages to the switchboard.

Behaviours ``picows`` leaves to its user are done here as the ``websockets``
engine does them: pings are answered, a peer's close is checked and echoed
before the TCP connection is closed, fragmented messages are reassembled (up to
the same size and fragment limits), invalid UTF-8 closes with 1007, reserved
bits close with 1002. A frame ``picows``' parser refuses is closed with the code
and the words ``websockets`` uses (:class:`_ConnectionLog`), and logged at DEBUG
as the ``websockets`` engine logs it. It cannot compress, so a relay with
compression refuses this engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, Final, cast, final

from multidict import CIMultiDict
from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from rx_itty._logging import PICOWS_PARSER_ERROR, wire_logger
from rx_itty.exceptions import RelayNotStarted
from rx_itty.relay.core import Refusal, Ticket
from rx_itty.relay.engine import (
    LINK_SLOTS,
    MAX_FRAGMENTS,
    OPEN_TIMEOUT,
    SERVER_HEADER,
    TOO_MANY_FRAGMENTS,
    Link,
    Phase,
    invalid_utf8,
    library_max_size,
    start_link,
)
from rx_itty.relay.head import RequestHead, is_upgrade

if TYPE_CHECKING:
    from rx_itty.relay.switchboard import Switchboard

__all__ = ["PicowsEngine", "PicowsLink"]

_wire_logger = wire_logger("rx_itty.relay.picows", quiet=True)

# picows' read buffer starts this small (its minimum) and grows with the messages.
_READ_BUFFER: Final = 2048
# The write buffer above which a member counts as behind (websockets' write_limit).
_WRITE_LIMIT: Final = 32 * 1024
# picows' own auto-ping timings: unused, the switchboard's keepalive pings.
_UNUSED_PING: Final = 20.0

# What every link's kept upgrade request and response point at instead of their headers.
_NO_HEADERS: Final[CIMultiDict[str]] = CIMultiDict()


class _Sink(asyncio.Protocol):
    """A protocol no transport reads into: see :meth:`PicowsEngine.upgrade`."""

    __slots__ = ()


_SINK: Final = _Sink()

_TEXT, _BINARY, _CONT = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
_PING, _PONG, _CLOSE = WSMsgType.PING, WSMsgType.PONG, WSMsgType.CLOSE
_DONE = Phase.DONE


# What picows says of a frame its parser refuses, and what websockets' parser
# answers to the same frame (a message over the size limit: see _ConnectionLog).
_REFUSALS: Final = (
    ("Received frame with invalid opcode", "invalid opcode"),
    ("Received un-masked frame", "incorrect masking"),
    ("Received fragmented control frame", "fragmented control frame"),
    ("Received control frame with payload size", "control frame too long"),
    ("Received CLOSE with invalid close code size", "close frame too short"),
    ("Received CLOSE with invalid close code:", "invalid status code"),
    ("Received CLOSE with invalid UTF-8 reason", "invalid UTF-8 in the close reason"),
)
_TOO_BIG: Final = "Received frame with payload size exceeding max allowed size, "
_PARSER_ERROR: Final = PICOWS_PARSER_ERROR


def _refusal(text: str) -> str | None:
    """websockets' words for a frame that picows refuses with ``text``, if it has them."""
    if text.startswith(_TOO_BIG):  # "..., <size> > <limit>"
        size, limit = text[len(_TOO_BIG) :].split(" > ")
        return str(PayloadTooBig(int(size), int(limit)))
    for prefix, reason in _REFUSALS:
        if text.startswith(prefix):
            return reason
    return None


@final
class _ConnectionLog:
    """The logger one connection's ``picows`` protocol is given: ``_wire_logger``'s
    methods, but for the line ``picows`` logs when its parser refuses a frame.

    That line is an ERROR in ``picows``, one per bad frame a client sends; it is
    DEBUG here, as in the ``websockets`` engine. And since ``picows`` logs it just
    before its close frame goes out, the connection's close frame is sent here
    first, with ``websockets``' words for the same fault (``picows`` sends no
    second one) and ``picows``' code, which for those faults is ``websockets``' too.
    (Not a ``logging.Logger``: ``picows`` would make it a child logger per
    connection, kept in ``logging``'s registry.)
    """

    __slots__ = ("_link",)

    isEnabledFor = staticmethod(_wire_logger.isEnabledFor)
    log = staticmethod(_wire_logger.log)
    debug = staticmethod(_wire_logger.debug)
    info = staticmethod(_wire_logger.info)
    warning = staticmethod(_wire_logger.warning)
    exception = staticmethod(_wire_logger.exception)

    def __init__(self, link: PicowsLink) -> None:
        self._link = link

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if msg != _PARSER_ERROR:
            _wire_logger.error(msg, *args, **kwargs)
            return
        ((code, text),) = args
        _wire_logger.debug(msg, *args)
        transport = self._link.transport
        reason = _refusal(text)
        if transport is not None and reason is not None:
            transport.send_close(code, reason.encode())


class PicowsLink(WSListener, Link):
    """One upgraded connection on ``picows``, as the switchboard's link."""

    __slots__ = (*LINK_SLOTS, "_fragments", "_gathered", "raw", "transport")

    board: ClassVar[Switchboard]
    engine: ClassVar[PicowsEngine]
    max_size: ClassVar[int]

    def __init__(self) -> None:
        start_link(self)
        self.transport: WSTransport | None = None
        self.raw: asyncio.Transport | None = None
        self._fragments: list[Any] | None = None  # [is_text, part, part, ...]
        self._gathered = 0  # the bytes of those parts

    # -- picows callbacks ------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        raw = self.raw = transport.underlying_transport
        raw.set_write_buffer_limits(_WRITE_LIMIT)
        # picows keeps the upgrade request and response for the connection's life;
        # nothing reads their headers again.
        transport.request.headers = transport.response.headers = _NO_HEADERS
        self.engine.connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        board = self.board
        board.cork()  # the frames of one read, gathered per recipient
        try:
            kind = frame.msg_type
            if frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension is ever negotiated
                self._fail(WSCloseCode.PROTOCOL_ERROR, "reserved bits must be 0")
            elif kind is _TEXT and frame.fin and self._fragments is None:
                try:
                    text = frame.get_payload_as_utf8_text()
                except UnicodeDecodeError as exc:
                    self._invalid(exc)
                else:
                    board.receive(self, text)
            elif kind is _PING:
                transport.send_pong(frame.get_payload_as_bytes())
            elif kind is _PONG:
                board.ponged(self)
            elif kind is _CLOSE:
                self._peer_closed(transport, frame)
            else:
                self._data(kind, frame)
        finally:
            if frame.last_in_buffer:
                board.uncork()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.board.gone(self)
        self.engine.disconnected(self)

    def pause_writing(self) -> None:
        self.board.backlog.paused(self)

    def resume_writing(self) -> None:
        self.board.backlog.resumed(self)

    def _data(self, kind: WSMsgType, frame: WSFrame) -> None:
        """A binary message, or a fragment: gathered until the last one, within the limits."""
        parts = self._fragments
        if kind is not _CONT:
            if parts is not None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "expected a continuation frame")
                return
            if frame.fin:  # a whole binary message: the core answers it with an error
                self.board.receive(self, frame.get_payload_as_bytes())
                return
            parts = self._fragments = [kind is _TEXT]
            self._gathered = 0
        elif parts is None:
            self._fail(WSCloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
            return
        before, size = self._gathered, frame.payload_size
        if before + size > self.max_size:  # websockets' words, as its parser says it
            too_big = PayloadTooBig(size, self.max_size - before)
            too_big.set_current_size(before)
            self._fail(WSCloseCode.MESSAGE_TOO_BIG, str(too_big))
            return
        if len(parts) > MAX_FRAGMENTS:  # the flag and MAX_FRAGMENTS parts already
            self._fail(WSCloseCode.MESSAGE_TOO_BIG, TOO_MANY_FRAGMENTS)
            return
        parts.append(frame.get_payload_as_bytes())
        self._gathered = before + size
        if frame.fin:
            self._fragments = None
            data = b"".join(parts[1:])
            if not parts[0]:
                self.board.receive(self, data)
                return
            try:
                text = data.decode()
            except UnicodeDecodeError as exc:
                self._invalid(exc)
                return
            self.board.receive(self, text)

    def _invalid(self, exc: UnicodeDecodeError) -> None:
        self._fail(WSCloseCode.INVALID_TEXT, invalid_utf8(exc))

    def _fail(self, code: WSCloseCode, reason: str) -> None:
        self._fragments = None
        self.board.close(self, code.value, reason)

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        # Echo the peer's close as it came (unless it answers ours): empty for an empty
        # one; a code that may not go on the wire gets websockets' 1002 instead (picows
        # refused the rest). Then end the TCP connection.
        self.board.closed(self)
        payload = frame.get_payload_as_bytes()
        try:
            Close.parse(payload)
        except ProtocolError as exc:
            transport.send_close(WSCloseCode.PROTOCOL_ERROR, str(exc).encode())
        else:
            transport.send(_CLOSE, payload)
        transport.disconnect()

    # -- the switchboard's link --------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write complete frames (nothing once the link is done or the transport closing)."""
        raw = self.raw
        if self.phase is not _DONE and raw is not None and not raw.is_closing():
            raw.write(data)

    def buffered(self) -> int:
        """Bytes written to this connection that the peer has not taken yet."""
        return 0 if self.raw is None else self.raw.get_write_buffer_size()

    def send_ping(self) -> None:
        """Send a keepalive ping."""
        transport = self.transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send_ping()

    def shut(self, code: int, reason: str) -> None:
        """Send a close frame, behind everything written before, unless one was sent."""
        transport = self.transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            return
        transport.send_close(WSCloseCode(code), reason.encode())

    def abort(self) -> None:
        """Cut the TCP connection now."""
        if self.raw is not None:
            self.raw.abort()

    def pause_reading(self) -> None:
        if self.raw is not None:
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        if self.raw is not None:
            self.raw.resume_reading()


class _Handshake(asyncio.Protocol):
    """A new connection until its handshake is decided; then picows takes the transport."""

    __slots__ = ("_admission", "_deadline", "_engine", "_head", "_transport")

    def __init__(self, engine: PicowsEngine) -> None:
        self._engine = engine
        self._head = RequestHead(engine.board.config.limits)
        self._transport: asyncio.Transport | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._admission: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they are ones.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(OPEN_TIMEOUT, transport.abort)
        self._engine.handshakes.add(self)

    def abort(self) -> None:
        """Give up on this handshake: cut the connection."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        try:
            request = self._head.feed(data)
        except Exception:  # not HTTP: websockets answers nothing either
            _wire_logger.debug("! no valid HTTP request", exc_info=True)
            transport.close()
            return
        if isinstance(request, Response):  # a head over a limit
            self._respond(request)
        elif request is not None:
            transport.pause_reading()
            self._admission = asyncio.get_running_loop().create_task(self._admit(request))
            self._engine.pending.add(self._admission)
            self._admission.add_done_callback(self._engine.pending.discard)

    def eof_received(self) -> bool:
        return False  # a half-closed handshake: close

    def connection_lost(self, exc: Exception | None) -> None:
        self._engine.handshakes.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        if self._admission is not None:
            self._admission.cancel()

    async def _admit(self, request: Request) -> None:
        transport = self._transport
        assert transport is not None
        if _wire_logger.isEnabledFor(logging.DEBUG):
            _wire_logger.debug("< %s %s %s", request.method, request.path, request.protocol)
        engine = self._engine
        board = engine.board
        peer = transport.get_extra_info("peername")
        forwarded = request.headers.get_all(board.proxies.header)
        protocol = ServerProtocol(logger=_wire_logger)
        verdict = await board.admit(
            request.path,
            peer[0] if peer else None,
            forwarded,
            lambda: is_upgrade(protocol, request),
        )
        if transport.is_closing():
            return
        if isinstance(verdict, Refusal):
            response = protocol.reject(verdict.status, verdict.reason + "\n")
        elif engine.closing:
            response = protocol.reject(503, "Server is shutting down.\n")
        else:
            response = protocol.accept(request)
        if response.status_code != 101:
            self._respond(response)
            return
        assert isinstance(verdict, Ticket)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._admission = None
        engine.handshakes.discard(self)
        response.headers["Server"] = SERVER_HEADER
        engine.upgrade(transport, request, response, verdict, self._head.rest)

    def _respond(self, response: Response) -> None:
        transport = self._transport
        assert transport is not None
        response.headers["Server"] = SERVER_HEADER
        _wire_logger.info(
            "HTTP response sent (%d %s)", response.status_code, response.reason_phrase
        )
        transport.write(response.serialize())
        transport.close()


@final
class PicowsEngine:
    """Runs a relay's sockets on ``picows``; see the module docstring."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board
        self.closing = False
        self.handshakes: set[_Handshake] = set()
        self.pending: set[asyncio.Task[None]] = set()
        """Admissions and joins under way."""
        self._server: asyncio.Server | None = None
        self._links: set[PicowsLink] = set()
        self._gone: asyncio.Event | None = None

        class Bound(PicowsLink):
            __slots__ = ()

        Bound.board = board
        Bound.engine = self
        Bound.max_size = library_max_size(board.config.limits.max_frame_bytes)
        self._link_type = Bound

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Handshake(self), host, port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RelayNotStarted("the relay is not started: use 'async with Relay()'")
        return int(self._server.sockets[0].getsockname()[1])

    def links(self) -> Iterable[Link]:
        return self._links

    def upgrade(
        self,
        transport: asyncio.Transport,
        request: Request,
        response: Response,
        ticket: Ticket,
        rest: bytes,
    ) -> None:
        """Hand an admitted connection to picows: it sends ``response`` (the 101 websockets
        made, byte for byte the websockets engine's); then ``ticket`` joins."""
        link = self._link_type()
        reply = WSUpgradeResponse.create_101_response()
        reply.headers = CIMultiDict(response.headers.raw_items())

        def accept(_: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
            # picows' listener factory: the handshake was decided already.
            return WSUpgradeResponseWithListener(reply, link)

        protocol = WSProtocol(
            None,  # host and port: a client's
            None,  # path: a client's
            False,  # server side
            accept,
            _ConnectionLog(link),
            True,  # disconnect when a callback raises
            None,  # no handshake timeout: the request is fed at once
            False,  # no auto-ping: the switchboard's keepalive pings
            _UNUSED_PING,
            _UNUSED_PING,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            False,  # no auto-pong: on_ws_frame answers pings, so it sees every frame
            link.max_size,
            None,  # extra headers: a client's
            _READ_BUFFER,
        )
        # uvloop keeps the data_received of the last protocol that was not a buffered
        # one: the sink's, shared, rather than the handshake's, with all it holds.
        transport.set_protocol(_SINK)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        # What picows needs to answer 101 (websockets' accept() checked the rest), and
        # whatever the client sent after its head.
        key = request.headers["Sec-WebSocket-Key"]
        _feed(
            protocol,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key.encode() + b"\r\n\r\n" + rest,
        )
        if link.transport is None:  # picows refused it after all
            return
        transport.resume_reading()
        task = asyncio.get_running_loop().create_task(self.board.join(link, ticket))
        self.pending.add(task)
        task.add_done_callback(lambda done: self._joined(done, link))

    def _joined(self, task: asyncio.Task[None], link: PicowsLink) -> None:
        self.pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug must cost this one connection, never the relay.
            _wire_logger.error("joining failed", exc_info=task.exception())
            self.board.close(link, WSCloseCode.INTERNAL_ERROR.value, "relay error")

    def connected(self, link: PicowsLink) -> None:
        self._links.add(link)

    def disconnected(self, link: PicowsLink) -> None:
        self._links.discard(link)
        if not self._links and self._gone is not None:
            self._gone.set()

    async def aclose(self, code: int, reason: str) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.closing = True
        server.close()
        for handshake in list(self.handshakes):
            handshake.abort()
        for task in list(self.pending):
            task.cancel()
        await asyncio.gather(*self.pending, return_exceptions=True)
        if self._links:
            self._gone = asyncio.Event()
            for link in list(self._links):
                self.board.close(link, code, reason)
            await self._gone.wait()
        await server.wait_closed()


def _feed(protocol: Any, data: bytes) -> None:
    """Give ``data`` to a picows protocol as if it had been read from its socket."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(-1)
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]
