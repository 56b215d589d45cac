"""What a relay does with its connections, whichever engine runs the sockets.

The :class:`Switchboard` sits between an engine (the sockets, see
:mod:`rx_itty.relay.engine`) and the relay core and backplane (the protocol, the
cluster). Every engine hands it the same events and gets the same answers:

- ``await board.admit(path, peer, forwarded, upgrade)``: the client's address
  (behind trusted proxies, from their header), the core's gates and limits, and,
  for a request the engine's WebSocket library will upgrade, the backplane's
  cluster-wide gates; a refusal is logged once here and answered by
  the engine with its HTTP status;
- ``await board.join(link, ticket)``: the join goes round the backplane; the
  member's own join is written before any of its messages is handled (those that
  arrive meanwhile are held, and reading pauses if many do);
- ``board.receive(link, data)`` for each message: the core's outcome is
  delivered, relayed to the other nodes, or turned into a close;
- ``board.ponged(link)``, ``board.closed(link)`` and ``board.gone(link)`` for
  pongs, the peer's close frame and the connection's end: the member leaves,
  once.

Writes are synchronous: each frame is built once (:func:`~rx_itty.relay.engine.text_frame`)
and written to every recipient right after the core produced it, with no await in
between, so the order rules hold (each member's own join first; frames to a
connection in the order the core produced them). Between ``cork()`` and
``uncork()`` (one read's worth of messages from one connection) the frames for
each recipient are gathered and written together at ``uncork()``: one write per
recipient per read instead of one per message, in the same order.

It also runs the keepalive for every link (a ping every 20 s; no pong by the
next round closes with 1011) and watches slow readers
(:class:`~rx_itty.relay.backlog.Backlog`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Final, cast, final

from rx_itty._logging import without_query
from rx_itty.exceptions import BackplaneUnavailable
from rx_itty.relay.backlog import Backlog, Buffered
from rx_itty.relay.backplane import UNAVAILABLE, Backplane
from rx_itty.relay.config import RelayConfig
from rx_itty.relay.core import Delivery, Refusal, RelayCore, Ticket, delivered, is_loopback
from rx_itty.relay.engine import CLOSE_TIMEOUT, Link, Phase, text_frame
from rx_itty.relay.proxy import TrustedProxies
from rx_itty.wire import CloseCode

if TYPE_CHECKING:
    from rx_itty.relay.engine import Engine

__all__ = ["PING_INTERVAL", "PING_TIMEOUT", "Switchboard"]

logger = logging.getLogger("rx_itty.relay")

PING_INTERVAL: Final = 20.0
"""Seconds between keepalive pings (``websockets``' default)."""
PING_TIMEOUT: Final = 20.0
"""Seconds a ping may go unanswered: it is checked at the next round."""

# Messages held for a link whose join is under way before its reading pauses.
_HOLD: Final = 16
# Frames gathered while corked, in bytes for all recipients together, before
# they are written anyway: bounds the memory one read's fan-out can take.
_CORK_BYTES: Final = 1024 * 1024
_OPEN, _JOINING, _DONE = Phase.OPEN, Phase.JOINING, Phase.DONE


@final
class Switchboard:
    """The engine-independent part of a relay; see the module docstring.

    Args:
        config: The relay's configuration (limits, proxies, compression).
        core: The relay core it drives.
        backplane: Where joins, leaves and relayed frames go (started by the relay).
    """

    def __init__(
        self, config: RelayConfig, core: RelayCore[Link], backplane: Backplane[Link]
    ) -> None:
        self.config = config
        self.core = core
        self.backplane = backplane
        self.proxies = TrustedProxies(config.trusted_proxies, config.proxy_header)
        self.backlog = Backlog(config.limits, PING_INTERVAL + PING_TIMEOUT, self._drop)
        self._warned_proxy = False
        # A compressed frame is built per connection: then nothing is corked.
        self._can_cork = not config.compression
        self._corked: list[Link] | None = None
        self._corked_bytes = 0
        self._engine: Engine | None = None
        self._keepalive: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self, engine: Engine) -> None:
        """Start the keepalive for ``engine``'s links (on the running loop)."""
        self._engine = engine
        if self._keepalive is None:
            self._keepalive = asyncio.get_running_loop().create_task(self._keep_alive())

    async def aclose(self) -> None:
        """Stop the keepalive."""
        task, self._keepalive = self._keepalive, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- handshake -------------------------------------------------------------

    async def admit(
        self,
        path: str,
        peer: str | None,
        forwarded: Sequence[str],
        upgrade: Callable[[], bool] | None = None,
    ) -> Ticket | Refusal:
        """Decide a handshake for ``path`` from ``peer``, with the proxy header's ``forwarded``.

        ``upgrade`` says whether the engine's WebSocket library will accept the
        request; in a cluster it is asked before the backplane's admission, so a
        request refused anyway (400, 405...) costs no Redis round trip.
        """
        proxies = self.proxies
        ip = proxies.client_address(peer, forwarded)
        if forwarded and not self._warned_proxy and self._same_host_proxy(peer):
            self._warned_proxy = True
            logger.warning(
                "handshakes from %s carry %s, but %s is not a trusted proxy: every client "
                "behind it shares the proxy's address%s; set trusted_proxies (--trusted-proxy)",
                peer,
                proxies.header,
                peer,
                ", exempt from limits" if self.config.limits.exempt_loopback else "",
            )
        verdict = self.core.admit(path, ip, time.monotonic())  # limits: never wall time
        if not isinstance(verdict, Refusal) and (
            not self.backplane.clustered or upgrade is None or upgrade()
        ):
            verdict = await self.backplane.admit(verdict) or verdict
        if isinstance(verdict, Refusal):
            logger.info(
                "refused %s %s: %d %s", ip, without_query(path), verdict.status, verdict.reason
            )
        return verdict

    def _same_host_proxy(self, peer: str | None) -> bool:
        # A loopback peer naming a client is a proxy on this host; one elsewhere
        # could as well be a client making the header up, so it gets no warning.
        return is_loopback(peer) and not self.proxies.trusts(peer)

    # -- links -----------------------------------------------------------------

    async def join(self, link: Link, ticket: Ticket) -> None:
        """Join ``link`` to its channel, then handle what it sent meanwhile; close it if refused."""
        joined = await self.backplane.join(ticket, link, time.time())
        if isinstance(joined, Refusal):
            if link.phase is not _DONE:  # not gone meanwhile
                # 503 (backplane down, or a join past its deadline): reconnecting may work.
                unavailable = joined.status == UNAVAILABLE.status
                code = CloseCode.TRY_AGAIN_LATER if unavailable else CloseCode.POLICY_VIOLATION
                self.close(link, code, joined.reason)
            return
        # The peer may have closed (or vanished) while the join went round the
        # backplane: what it sent before still counts, then it leaves.
        gone = link.phase is _DONE
        link.member = joined
        link.phase = _OPEN
        held, link.held = link.held, None
        for data in held or ():
            self.receive(link, data)
        if gone:
            self.closed(link)
        elif held and len(held) >= _HOLD:
            link.resume_reading()

    def receive(self, link: Link, data: str | bytes) -> None:
        """Handle one message from ``link``: deliver, relay, or close, as the core decides."""
        if link.phase is not _OPEN:
            if link.phase is _JOINING:
                self._hold(link, data)
            return
        member = link.member
        assert member is not None
        try:
            # Wall time for the envelope's date, monotonic time for the limits.
            deliveries, close, relay = self.core.receive(
                member, data, time.time(), time.monotonic()
            )
        except Exception:
            # A bug must cost this one connection, never the relay or other clients.
            logger.exception("relay failed on a frame in channel %r", member.channel.name)
            self.close(link, CloseCode.INTERNAL_ERROR, "relay error")
            return
        if deliveries:
            self.deliver(deliveries)
        if relay is not None:
            self.backplane.relay(relay)
        if close is not None:
            logger.warning("closed %r from %s: %s", member, member.ip, close[1])
            self.close(link, *close)

    def _hold(self, link: Link, data: str | bytes) -> None:
        held = link.held
        if held is None:
            held = link.held = []
        held.append(data)
        if len(held) == _HOLD:
            link.pause_reading()

    def ponged(self, link: Link) -> None:
        """``link`` answered a ping: it is alive."""
        link.unanswered = False

    def closed(self, link: Link) -> None:
        """The peer closed ``link`` (or the connection ended): its member leaves, once.

        During its join, what it sent before is kept: the join handles it, then
        the member leaves.
        """
        if link.phase is not _DONE:
            link.phase = _DONE
            if link.member is not None:
                self.backplane.leave(link.member, time.time())

    def close(self, link: Link, code: int, reason: str, within: float = CLOSE_TIMEOUT) -> None:
        """Close ``link`` with ``(code, reason)``; its member leaves at once.

        Frames already delivered to it go first; the TCP connection is cut if the
        peer has not finished the closing handshake within ``within`` seconds (at
        once for 0; a second close can only bring the cut closer).
        """
        box = link.outbox
        if box is not None:
            link.outbox = None
            link.write(b"".join(box))
        link.held = None  # closed by the relay: what it sent during its join is not handled
        self.closed(link)
        link.shut(code, reason)
        if within <= 0:
            link.abort()
        elif link.cut is None:
            link.cut = asyncio.get_running_loop().call_later(within, link.abort)

    def gone(self, link: Link) -> None:
        """``link``'s connection ended: its member leaves (once), nothing of it is watched."""
        if link.cut is not None:
            link.cut.cancel()
            link.cut = None
        self.backlog.resumed(link)
        self.closed(link)

    def disconnect_all(self, code: int, reason: str) -> None:
        """Close every link with ``(code, reason)`` (the backplane went down: they reconnect)."""
        if self._engine is not None:
            for link in list(self._engine.links()):
                self.close(link, code, reason)

    def _drop(self, conn: Buffered, why: str, at_once: bool) -> None:
        link = cast(Link, conn)
        if link.phase is not _DONE:  # one line per member; its peers see it leave now
            logger.warning("dropped %r, too slow a reader: %s", link.member, why)
        grace = 0.0 if at_once else self.config.limits.slow_reader_seconds
        self.close(link, CloseCode.TRY_AGAIN_LATER, f"too slow a reader: {why}", grace)

    # -- writes ----------------------------------------------------------------

    def deliver(self, deliveries: Iterable[Delivery[Link]]) -> None:
        """Write each delivery's frame to its links now (or at :meth:`uncork`), in order."""
        corked = self._corked
        written = 0
        for frame, to in deliveries:
            data = text_frame(frame)
            if corked is None:
                for link in to:
                    link.write(data)
                written += len(data) * len(to)
                continue
            for link in to:
                box = link.outbox
                if box is None:
                    link.outbox = [data]
                    corked.append(link)
                else:
                    box.append(data)
            self._corked_bytes += len(data) * len(to)
        if corked is None:
            if self.backlog:  # only while some member is behind
                self.backlog.check(written)
        elif self._corked_bytes > _CORK_BYTES:
            self._corked = []
            self._write_out(corked)

    def cork(self) -> bool:
        """Gather frames per recipient until :meth:`uncork`; False if already corked."""
        if self._corked is not None or not self._can_cork:
            return False
        self._corked = []
        return True

    def gather(self) -> None:
        """Cork until the event loop's current turn ends (a burst from the backplane)."""
        if self.cork():
            asyncio.get_running_loop().call_soon(self.uncork)

    def uncork(self) -> None:
        """Write what was gathered since :meth:`cork`: each recipient's frames in one write."""
        corked = self._corked
        if corked is not None:
            self._corked = None
            self._write_out(corked)

    def _write_out(self, links: list[Link]) -> None:
        written, self._corked_bytes = self._corked_bytes, 0
        for link in links:
            box = link.outbox
            if box is not None:
                link.outbox = None
                link.write(box[0] if len(box) == 1 else b"".join(box))
        if self.backlog:
            self.backlog.check(written)

    # -- keepalive -------------------------------------------------------------

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(PING_INTERVAL)
            self.sweep()

    def sweep(self) -> None:
        """One keepalive round: ping every link; close those that left the last ping unanswered."""
        if self._engine is None:
            return
        for link in list(self._engine.links()):
            if link.phase is _DONE:
                continue  # already closing
            if link.unanswered:
                self.close(link, CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            else:
                link.unanswered = True
                link.send_ping()

    # -- HTTP push ---------------------------------------------------------------

    async def push(
        self, path: str, body: bytes, send_key: str | None, now: float
    ) -> tuple[int, str]:
        """Deliver an HTTP push (``POST /c/<channel>``); returns its status and reason."""
        if not self.backplane.available:
            return UNAVAILABLE.status, UNAVAILABLE.reason
        result = self.core.push(path, body, send_key, now)
        if result.relay is None:
            self.deliver(result.deliveries)
            return result.status, result.reason
        try:  # relayed before it is delivered here: a push answered 503 reached nobody here
            total = await self.backplane.push(result.relay)
        except BackplaneUnavailable:
            return UNAVAILABLE.status, UNAVAILABLE.reason
        self.deliver(result.deliveries)
        return result.status, delivered(total)
