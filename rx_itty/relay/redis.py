"""Relay nodes sharing channels through Redis: :class:`RedisBackplane` (``rx_itty[redis]``).

Each node has a random 12-character id and two Redis connections: one that
sends every command in order (pipelined: everything queued while a batch is out
goes in the next), and one subscribed to ``P:n:<node>`` (direct messages for its
members) and to ``P:c:<channel>`` for each channel it has members in, only while
it has. Membership lives in Redis and changes only in Lua scripts that publish
the join or leave they make; each node mirrors the roster of its channels into
its core (one snapshot when it subscribes, then those events), so ``total``,
``list=true`` rosters and direct-message routing are cluster-wide.

Ordering. A node delivers its own members' messages locally at once and
publishes them; other nodes deliver what they receive and skip their own, so a
frame crosses Redis once (the frames queued for one channel while a batch was
out go as one PUBLISH). A joiner is added, and gets its own join, at the
moment its join event comes back on the node's subscription: it receives
exactly what was published after its join, and anyone who saw that join can
already reach it with a direct message (which Redis delivers after the join).
Members joining through one node join in the order their handshakes completed.
A join that has not come back within ``join_deadline`` (which takes a fault:
Redis stalling, or state edited behind the nodes' backs) is given up: the
connection is closed with 1013 (try again later) and its member taken out of
Redis, so neither the handshake nor the node's shutdown can hang on it.

Racing first joiners. Ephemeral keys are set by the join script of a channel's
first member. Connections that create an empty channel at the same moment with
different ``joinKey`` values are each admitted (the channel is empty when each
handshake is checked); the first join script to run sets the keys, and the
others are upgraded and then closed with 1008 and the reason "A valid joinKey
is required to join this channel." instead of being refused with 403.

Liveness. Each node refreshes its heartbeat every ``node_ttl / 3`` and sweeps
nodes whose heartbeat is older than ``node_ttl``, publishing their members'
leaves. A node killed with ``kill -9`` last beat up to ``node_ttl / 3`` before
it died, and the first sweep after its heartbeat expires comes up to
``node_ttl / 3`` later, so it disappears from every channel between 2/3 and 4/3
of ``node_ttl`` after the kill.

Agreement. Reserved namespaces are checked by each node from its own config, so
a node whose namespaces differ from a live node's refuses to join the cluster.

Outages. While Redis is unreachable a node cannot keep its channels consistent
with the others, so it closes every connection with code 1012 (service
restart: clients reconnect), answers new handshakes and pushes with HTTP 503,
and reconnects with exponential backoff. Back, it removes whatever it had left
in Redis (publishing those leaves) and accepts connections again; a node that
finds it was swept meanwhile does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import random
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final, Generic, NamedTuple, TypeVar, final

from rx_itty import _json
from rx_itty._logging import without_credentials
from rx_itty.backoff import Backoff
from rx_itty.exceptions import BackplaneUnavailable, MissingDependency, RelayConfigError
from rx_itty.relay._lua import SCRIPTS
from rx_itty.relay.backplane import JOIN_TIMED_OUT, UNAVAILABLE, BackplaneHost
from rx_itty.relay.config import BackplaneConfig, RelayConfig
from rx_itty.relay.core import (
    KEY_REFUSED,
    Member,
    Refusal,
    Relayed,
    RemoteMember,
    Ticket,
    key_digest,
    random_uid,
    ticket_digests,
)
from rx_itty.wire import CloseCode

try:
    from redis import asyncio as aioredis
    from redis.asyncio.connection import AbstractConnection
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError, ResponseError
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised in a fresh interpreter without redis
    _HAVE_REDIS = False
else:
    _HAVE_REDIS = True

__all__ = ["RedisBackplane"]

C = TypeVar("C")

logger = logging.getLogger("rx_itty.relay")

NODE_ID_LENGTH: Final = 12
CONNECT_TIMEOUT: Final = 5.0
_CANDIDATE_UIDS: Final = 3
_JOIN_ATTEMPTS: Final = 3
_RECONNECT = Backoff(initial=0.1, maximum=5.0)
# Event kinds: the first byte of every payload this backplane publishes.
_MESSAGE, _BATCH, _JOIN, _LEAVE = b"M"[0], b"B"[0], b"J"[0], b"L"[0]
_HEAD = 1 + NODE_ID_LENGTH
# Marks a queued broadcast: consecutive ones to one channel go out as one PUBLISH.
_BROADCAST: Final = object()


class _Channel:
    """This node's subscription to one channel, from SUBSCRIBE until its last member leaves."""

    __slots__ = (
        "buffer",
        "joining",
        "key",
        "local",
        "name",
        "ready",
        "seq",
        "subscribed",
        "turns",
    )

    def __init__(self, name: str, key: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.key = key
        self.subscribed: asyncio.Future[None] = loop.create_future()
        # Resolved once the snapshot is in the core; joins wait for it.
        self.ready: asyncio.Future[None] = loop.create_future()
        # Events received before the snapshot, replayed after it (None once loaded).
        self.buffer: list[bytes] | None = []
        # Joins and leaves up to this sequence number are already in the snapshot.
        self.seq = 0
        self.local: set[Member[Any]] = set()
        self.joining = 0
        # Joiners queue their join scripts one at a time, in the order they came (a fair
        # lock): one that comes just as the snapshot lands must not overtake those that
        # waited for it, or a later handshake would join first.
        self.turns = asyncio.Lock()


class _Joiner(NamedTuple, Generic[C]):
    ticket: Ticket
    conn: C
    waiter: asyncio.Future[Member[C]]


def _namespaces_digest(config: RelayConfig) -> str:
    """What every node of a cluster must agree on: its reserved namespaces and their keys."""
    table = sorted(
        (name, key_digest(keys.join_key or ""), key_digest(keys.send_key or ""))
        for name, keys in config.namespaces.items()
    )
    return hashlib.sha256(_json.dumps(table).encode()).hexdigest()


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # retrieved here, so an unawaited one is never reported


@final
class RedisBackplane(Generic[C]):
    """Relay nodes sharing channels through one Redis server (7.0 or later).

    Create it with :func:`~rx_itty.relay.backplane.open_backplane`, or let
    :class:`~rx_itty.relay.Relay` do it from ``backplane=URL`` or the config.

    Args:
        config: The Redis URL, the node TTL and the key prefix.
        uid_factory: Makes candidate uids (6 random ``[0-9a-z]`` characters by default);
            the join script takes the first one no member of the channel has.

    Attributes:
        join_deadline: Seconds a handshake may wait on Redis, for its admission and
            then for its join (twice the node TTL, at least 5 s); past it the
            handshake is refused with 503, or closed with 1013 once upgraded.

    Raises:
        MissingDependency: the ``redis`` package is missing: ``pip install 'rx_itty[redis]'``.
    """

    clustered = True

    def __init__(
        self, config: BackplaneConfig, *, uid_factory: Callable[[], str] = random_uid
    ) -> None:
        if not _HAVE_REDIS:
            raise MissingDependency(
                "a Redis backplane needs the redis package: pip install 'rx_itty[redis]'"
            )
        self.config = config
        self._uid_factory = uid_factory
        self.join_deadline = max(CONNECT_TIMEOUT, 2 * config.node_ttl)
        self.node_id = secrets.token_hex(NODE_ID_LENGTH // 2)
        self._node = self.node_id.encode()
        self._url = without_credentials(config.url)
        p = config.prefix
        self._prefix = p
        self._node_key = f"{p}:n:{self.node_id}".encode()
        self._message_head = f"M{self.node_id}"
        self._batch_head = f"B{self.node_id}"
        self._host: BackplaneHost[C] | None = None
        self._up = False
        self._pool: aioredis.ConnectionPool | None = None
        self._cmd: AbstractConnection | None = None
        self._sub: AbstractConnection | None = None
        self._sub_lock = asyncio.Lock()
        self._shas: dict[str, str] = {}
        self._namespaces = ""
        self._outbox: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = []
        self._in_flight: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = []
        self._wake = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._channels: dict[str, _Channel] = {}
        self._by_key: dict[bytes, _Channel] = {}
        self._joiners: dict[str, _Joiner[C]] = {}
        self._tokens = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None

    # -- Backplane -------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Whether Redis is reachable and this node serves handshakes."""
        return self._up

    async def start(self, host: BackplaneHost[C]) -> None:
        """Connect, register this node, and keep it connected until :meth:`aclose`.

        Raises:
            BackplaneUnavailable: Redis cannot be reached (the message names the URL,
                without credentials).
            RelayConfigError: another live node has other reserved namespaces (a node
                missing a reservation would let anyone in without its keys).
        """
        self._host = host
        self._namespaces = _namespaces_digest(host.core.config)
        await self._connect()
        self._supervisor = asyncio.create_task(self._supervise(), name="rx_itty-backplane")

    async def aclose(self) -> None:
        """Send what is queued (the last leaves), leave the registry and disconnect."""
        if self._up:
            with contextlib.suppress(BackplaneUnavailable, TimeoutError):
                await asyncio.wait_for(self._call("purge", self.node_id), CONNECT_TIMEOUT)
        self._up = False
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._disconnect()

    async def admit(self, ticket: Ticket) -> Refusal | None:
        """503 while Redis is down or slower than ``join_deadline``; 403 for another join key.

        The key checked is the channel's, wherever it lives in the cluster.
        """
        if not self._up:
            return UNAVAILABLE
        core = self._started().core
        if core.reserved(ticket.channel) or core.channel_keys(ticket.channel) is not None:
            return None  # the core already checked the keys that apply
        try:
            keys = await asyncio.wait_for(self._call("keys", ticket.channel), self.join_deadline)
        except (BackplaneUnavailable, TimeoutError):
            return UNAVAILABLE
        join_key = keys[0].decode() if keys else ""
        presented = ticket_digests(ticket)[0] or ""
        if join_key and not hmac.compare_digest(presented, join_key):
            return KEY_REFUSED  # the join script checks again when it admits the member
        return None

    async def join(self, ticket: Ticket, conn: C, now: float) -> Member[C] | Refusal:
        """Register the member in Redis; returns once its own join has been delivered.

        A join that has not completed within :attr:`join_deadline` is given up (and
        its member taken out of Redis): the handshake is refused with a 503, never
        left hanging, and neither is the node's shutdown.
        """
        if not self._up:
            return UNAVAILABLE
        channel = self._channels.get(ticket.channel) or self._open(ticket.channel)
        channel.joining += 1
        token = str(next(self._tokens))
        waiter: asyncio.Future[Member[C]] = asyncio.get_running_loop().create_future()
        member = None
        uid: str | None = None
        try:
            async with asyncio.timeout(self.join_deadline):
                async with channel.turns:
                    await asyncio.shield(channel.ready)
                    self._joiners[token] = _Joiner(ticket, conn, waiter)
                    reply = self._join_script(ticket, token, now)  # queued in arrival order
                status, uid = await self._register(ticket, token, now, reply)
                if status == b"key":
                    return KEY_REFUSED
                if status != b"ok":
                    return UNAVAILABLE
                member = await waiter
                return member
        except TimeoutError:
            logger.warning(
                "gave up a join to %r after %g s: its join event never came back from Redis",
                ticket.channel,
                self.join_deadline,
            )
            return JOIN_TIMED_OUT
        except BackplaneUnavailable:
            return UNAVAILABLE
        finally:
            self._joiners.pop(token, None)
            channel.joining -= 1
            if member is None:
                if waiter.done() and not waiter.cancelled() and not waiter.exception():
                    self.leave(waiter.result(), time.time())  # joined just as it gave up
                elif uid is not None:
                    # Registered, but its join never reached this node: take it out, or
                    # it would stay in Redis (counted in every total) as long as we live.
                    self._take_out(ticket.channel, uid)
            self._release(channel)

    def leave(self, member: Member[C], now: float) -> None:
        """Publish ``member``'s leave (through the ordered queue, after its last frames)."""
        channel = self._channels.get(member.channel.name)
        if channel is None or member not in channel.local:
            return  # the backplane went down meanwhile: Redis forgets this node's members
        channel.local.discard(member)
        self._send("leave", channel.name, member.uid, int(now * 1000))
        self._release(channel)

    def relay(self, relayed: Relayed) -> None:
        """Publish a frame for the other nodes (no reply awaited)."""
        if not self._up:
            return  # every connection is being closed with 1012
        if relayed.node is None:
            command: tuple[Any, ...] = (
                _BROADCAST,
                f"{self._prefix}:c:{relayed.channel}",
                relayed.frame,
            )
        else:
            head = _json.dumps([relayed.channel, relayed.uid])
            command = (
                "PUBLISH",
                f"{self._prefix}:n:{relayed.node}",
                f"D{self.node_id}{head}\n{relayed.frame}",
            )
        self._enqueue(command, None)

    async def push(self, relayed: Relayed) -> int:
        """Publish an HTTP push to every node; returns its channel's members, cluster-wide."""
        if not self._up:
            raise self._outage()
        return int(await self._call("push", relayed.channel, self._message_head + relayed.frame))

    # -- joining -----------------------------------------------------------------------

    def _open(self, name: str) -> _Channel:
        """Subscribe to a channel this node has no members in yet, and load its roster."""
        loop = asyncio.get_running_loop()
        channel = _Channel(name, f"{self._prefix}:c:{name}".encode(), loop)
        self._channels[name] = channel
        self._by_key[channel.key] = channel
        self._spawn(self._load(channel))
        return channel

    async def _load(self, channel: _Channel) -> None:
        try:
            await self._subscription("SUBSCRIBE", channel.key)
            await channel.subscribed
            # Taken after the subscription is confirmed: every later change arrives as an event.
            seq, join_key, send_key, flat = await self._call("snapshot", channel.name)
        except (BackplaneUnavailable, RedisError, OSError) as exc:
            _fail(channel.ready, BackplaneUnavailable(f"cannot load channel: {exc}"))
            if self._channels.get(channel.name) is channel:  # the next joiner tries again
                del self._channels[channel.name]
                del self._by_key[channel.key]
            return
        if self._channels.get(channel.name) is not channel:  # went down meanwhile
            _fail(channel.ready, self._outage())
            return
        entries = []
        for uid, record in zip(flat[::2], flat[1::2], strict=True):
            node, joined, announce, alias = _json.loads(record)
            entries.append(
                (joined, RemoteMember(uid.decode(), alias or None, bool(announce), node))
            )
        entries.sort(key=lambda entry: entry[0])
        keys = (join_key.decode() or None, send_key.decode() or None)
        self._started().core.load(channel.name, keys, [entry for _, entry in entries])
        channel.seq = int(seq)
        buffered, channel.buffer = channel.buffer or [], None
        for data in buffered:
            self._on_event(channel, data)
        channel.ready.set_result(None)

    def _join_script(self, ticket: Ticket, token: str, now: float) -> asyncio.Future[Any]:
        """Queue the join script for ``ticket``, with fresh candidate uids."""
        join_digest, send_digest = ticket_digests(ticket)
        return self._call(
            "join",
            ticket.channel,
            self.node_id,
            "1" if self._started().core.reserved(ticket.channel) else "0",
            join_digest or "",
            send_digest or "",
            "1" if ticket.announce else "0",
            ticket.alias or "",
            int(now * 1000),
            token,
            *(self._uid_factory() for _ in range(_CANDIDATE_UIDS)),
        )

    async def _register(
        self, ticket: Ticket, token: str, now: float, reply: asyncio.Future[Any]
    ) -> tuple[bytes, str | None]:
        """The join script's status and the member's uid (``None`` unless ``b"ok"``).

        Retries with fresh candidate uids on the (rare) collision.
        """
        result = [b"uid"]
        for attempt in range(_JOIN_ATTEMPTS):
            if attempt:
                reply = self._join_script(ticket, token, now)
            result = await reply
            if result[0] == b"gone":
                self._beat_now.set()  # the heartbeat finds out and resets this node
            if result[0] != b"uid":
                break
        status = bytes(result[0])
        return status, result[1].decode() if status == b"ok" else None

    def _take_out(self, channel: str, uid: str) -> None:
        """Remove from Redis a member whose join never completed here (publishing its leave)."""
        self._send("leave", channel, uid, int(time.time() * 1000))

    def _release(self, channel: _Channel) -> None:
        """Unsubscribe from a channel this node has no members in any more."""
        if channel.local or channel.joining or self._channels.get(channel.name) is not channel:
            return
        del self._channels[channel.name]
        del self._by_key[channel.key]
        self._started().core.forget(channel.name)
        if self._up:
            self._spawn(self._subscription("UNSUBSCRIBE", channel.key))

    # -- events ------------------------------------------------------------------------

    def _on_message(self, key: bytes, data: bytes) -> None:
        if key == self._node_key:
            self._on_direct(data)
            return
        channel = self._by_key.get(key)
        if channel is None:
            return  # unsubscribed meanwhile
        if channel.buffer is not None:
            channel.buffer.append(data)
            return
        self._on_event(channel, data)

    def _on_event(self, channel: _Channel, data: bytes) -> None:
        kind = data[0]
        host = self._started()
        if kind == _MESSAGE:
            if data[1:_HEAD] != self._node:  # our own: delivered here already
                host.deliver(host.core.relay_in(channel.name, data[_HEAD:].decode()))
        elif kind == _BATCH:
            if data[1:_HEAD] != self._node:
                self._on_batch(channel.name, data[_HEAD:].decode())
        elif kind == _JOIN:
            self._on_join(channel, data)
        elif kind == _LEAVE:
            uid, seq, total, date, _, _ = _json.loads(data[_HEAD:])
            if seq > channel.seq:
                host.deliver(host.core.depart(channel.name, uid, total, date))

    def _on_batch(self, name: str, body: str) -> None:
        """Frames published together, each as ``<length>:<frame>``, delivered in order."""
        host = self._started()
        relay_in = host.core.relay_in
        pos, end = 0, len(body)
        while pos < end:
            colon = body.index(":", pos)
            start = colon + 1
            pos = start + int(body[pos:colon])
            if pos > end:
                logger.error("backplane: ignored the rest of a batch for %r: cut short", name)
                return
            host.deliver(relay_in(name, body[start:pos]))

    def _on_join(self, channel: _Channel, data: bytes) -> None:
        uid, seq, total, date, announce, alias, token, *created = _json.loads(data[_HEAD:])
        if seq <= channel.seq:
            return
        host = self._started()
        keys = (created[0] or None, created[1] or None) if created else None
        node = data[1:_HEAD].decode()
        joiner = self._joiners.pop(token, None) if node == self.node_id else None
        if joiner is None:
            entry = RemoteMember(uid, alias or None, bool(announce), node)
            host.deliver(host.core.arrive(channel.name, entry, total, date, keys)[1])
            if node == self.node_id:  # its handshake gave up while it joined: take it back
                self._take_out(channel.name, uid)
            return
        member, deliveries = host.core.arrive(
            channel.name, (uid, joiner.ticket, joiner.conn), total, date, keys
        )
        host.deliver(deliveries)  # the own join first, before anything else reaches it
        if member is None:  # the core no longer follows the channel: fail the join cleanly
            self._take_out(channel.name, uid)
            _fail(joiner.waiter, BackplaneUnavailable(f"channel {channel.name!r} was dropped"))
            return
        channel.local.add(member)
        if not joiner.waiter.done():
            joiner.waiter.set_result(member)

    def _on_direct(self, data: bytes) -> None:
        head, _, frame = data[_HEAD:].partition(b"\n")
        name, uid = _json.loads(head)
        host = self._started()
        host.deliver(host.core.direct_in(name, uid, frame.decode()))

    # -- Redis I/O ------------------------------------------------------------------------

    def _enqueue(self, command: tuple[Any, ...], future: asyncio.Future[Any] | None) -> None:
        self._outbox.append((command, future))
        self._wake.set()

    def _call(self, script: str, *args: Any) -> asyncio.Future[Any]:
        """Queue a script call; the future resolves with its reply, or fails with the outage."""
        future = asyncio.get_running_loop().create_future()
        if self._up:
            self._enqueue(("EVALSHA", self._shas[script], 0, self._prefix, *args), future)
        else:
            _fail(future, self._outage())
        return future

    def _send(self, script: str, *args: Any) -> None:
        """Queue a script call whose reply nobody needs."""
        if self._up:
            self._enqueue(("EVALSHA", self._shas[script], 0, self._prefix, *args), None)

    async def _subscription(self, verb: str, key: bytes) -> None:
        async with self._sub_lock:  # a fair lock: SUBSCRIBE/UNSUBSCRIBE go out in call order
            if self._sub is None:
                raise self._outage()
            await self._sub.send_command(verb, key, check_health=False)

    async def _write_loop(self, conn: AbstractConnection) -> None:
        """Send everything queued, in order, as one pipeline per round trip."""
        while True:
            if not self._outbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, self._outbox = self._coalesced(self._outbox), []
            self._in_flight = batch
            await conn.send_packed_command(
                conn.pack_commands([command for command, _ in batch]), check_health=False
            )
            for command, future in batch:
                try:
                    result = await conn.read_response()
                except ResponseError as exc:
                    if str(exc).startswith("NOSCRIPT"):
                        raise  # the scripts are gone (SCRIPT FLUSH): reconnect, reload them
                    logger.error("backplane command %s failed: %s", command[0], exc)
                    if future is not None:
                        _fail(future, BackplaneUnavailable(f"Redis refused {command[0]}: {exc}"))
                    continue
                if future is not None and not future.done():
                    future.set_result(result)
            self._in_flight = []

    def _coalesced(
        self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]]
    ) -> list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]]:
        """The batch with each run of broadcasts to one channel made one PUBLISH.

        Under load this is what keeps Redis and the receiving nodes at a fraction of
        a command per message; the order of everything is kept.
        """
        out: list[tuple[tuple[Any, ...], asyncio.Future[Any] | None]] = []
        key: str | None = None
        frames: list[str] = []

        def publish() -> None:
            if len(frames) == 1:
                out.append((("PUBLISH", key, self._message_head + frames[0]), None))
            elif frames:
                body = "".join(f"{len(frame)}:{frame}" for frame in frames)
                out.append((("PUBLISH", key, self._batch_head + body), None))
            frames.clear()

        for command, future in batch:
            if command[0] is _BROADCAST:
                if command[1] != key:
                    publish()
                    key = command[1]
                frames.append(command[2])
            else:
                publish()
                key = None
                out.append((command, future))
        publish()
        return out

    async def _read_loop(self, conn: AbstractConnection) -> None:
        """Dispatch everything the subscription receives, in the order Redis sent it."""
        read = conn.read_response
        gather = self._started().gather
        while True:
            response = await read()
            kind = response[0]
            if kind == b"message":
                gather()  # a burst read from one socket read: one write per connection
                try:
                    self._on_message(response[1], response[2])
                except Exception:
                    # A payload this node cannot read (another cluster sharing the prefix,
                    # a newer version) must cost that event, not every connection here.
                    logger.exception("backplane: ignored an unreadable event on %r", response[1])
            elif kind == b"subscribe":
                channel = self._by_key.get(response[1])
                if channel is not None and not channel.subscribed.done():
                    channel.subscribed.set_result(None)

    async def _beat_loop(self) -> None:
        """Refresh this node's heartbeat, and sweep dead nodes, every third of the TTL."""
        ttl = self.config.node_ttl
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._beat_now.wait(), ttl / 3)
            self._beat_now.clear()
            alive = await asyncio.wait_for(
                self._call("beat", self.node_id, int(ttl * 1000), "0"), ttl
            )
            if not alive:
                raise BackplaneUnavailable("the other nodes declared this node dead (no heartbeat)")
            self._send("sweep")

    # -- connection lifecycle ---------------------------------------------------------------

    async def _connect(self) -> None:
        """Connect both connections, load the scripts and (re-)register this node.

        Raises:
            BackplaneUnavailable: with a one-line reason naming the URL.
            RelayConfigError: the URL is not one redis-py can read.
        """
        try:
            pool = aioredis.ConnectionPool.from_url(
                self.config.url,
                retry=Retry(NoBackoff(), 0),
                protocol=2,  # pub/sub messages as plain replies, read in order with the rest
                socket_connect_timeout=CONNECT_TIMEOUT,
                # Reads wait as long as it takes (a quiet channel is not a failure); a Redis
                # that stops answering is caught by the heartbeat's own deadline.
                socket_timeout=None,
            )
        except ValueError:
            # Not chained, and not quoted: redis-py's reason may quote part of a password.
            raise RelayConfigError(
                f"the backplane URL {self._url} is not a valid Redis URL: check its host, "
                "port and /DB, and percent-encode any '/', '?', '#' or '@' in the password"
            ) from None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT * 2):
                cmd = await pool.get_connection()  # type: ignore[no-untyped-call]
                sub = await pool.get_connection()  # type: ignore[no-untyped-call]
                shas = {}
                for name, source in SCRIPTS.items():
                    await cmd.send_command("SCRIPT", "LOAD", source)
                    shas[name] = (await cmd.read_response()).decode()
                ttl = int(self.config.node_ttl * 1000)
                # Whatever this node left in Redis before an outage goes first, with leaves.
                replies = []
                for args in (
                    ("purge", self.node_id),
                    ("beat", self.node_id, ttl, "1"),
                    ("config", self.node_id, self._namespaces),
                ):
                    await cmd.send_command("EVALSHA", shas[args[0]], 0, self._prefix, *args[1:])
                    replies.append(await cmd.read_response())
                await sub.send_command("SUBSCRIBE", self._node_key)
                await sub.read_response()
        except (RedisError, OSError, TimeoutError) as exc:
            await pool.disconnect()
            reason = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
            raise BackplaneUnavailable(
                f"cannot reach the Redis backplane at {self._url}: {reason}"
            ) from exc
        if replies[-1]:
            await cmd.send_command("EVALSHA", shas["purge"], 0, self._prefix, self.node_id)
            await cmd.read_response()
            await pool.disconnect()
            raise RelayConfigError(
                f"cannot join the cluster at {self._url}: node {replies[-1].decode()} has other "
                "reserved namespaces; give every node the same namespaces in its config"
            )
        self._pool, self._cmd, self._sub, self._shas = pool, cmd, sub, shas
        self._up = True
        logger.info("relay node %s joined the cluster at %s", self.node_id, self._url)

    async def _supervise(self) -> None:
        """Run the three loops; on any failure go down, then reconnect with backoff."""
        while True:
            assert self._cmd is not None
            assert self._sub is not None
            loops = [
                asyncio.create_task(self._write_loop(self._cmd)),
                asyncio.create_task(self._read_loop(self._sub)),
                asyncio.create_task(self._beat_loop()),
            ]
            try:
                done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in loops:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
            failure = next(iter(done)).exception()
            await self._reset(failure or RuntimeError("a backplane loop ended"))
            await self._reconnect()

    async def _reset(self, why: BaseException) -> None:
        """Go down: fail what waits on Redis, forget every channel, close every connection."""
        self._up = False
        host = self._started()
        logger.warning(
            "relay node %s lost the Redis backplane at %s (%s): closing its connections "
            "with 1012 and refusing handshakes with 503 until it is back",
            self.node_id,
            self._url,
            " ".join(str(why).split()) or type(why).__name__,
        )
        down = self._outage()
        for _, future in self._in_flight + self._outbox:
            if future is not None:
                _fail(future, down)
        self._in_flight, self._outbox = [], []
        for channel in self._channels.values():
            _fail(channel.ready, down)
            host.core.forget(channel.name)
        for joiner in self._joiners.values():
            _fail(joiner.waiter, down)
        self._channels.clear()
        self._by_key.clear()
        self._joiners.clear()
        host.disconnect(CloseCode.SERVICE_RESTART, "relay backplane unavailable: reconnect")
        await self._disconnect()

    async def _reconnect(self) -> None:
        for attempt in itertools.count():
            await asyncio.sleep(_RECONNECT.delay(attempt, random.random) or _RECONNECT.maximum)
            try:
                await self._connect()
            except (BackplaneUnavailable, RelayConfigError) as exc:
                if attempt == 0 or attempt % 10 == 0:
                    logger.warning("relay node %s: %s; retrying", self.node_id, exc)
                continue
            # As loud as the outage was: whoever saw that warning learns it is over.
            logger.warning("relay node %s is back on the Redis backplane", self.node_id)
            return

    async def _disconnect(self) -> None:
        pool, self._pool, self._cmd, self._sub = self._pool, None, None, None
        if pool is not None:
            await pool.disconnect()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # An (UN)SUBSCRIBE that met the outage: the supervisor resets this node anyway.
            logger.debug("backplane task failed: %s", task.exception())

    def _outage(self) -> BackplaneUnavailable:
        return BackplaneUnavailable(f"the Redis backplane at {self._url} is unreachable")

    def _started(self) -> BackplaneHost[C]:
        assert self._host is not None, "start() the backplane first"
        return self._host
