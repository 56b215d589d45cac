"""The relay server: :class:`RelayCore` driven over real sockets by ``websockets``.

``Relay`` is an async context manager that listens, hands every handshake, frame
and departure to the core, and writes what the core produces. It keeps the
ordering rules (each member's own join first; frames to a connection in the order
the core produced them; a sender's frames relayed in the order they arrived) by
writing synchronously (``websockets.broadcast``) right after the core returns,
with no await in between::

    async with Relay() as relay:            # 127.0.0.1, a free port
        print(relay.url)                     # ws://127.0.0.1:PORT/c/
        ...

With a backplane (``Relay(backplane="redis://HOST:6379/0")``) several relays share
their channels: joins and leaves go through the backplane, and frames that members
on other nodes must see are handed to it as the core produces them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self, TypedDict, final

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from rx_itty._logging import wire_logger, without_query
from rx_itty.exceptions import BackplaneUnavailable, RelayNotStarted
from rx_itty.relay.backlog import Backlog, Buffered
from rx_itty.relay.backplane import (
    UNAVAILABLE,
    Backplane,
    BackplaneHost,
    LocalBackplane,
    open_backplane,
)
from rx_itty.relay.config import RelayConfig, backplane_at
from rx_itty.relay.connection import RelayConnection, connection_type, is_upgrade
from rx_itty.relay.core import (
    Delivery,
    Member,
    Refusal,
    RelayCore,
    Ticket,
    delivered,
    is_loopback,
)
from rx_itty.relay.http_push import HttpPushListener
from rx_itty.relay.proxy import TrustedProxies
from rx_itty.wire import CloseCode

__all__ = ["Relay", "RelayOptions"]

logger = logging.getLogger("rx_itty.relay")

# websockets' own INFO lines (one per connection opened or closed) become DEBUG:
# the relay logs one line per notable event itself.
_wire_logger = wire_logger("rx_itty.relay.websockets", quiet=True)

# websockets' defaults, named: a member whose output has not drained for their
# sum could not even be sent a keepalive ping, so it is dropped as a dead one.
_PING_INTERVAL = 20.0
_PING_TIMEOUT = 20.0


def _library_max_size(frame_cap: int | None) -> int:
    # Well above the application limit, so an oversize frame gets an `error`
    # event from the core instead of a library-level 1009 close.
    return 16 * 1024 * 1024 if frame_cap is None else max(4 * frame_cap, 1024 * 1024)


def _format_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class RelayOptions(TypedDict, total=False):
    """Where a :class:`Relay` listens, and its backplane: the keywords after its ``config``."""

    host: str
    port: int
    http_port: int | None
    backplane: str | Backplane[Any] | None


@final
class Relay:
    """A wire-compatible itty-sockets relay on ``websockets``.

    Args:
        config: Limits, reserved namespaces and compression; the hosted service's limits by
            default.
        host: Interface to listen on; loopback by default.
        port: TCP port; 0 picks a free one (read it back from :attr:`port` / :attr:`url`).
        http_port: Also accept HTTP pushes (``POST /c/<channel>``) on this port (0: a free one);
            ``None`` (the default) leaves HTTP push off.
        backplane: Share channels with the other relays on the same Redis:
            ``"redis://HOST:PORT/DB"`` (or ``rediss://``, ``unix:///path?db=N``), or a
            backplane object; overrides ``config.backplane``. ``None``: this process only.

    Raises:
        MissingDependency: a Redis backplane without the ``redis`` package (``rx_itty[redis]``).
        RelayConfigError: a backplane URL with an unknown scheme.
    """

    def __init__(
        self,
        config: RelayConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int | None = None,
        backplane: str | Backplane[Any] | None = None,
    ) -> None:
        self.config = config or RelayConfig()
        if isinstance(backplane, str):
            backplane = open_backplane(backplane_at(backplane, self.config.backplane))
        elif backplane is None and self.config.backplane is not None:
            backplane = open_backplane(self.config.backplane)
        self._backplane: Backplane[RelayConnection] = backplane or LocalBackplane()
        self.core: RelayCore[RelayConnection] = RelayCore(
            self.config, clustered=self._backplane.clustered
        )
        self._backlog = Backlog(self.config.limits, _PING_INTERVAL + _PING_TIMEOUT, self._drop)
        self._proxies = TrustedProxies(self.config.trusted_proxies, self.config.proxy_header)
        self._warned_proxy = False
        self.host = host
        self._requested_port = port
        self._requested_http_port = http_port
        self._http: HttpPushListener | None = None
        self._http_port: int | None = None
        self._server: Server | None = None
        self._tickets: weakref.WeakKeyDictionary[ServerConnection, Ticket] = (
            weakref.WeakKeyDictionary()
        )
        self._closing: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> str:
        """Start listening; returns :attr:`url`. Idempotent.

        Raises:
            BackplaneUnavailable: the backplane (Redis) cannot be reached.
            RelayConfigError: the cluster's other nodes have other reserved namespaces.
            OSError: the address cannot be bound.
        """
        if self._server is None:
            await self._backplane.start(
                BackplaneHost(self.core, self._deliver, self._disconnect_all)
            )
            try:
                self._server = await self._listen()
            except BaseException:
                await self._backplane.aclose()
                raise
            if self._requested_http_port is not None:
                self._http = HttpPushListener(
                    self._push, self.core.check_push, self.config.limits, self._proxies
                )
                self._http_port = await self._http.start(self.host, self._requested_http_port)
                logger.info("relay accepting HTTP pushes on %s", self.http_url)
            logger.info("relay listening on %s", self.url)
        return self.url

    async def _listen(self) -> Server:
        return await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._process_request,
            compression="deflate" if self.config.compression else None,
            max_size=_library_max_size(self.config.limits.max_frame_bytes),
            server_header="rx_itty relay",
            logger=_wire_logger,
            create_connection=connection_type(self.config.limits),
            ping_interval=_PING_INTERVAL,
            ping_timeout=_PING_TIMEOUT,
        )

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._server is None:
            raise RelayNotStarted(
                "the relay is not started: use 'async with Relay()' or await start()"
            )
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL for channels, e.g. ``ws://127.0.0.1:8080/c/``; append a channel name."""
        return f"ws://{_format_host(self.host)}:{self.port}/c/"

    @property
    def node_id(self) -> str | None:
        """This relay's id in its cluster; ``None`` without a backplane."""
        return self._backplane.node_id

    @property
    def http_url(self) -> str | None:
        """Base URL for HTTP pushes (``http://127.0.0.1:8081/c/``), or ``None`` if off."""
        if self._http_port is None:
            return None
        return f"http://{_format_host(self.host)}:{self._http_port}/c/"

    async def aclose(self) -> None:
        """Close every client with a normal close (1000), then stop listening."""
        server, self._server = self._server, None
        if server is None:
            return
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        server.close(close_connections=False)
        await asyncio.gather(
            *(conn.close(CloseCode.NORMAL, "relay shutting down") for conn in server.connections),
            return_exceptions=True,
        )
        await server.wait_closed()
        await self._backplane.aclose()  # after every member's leave was handed over
        logger.info("relay stopped")

    async def serve_forever(self) -> None:
        """Start if needed and serve until cancelled; then close clients normally."""
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await asyncio.shield(self.aclose())

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- connections ---------------------------------------------------------

    async def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        peer = conn.remote_address[0] if conn.remote_address else None
        forwarded = request.headers.get_all(self._proxies.header)
        ip = self._proxies.client_address(peer, forwarded)
        if forwarded and not self._warned_proxy and self._same_host_proxy(peer):
            self._warned_proxy = True
            logger.warning(
                "handshakes from %s carry %s, but %s is not a trusted proxy: every client "
                "behind it shares the proxy's address%s; set trusted_proxies (--trusted-proxy)",
                peer,
                self._proxies.header,
                peer,
                ", exempt from limits" if self.config.limits.exempt_loopback else "",
            )
        verdict = self.core.admit(request.path, ip, time.monotonic())  # limits: never wall time
        # A request websockets will refuse anyway must not cost a cluster a Redis round trip.
        if not isinstance(verdict, Refusal) and (
            not self._backplane.clustered or is_upgrade(conn, request)
        ):
            verdict = await self._backplane.admit(verdict) or verdict
        if isinstance(verdict, Refusal):
            logger.info(
                "refused %s %s: %d %s",
                ip,
                without_query(request.path),
                verdict.status,
                verdict.reason,
            )
            return conn.respond(verdict.status, verdict.reason + "\n")
        self._tickets[conn] = verdict
        return None

    def _same_host_proxy(self, peer: str | None) -> bool:
        # A loopback peer naming a client is a proxy on this host; one elsewhere
        # could as well be a client making the header up, so it gets no warning.
        return is_loopback(peer) and not self._proxies.trusts(peer)

    async def _handle(self, conn: ServerConnection) -> None:
        assert isinstance(conn, RelayConnection)
        ticket = self._tickets.pop(conn)
        joined = await self._backplane.join(ticket, conn, time.time())
        if isinstance(joined, Refusal):
            # 503 (backplane down, or a join past its deadline): reconnecting may work.
            code = (
                CloseCode.TRY_AGAIN_LATER
                if joined.status == UNAVAILABLE.status
                else CloseCode.POLICY_VIOLATION
            )
            await conn.close(code, joined.reason)
            return
        conn.joined(joined, self._backlog)
        try:
            await self._read(conn, joined)
        finally:
            self._backplane.leave(joined, time.time())

    async def _push(
        self, path: str, body: bytes, send_key: str | None, now: float
    ) -> tuple[int, str]:
        if not self._backplane.available:
            return UNAVAILABLE.status, UNAVAILABLE.reason
        result = self.core.push(path, body, send_key, now)
        if result.relay is None:
            self._deliver(result.deliveries)
            return result.status, result.reason
        try:  # relayed before it is delivered here: a push answered 503 reached nobody here
            total = await self._backplane.push(result.relay)
        except BackplaneUnavailable:
            return UNAVAILABLE.status, UNAVAILABLE.reason
        self._deliver(result.deliveries)
        return result.status, delivered(total)

    def _deliver(self, deliveries: Iterable[Delivery[RelayConnection]]) -> None:
        # Synchronous on purpose: frames reach every transport in the order the
        # core produced them, with no await in between: no other frame can slip in.
        for delivery in deliveries:
            broadcast(delivery.to, delivery.frame)
        if self._backlog:  # only while some member is behind
            self._backlog.check()

    def _disconnect_all(self, code: int, reason: str) -> None:
        """Close every connection (the backplane went down: they must reconnect)."""
        if self._server is None:
            return
        for conn in list(self._server.connections):
            task = asyncio.ensure_future(conn.close(code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _drop(self, conn: Buffered, why: str, at_once: bool) -> None:
        assert isinstance(conn, RelayConnection)
        member = conn.member
        if not conn.dropped:  # one line per member; its peers see it leave now
            logger.warning("dropped %r, too slow a reader: %s", member, why)
            self._backplane.leave(member, time.time())
        limits = self.config.limits
        conn.drop(f"too slow a reader: {why}", None if at_once else limits.slow_reader_seconds)

    async def _read(self, conn: RelayConnection, member: Member[RelayConnection]) -> None:
        # recv() in a loop, not `async for`: the async iterator costs ~2 us a message.
        recv = conn.recv
        try:
            while True:
                data = await recv()
                if conn.dropped:
                    return
                try:
                    # Wall time for the envelope's date, monotonic time for the limits.
                    outcome = self.core.receive(member, data, time.time(), time.monotonic())
                except Exception:
                    # A bug must cost this one connection, never the relay or other clients.
                    logger.exception("relay failed on a frame in channel %r", member.channel.name)
                    await conn.close(CloseCode.INTERNAL_ERROR, "relay error")
                    return
                self._deliver(outcome.deliveries)
                if outcome.relay is not None:
                    self._backplane.relay(outcome.relay)
                if outcome.close is not None:
                    logger.warning("closed %r from %s: %s", member, member.ip, outcome.close[1])
                    await conn.close(*outcome.close)
                    return
        except ConnectionClosed:
            pass  # the peer vanished mid-frame or without a close frame: just leave
