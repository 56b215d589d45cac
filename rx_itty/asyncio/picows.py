"""The client transport on ``picows``, a WebSocket client written in C (the ``fast`` extra).

:class:`PicowsTransport` implements :class:`rx_itty.transport.Transport` with no
task per frame and no coroutine in the receive path: picows parses frames in C
and calls the link for each one, and the link hands the text to the listener
there and then. One short task per ``open`` connects (TCP, TLS, the HTTP
upgrade) and ends; after that the connection lives in callbacks:

- ``on_open`` once the server accepted the upgrade; ``send`` writes at once, and
  refuses frames while the write buffer is above ``write_limit`` (``on_drain``
  follows when it has drained to a quarter of it);
- each text frame is passed on as ``str``, a binary one as ``bytes``; a message
  split into fragments is passed on whole;
- exactly one ``on_close``, with the close frame the server sent, else the one we
  sent (e.g. 1009 for a frame over ``max_size``), else 1006 for a lost connection.

Install it with ``pip install 'rx_itty[fast]'``; :func:`rx_itty.connect` then uses
it by default (see :mod:`rx_itty.asyncio.choose`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from math import inf
from typing import Any, final
from urllib.parse import urlsplit

from rx_itty.exceptions import MissingDependency

try:
    from picows import (
        WSAutoPingStrategy,
        WSCloseCode,
        WSError,
        WSFrame,
        WSInvalidStatusError,
        WSInvalidURL,
        WSListener,
        WSMsgType,
        WSParsedURL,
        WSTransport,
        ws_connect,
    )
except ImportError as exc:
    raise MissingDependency(
        f"the picows transport needs picows, which is not installed ({exc}): "
        "pip install 'rx_itty[fast]'"
    ) from exc

from rx_itty._logging import PICOWS_PARSER_ERROR, wire_logger, without_query
from rx_itty.asyncio._link import (
    INVALID_UTF8,
    LINK_SLOTS,
    LinkBase,
    NetworkTransport,
    describe_failure,
)
from rx_itty.events import Close
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode, check_frame

__all__ = ["PicowsTransport"]

_logger = wire_logger("rx_itty.client.picows")

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
# picows' read buffer starts this small (its least) and doubles while a burst fills
# it, so an idle connection holds 2 KiB, not 16.
_READ_BUFFER = 2048


class _ChattyLog(logging.LoggerAdapter[logging.Logger]):
    """picows' log, with its line per connection and disconnection moved from INFO to
    DEBUG, and its parser's refusal of a server's frame from ERROR to DEBUG (the close
    that follows reaches the user on ``closes``, with its code and reason)."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level == logging.INFO or msg == PICOWS_PARSER_ERROR:
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


# An adapter, not a Logger: given a Logger, picows makes a child logger per connection.
_picows_log = _ChattyLog(_logger)


@final
class PicowsTransport(NetworkTransport):
    """The fast transport, on ``picows`` (``pip install 'rx_itty[fast]'``).

    Args:
        open_timeout, ping_interval, ping_timeout, close_timeout, max_size,
        write_limit, ssl: as for :class:`~rx_itty.asyncio.WebsocketsTransport`;
            the keepalive here waits at most ``ping_interval`` for a pong, and
            pings only when nothing has arrived for ``ping_interval``.

    There is no ``compression``: picows does not offer permessage-deflate.

    Raises:
        InvalidOptionError: ``ssl`` is neither a context nor a readable CA file.
    """

    __slots__ = ()

    def _new_link(self, url: str, listener: TransportListener) -> LinkBase:
        return _PicowsLink(self, url, listener)

    def _options(self, url: str) -> dict[str, Any]:
        """``ws_connect`` keyword arguments for one attempt at ``url``."""
        options: dict[str, Any] = {
            "ssl_context": self.ssl,
            "websocket_handshake_timeout": None,  # open_timeout covers the whole attempt
            "logger_name": _picows_log,
            "max_frame_size": self.max_size,
            "read_buffer_init_size": _READ_BUFFER,
            # The loop's own transport: aiofastnet's (picows' default) held about 5 KiB
            # more per connection and received no faster in bench/client_bench.py.
            "use_aiofastnet": False,
        }
        if self.ping_interval is not None:
            options.update(
                enable_auto_ping=True,
                auto_ping_idle_timeout=self.ping_interval,
                auto_ping_reply_timeout=min(self.ping_timeout or inf, self.ping_interval),
                auto_ping_strategy=WSAutoPingStrategy.PING_WHEN_IDLE,
            )
        if url.startswith("wss:"):
            # The link hands picows a connected socket, so TLS needs the name to verify.
            options["server_hostname"] = urlsplit(url).hostname
        return options


def _describe(exc: BaseException) -> str:
    if isinstance(exc, WSInvalidURL):  # its text quotes the whole URL, keys included
        why = str(exc).removeprefix(f"{exc.url} isn't a valid URL: ")
        return f"{without_query(exc.url)} isn't a valid URL: {why}"
    return describe_failure(exc)


def _final_close(ws: WSTransport) -> Close:
    """The close frame the server sent, else the one we sent, else 1006 (connection lost)."""
    handshake = ws.close_handshake
    if handshake is not None:
        frame = handshake.recv or handshake.sent
        if frame is not None:
            # A close frame with no code reads as 1005, as websockets reports it.
            return Close(frame.code.value or CloseCode.NO_STATUS, frame.reason or "")
    return Close(CloseCode.ABNORMAL, "")


@final
class _PicowsLink(WSListener, LinkBase):
    """One attempt and its connection: the :class:`Link` and picows' listener in one object."""

    __slots__ = (*LINK_SLOTS, "_closer", "_paused", "_refused", "_sock", "_transport", "_ws")

    _log = _logger

    def __init__(self, transport: PicowsTransport, url: str, listener: TransportListener):
        # Explicitly: super() would reach picows' listener first, which takes no arguments.
        LinkBase.__init__(self, url, listener)
        self._transport = transport
        self._ws: WSTransport | None = None
        self._sock: socket.socket | None = None
        self._closer: asyncio.TimerHandle | None = None
        self._paused = False
        self._refused = False

    # -- connecting ---------------------------------------------------------------------

    async def connect(self) -> None:
        transport = self._transport
        options = transport._options(self._url)
        try:
            async with asyncio.timeout(transport.open_timeout):
                await ws_connect(self._accept, self._url, socket_factory=self._tcp, **options)
        except asyncio.CancelledError:
            self._abandon("closed before the connection opened")
            return
        except TimeoutError:
            self._abandon("timed out opening the connection")
            return
        except WSInvalidStatusError as exc:
            response = exc.response
            status = 0 if response is None else int(response.status)
            reason = (exc.raw_body or b"").decode(errors="replace").strip()
            self._report(Close(None, reason, rejected=status))
            return
        except (OSError, WSError, ValueError) as exc:
            self._report(Close(None, _describe(exc)))
            return
        if self._ws is None:  # picows returns normally when the server hangs up mid-handshake
            self._report(Close(None, "the server closed the connection during the handshake"))

    async def _tcp(self, url: WSParsedURL) -> socket.socket:
        """Connect the TCP socket ourselves, so that an abandoned attempt can be cut short."""
        loop = asyncio.get_running_loop()
        try:  # an IP address needs no lookup, nor a thread to make one in
            addresses = socket.getaddrinfo(
                url.host, url.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
            )
        except socket.gaierror:
            addresses = await loop.getaddrinfo(url.host, url.port, type=socket.SOCK_STREAM)
        error: OSError = OSError(f"{url.host} has no address")
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            return sock
        raise error

    def _accept(self, request: Any, response: Any) -> _PicowsLink:
        """picows' listener factory: this link listens to its own connection."""
        return self

    def _opened(self) -> bool:
        return self._ws is not None

    def _abort(self) -> None:
        if self._ws is not None:
            self._ws.disconnect(False)

    def _abandon(self, reason: str) -> None:
        # A cancelled ws_connect leaves its socket open until the handshake would
        # time out: shut it down, and its transport closes it.
        if self._opened():
            self._abort()  # on_ws_disconnected reports the close
            return
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        self._report(Close(None, reason))

    # -- picows' callbacks ----------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._ws = transport
        self._sock = None  # picows' transport owns it now
        if self._close_request is not None:  # closed while the upgrade was on its way
            transport.disconnect(False)
            self._report(Close(None, "closed before the connection opened"))
            return
        limit = self._transport.write_limit
        transport.underlying_transport.set_write_buffer_limits(high=limit, low=limit // 4)
        self._report_open()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # The hot path: a whole text frame, passed on at once.
        if (
            frame.msg_type is _TEXT
            and frame.fin
            and not frame.rsv1
            and self._parts is None
            and not transport.is_close_frame_sent
        ):
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._fail(CloseCode.INVALID_DATA, INVALID_UTF8)
                return
            try:  # _deliver(), inline: a call less per frame
                self._receiver.on_frame(text)
            except Exception:
                self._listener_failed()
            return
        self._other_frame(transport, frame)

    def _other_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if transport.is_close_frame_sent and self._close_request is None and kind is not _CLOSE:
            # picows closed the connection itself (a frame over max_size, a protocol
            # error, no pong): what its parser still yields is not to be trusted.
            return
        if kind is _CLOSE:
            if not transport.is_close_frame_sent:  # answer it: its code, or 1000 if it had none
                code = frame.get_close_code() if frame.payload_size >= 2 else WSCloseCode.OK
                transport.send_close(code, frame.get_close_message())
            transport.disconnect()
        elif kind is not _TEXT and kind is not _BINARY and kind is not _CONTINUATION:
            return  # a pong: picows answers pings and times keepalive itself
        elif frame.rsv1 or frame.rsv2 or frame.rsv3:
            self._fail(CloseCode.PROTOCOL_ERROR, "reserved bits set; no extension was agreed")
        elif (kind is _CONTINUATION) is (self._parts is None):
            self._fail(CloseCode.PROTOCOL_ERROR, "fragments out of order")
        else:
            self._fragment(kind, frame)

    def _fragment(self, kind: WSMsgType, frame: WSFrame) -> None:
        limit = self._transport.max_size
        gathered = 0 if self._parts is None else self._parts.size
        if gathered + frame.payload_size > limit:
            self._fail(CloseCode.MESSAGE_TOO_BIG, f"message exceeds limit of {limit} bytes")
            return
        self._gather(kind is _TEXT, frame.get_payload_as_bytes(), bool(frame.fin))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._closer is not None:
            self._closer.cancel()
        # picows keeps an error it hit (a frame too big...) for wait_disconnected():
        # collect it, or asyncio logs it as never retrieved.
        asyncio.get_running_loop().create_task(self._collect(transport))
        self._report(_final_close(transport))

    @staticmethod
    async def _collect(transport: WSTransport) -> None:
        with contextlib.suppress(Exception):
            await transport.wait_disconnected()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._refused and not self._reported and self._close_request is None:
            self._refused = False
            self._report_drain()

    # -- the Link ------------------------------------------------------------------------

    def send(self, frame: str) -> bool:
        ws = self._ws
        if (
            ws is None
            or self._close_request is not None
            or ws.is_close_frame_sent
            or ws.is_disconnected
        ):
            return False
        if self._paused:  # the write buffer is above write_limit
            self._refused = True
            return False
        try:
            ws.send(_TEXT, frame)
        except UnicodeEncodeError:  # raised before anything is written
            check_frame(frame)  # raises SerializationError, saying why
            raise
        except Exception as exc:  # the transport broke under us: on_close follows
            _logger.debug("could not write to %s: %r", without_query(self._url), exc)
            return False
        return True

    def _start_close(self, code: int, reason: str) -> None:
        ws = self._ws
        if ws is None or ws.is_disconnected or self._closer is not None:
            return
        if not ws.is_close_frame_sent:
            ws.send_close(code, reason.encode())  # type: ignore[arg-type]
        # The server answers with its close frame (and we hang up); if it never
        # does, hang up anyway.
        self._closer = asyncio.get_running_loop().call_later(
            self._transport.close_timeout, ws.disconnect, False
        )
