"""The relay's protocol core, without I/O: channels, members, keys and limits.

The I/O layer feeds it handshakes, inbound frames and departures, each with the
current time, and gets back :class:`Delivery` values (one frame, the connections
it goes to) plus, rarely, an instruction to close. Nothing here awaits, sleeps or
reads a clock, so every rule of the protocol (joins, keys, namespaces, direct
messages, limits) is tested with strings.

Typical use by a server::

    ticket = core.admit(path, peer_ip, now)          # Refusal -> HTTP status
    member, deliveries = core.join(ticket, conn, now)  # own join first
    outcome = core.receive(member, text, now)          # for each inbound frame
    deliveries = core.leave(member, now)               # on close

In a cluster (``clustered=True``) the roster of each channel is cluster-wide:
members on other nodes are :class:`RemoteMember` records, and joins and leaves
are applied in the order the cluster saw them, with :meth:`RelayCore.load`,
:meth:`RelayCore.arrive` and :meth:`RelayCore.depart`. The core still decides
everything; an :class:`Outcome` whose frame must also reach other nodes carries
a :class:`Relayed` value for the I/O layer's backplane to publish, and frames
from other nodes come back in through :meth:`RelayCore.relay_in` and
:meth:`RelayCore.direct_in`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar, final
from urllib.parse import unquote

from rx_itty import _json
from rx_itty._logging import KEY_PARAMS, query_params
from rx_itty.relay.config import RelayConfig, match_namespace
from rx_itty.relay.proxy import parse_address
from rx_itty.wire import CloseCode, split_direct

__all__ = [
    "KEY_REFUSED",
    "Delivery",
    "Member",
    "Outcome",
    "PushResult",
    "Refusal",
    "RelayCore",
    "Relayed",
    "RemoteMember",
    "Ticket",
    "delivered",
    "key_digest",
    "random_uid",
    "ticket_digests",
]

C = TypeVar("C")

_UID_ALPHABET = string.digits + string.ascii_lowercase
_FALSE_FLAGS = frozenset(("false", "0", "undefined", "null"))
_RECIPIENT_CACHE = 64  # senders whose recipient tuple is kept per channel
# The envelope wraps a payload in one more level: deeper payloads would be
# relayed to clients that cannot decode them.
_PAYLOAD_DEPTH = _json.MAX_DEPTH - 1


def random_uid() -> str:
    """A fresh uid: 6 random ``[0-9a-z]`` characters."""
    return "".join(secrets.choice(_UID_ALPHABET) for _ in range(6))


def key_digest(key: str) -> str:
    """The form a channel key is kept in: a SHA-256 hex digest, never the key itself.

    The digest is unsalted (every node of a cluster must compute the same one), so
    whoever can read a cluster's Redis can test guesses against it offline: a
    short or common key falls to a dictionary, a long random one does not.
    """
    return hashlib.sha256(b"rx_itty channel key\0" + key.encode()).hexdigest()


def _keys_match(presented: str | None, expected_digest: str) -> bool:
    # Digests of equal length, compared in constant time: nothing about the key leaks.
    return hmac.compare_digest(key_digest(presented or ""), expected_digest)


def delivered(count: int) -> str:
    """The reason a successful HTTP push answers with: ``Delivered to 3 connections.``"""
    return f"Delivered to {count} connection{'' if count == 1 else 's'}."


def _digests(join_key: str | None, send_key: str | None) -> tuple[str | None, str | None]:
    return (
        None if join_key is None else key_digest(join_key),
        None if send_key is None else key_digest(send_key),
    )


def ticket_digests(ticket: Ticket) -> tuple[str | None, str | None]:
    """Digests of the join and send keys a handshake presented (``None`` for an absent key)."""
    return _digests(ticket.join_key, ticket.send_key)


def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name)
    return value is not None and value.lower() not in _FALSE_FLAGS


def is_loopback(ip: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything unparsable."""
    address = None if not ip else parse_address(ip)
    return address is not None and address.is_loopback


@final
@dataclass(frozen=True, slots=True)
class Refusal:
    """A handshake the relay turns down, as an HTTP status and a one-line reason."""

    status: int
    reason: str


@final
@dataclass(frozen=True, slots=True)
class Ticket:
    """A handshake that passed the gates; hand it to :meth:`RelayCore.join` after the upgrade."""

    channel: str
    alias: str | None
    echo: bool
    announce: bool
    list: bool
    join_key: str | None
    send_key: str | None
    ip: str | None
    exempt: bool

    def __repr__(self) -> str:  # keys never appear in logs or tracebacks
        return f"Ticket(channel={self.channel!r}, alias={self.alias!r})"


KEY_REFUSED = Refusal(403, "A valid joinKey is required to join this channel.")
"""The answer to a handshake with a missing or wrong join key."""


# NamedTuples, not frozen dataclasses: one of each is built per relayed message,
# and a frozen dataclass's __init__ costs about twice as much.
class Delivery(NamedTuple, Generic[C]):
    """One frame and the connections it goes to, in the order the relay produced it."""

    frame: str
    to: Sequence[C]


class Relayed(NamedTuple):
    """A frame the other nodes of a cluster must deliver too.

    Attributes:
        channel: The channel it belongs to.
        frame: The frame exactly as clients receive it.
        node: For a direct message, the node its recipient is on; ``None`` for a
            broadcast to every member of ``channel`` on other nodes.
        uid: For a direct message, its recipient.
    """

    channel: str
    frame: str
    node: str | None = None
    uid: str | None = None


class Outcome(NamedTuple, Generic[C]):
    """What handling one inbound frame produced: deliveries, maybe a close, maybe a relay."""

    deliveries: list[Delivery[C]]
    close: tuple[int, str] | None = None
    relay: Relayed | None = None


class PushResult(NamedTuple, Generic[C]):
    """The answer to an HTTP push: status, a one-line reason, what to deliver and relay."""

    status: int
    reason: str
    deliveries: Sequence[Delivery[C]] = ()
    relay: Relayed | None = None


class _Identified:
    """What members of either kind show of themselves."""

    __slots__ = ()
    uid: str
    alias: str | None

    def identity(self) -> dict[str, Any]:
        """``{"uid", "alias"?}`` as it appears in join/leave frames and user lists."""
        fields: dict[str, Any] = {"uid": self.uid}
        if self.alias:
            fields["alias"] = self.alias
        return fields


@final
class RemoteMember(_Identified):
    """A member connected to another node of the cluster: what its join said about it."""

    __slots__ = ("alias", "announce", "node", "uid")

    conn = None  # no connection here: frames for it go through its node

    def __init__(self, uid: str, alias: str | None, announce: bool, node: str) -> None:
        self.uid = uid
        self.alias = alias
        self.announce = announce
        self.node = node

    def __repr__(self) -> str:
        return f"RemoteMember(uid={self.uid!r}, node={self.node!r})"


class _Channel(Generic[C]):
    __slots__ = ("everyone", "join_key", "members", "name", "recipients", "remote", "send_key")

    def __init__(self, name: str, join_key: str | None, send_key: str | None) -> None:
        self.name = name
        # Digests (see key_digest), never the keys.
        self.join_key = join_key
        self.send_key = send_key
        # Insertion order is join order, used for `users` snapshots. In a cluster
        # this is the whole channel's roster, members of other nodes included.
        self.members: dict[str, Member[C] | RemoteMember] = {}
        # Members on other nodes: while there are any, broadcasts are relayed.
        self.remote = 0
        # uid -> who a broadcast from that member reaches; rebuilt after a join or leave.
        self.recipients: dict[str, tuple[C, ...]] = {}
        # Every local connection, for frames relayed from other nodes; rebuilt likewise.
        self.everyone: tuple[C, ...] | None = None

    def changed(self) -> None:
        self.recipients.clear()
        self.everyone = None

    def local(self) -> tuple[C, ...]:
        if self.everyone is None:
            self.everyone = tuple(m.conn for m in self.members.values() if m.conn is not None)
        return self.everyone


@final
class Member(_Identified, Generic[C]):
    """One connection in a channel. The I/O layer keeps it and passes it back in."""

    __slots__ = (
        "alias",
        "announce",
        "can_send",
        "channel",
        "conn",
        "echo",
        "envelope_head",
        "exempt",
        "ip",
        "uid",
        "violations",
        "wants_list",
        "window_count",
        "window_start",
    )

    node = None  # on this node

    def __init__(self, uid: str, ticket: Ticket, channel: _Channel[C], conn: C) -> None:
        self.uid = uid
        self.alias = ticket.alias
        self.echo = ticket.echo
        self.announce = ticket.announce
        self.wants_list = ticket.list
        self.ip = ticket.ip
        self.exempt = ticket.exempt
        self.channel = channel
        self.conn = conn
        self.can_send = channel.send_key is None or _keys_match(ticket.send_key, channel.send_key)
        # Every envelope from this member starts the same way after "date"; build it once.
        head = f'"uid":"{uid}"'
        if self.alias:
            head += f',"alias":{_json.dumps(self.alias)}'
        self.envelope_head = head
        self.violations = 0
        self.window_start = 0.0
        self.window_count = 0

    def __repr__(self) -> str:
        return f"Member(uid={self.uid!r}, channel={self.channel.name!r})"


class RelayCore(Generic[C]):
    """Channels and their members, driven by handshakes, frames and departures.

    Args:
        config: Limits and reserved namespaces.
        uid_factory: Makes candidate uids; 6 random ``[0-9a-z]`` characters by default.
        clustered: This node is one of several sharing channels through a backplane:
            channels it has no members in may live on other nodes, so HTTP pushes
            to them are relayed, and joins come in through :meth:`arrive`.
    """

    def __init__(
        self,
        config: RelayConfig | None = None,
        *,
        uid_factory: Callable[[], str] = random_uid,
        clustered: bool = False,
    ) -> None:
        self.config = config or RelayConfig()
        self.clustered = clustered
        self._uid_factory = uid_factory
        self._channels: dict[str, _Channel[C]] = {}
        self._namespace_digests = {
            name: _digests(keys.join_key, keys.send_key)
            for name, keys in self.config.namespaces.items()
        }
        # Oldest first (the clock only moves on), so what has expired is pruned from
        # the front: a handshake costs O(1) however many addresses are remembered.
        self._handshakes: OrderedDict[str, tuple[float, int]] = OrderedDict()  # window start
        self._bans: OrderedDict[str, float] = OrderedDict()  # ban end
        limits = self.config.limits
        self._frame_cap = limits.max_frame_bytes
        self._per_window = limits.messages_per_window
        self._window = limits.window_seconds

    # -- introspection -----------------------------------------------------

    def channel_names(self) -> list[str]:
        """Names of the live channels."""
        return [name for name, live in self._channels.items() if live.members]

    def member_count(self, channel: str) -> int:
        """Connections in ``channel`` (0 if it does not exist); in a cluster, on every node."""
        live = self._channels.get(channel)
        return len(live.members) if live else 0

    def channel_keys(self, channel: str) -> tuple[str | None, str | None] | None:
        """Digests of a live channel's join and send keys, or ``None`` if it is not live here.

        In a cluster a channel this node follows can be empty for a moment (its last
        member left while a joiner of this node is on its way in): its keys died with
        that member, so it counts as not live until a join sets new ones.
        """
        live = self._live(channel)
        return None if live is None else (live.join_key, live.send_key)

    def reserved(self, channel: str) -> bool:
        """Whether ``channel`` is under a reserved namespace (its keys come from the config)."""
        return match_namespace(channel, self.config.namespaces) is not None

    def _live(self, name: str) -> _Channel[C] | None:
        """``name``'s channel if it has members (cluster-wide), else ``None``."""
        live = self._channels.get(name)
        return live if live is not None and live.members else None

    # -- handshake -----------------------------------------------------------

    def admit(self, path: str, ip: str | None = None, now: float = 0.0) -> Ticket | Refusal:
        """Check a handshake's path, query and keys before the upgrade.

        Args:
            path: The request target, ``/c/<channel>?<query>``.
            ip: The peer's address, for connection limits and bans.
            now: Current time in seconds on a monotonic clock (``time.monotonic()``):
                the clock of every limit, never the wall clock, which can be stepped.

        Returns:
            A :class:`Ticket` to join with, or a :class:`Refusal` (400, 403, 404, 429).
        """
        limits = self.config.limits
        raw_path, _, query = path.partition("?")
        channel = self._channel_in(raw_path, "connect to")
        if isinstance(channel, Refusal):
            return channel
        params: dict[str, str] = {}
        for key, value in query_params(query):
            if key in params and key in KEY_PARAMS:
                # Whichever copy won, the other would be silently ignored: an empty
                # first joinKey would create an open channel.
                return Refusal(400, f"{key} is given more than once: pass each key once.")
            params.setdefault(key, value)
        alias = params.get("as") or params.get("alias") or None
        if alias and limits.max_alias_length is not None and len(alias) > limits.max_alias_length:
            return Refusal(400, f"Alias exceeds {limits.max_alias_length} characters.")
        exempt = limits.exempt_loopback and is_loopback(ip)
        if not exempt and ip is not None:
            refusal = self._banned(ip, now) or self._count_connection(ip, now)
            if refusal is not None:
                return refusal
        ticket = Ticket(
            channel=channel,
            alias=alias,
            echo=_flag(params, "echo"),
            announce=_flag(params, "announce"),
            list=_flag(params, "list"),
            join_key=params.get("joinKey") or None,
            send_key=params.get("sendKey") or None,
            ip=ip,
            exempt=exempt,
        )
        join_key, _ = self._effective_keys(ticket)
        if join_key is not None and not _keys_match(ticket.join_key, join_key):
            return KEY_REFUSED
        return ticket

    def _channel_in(self, raw_path: str, verb: str) -> str | Refusal:
        """The channel a request path (without its query) names, or why it names none."""
        if not raw_path.startswith("/c/"):
            return Refusal(404, f"Not found: {verb} /c/<channel>.")
        channel = unquote(raw_path[3:], errors="replace")
        if not channel:
            return Refusal(400, f"Channel name is empty: {verb} /c/<channel>.")
        longest = self.config.limits.max_channel_length
        if longest is not None and len(channel) > longest:
            return Refusal(400, f"Channel name exceeds {longest} characters.")
        return channel

    def _banned(self, ip: str, now: float) -> Refusal | None:
        bans = self._bans
        while bans and bans[first := next(iter(bans))] <= now:
            del bans[first]  # ended: forgotten whether or not the address comes back
        until = bans.get(ip)
        if until is None:
            return None
        if now < until:
            return Refusal(429, "Too many violations: try again later.")
        del bans[ip]
        return None

    def _count_connection(self, ip: str, now: float) -> Refusal | None:
        limits = self.config.limits
        if limits.connections_per_second is None:
            return None
        window = self._handshakes
        while window and now - window[first := next(iter(window))][0] >= 1.0:
            del window[first]  # a second old: that address starts afresh
        start, count = window.get(ip, (now, 0))
        if now - start >= 1.0:
            start, count = now, 0
        if count >= limits.connections_per_second:
            return Refusal(429, "Too many new connections: try again in a second.")
        window[ip] = (start, count + 1)
        if count == 0:
            window.move_to_end(ip)  # a new window: the newest entry
        return None

    def _effective_keys(self, ticket: Ticket) -> tuple[str | None, str | None]:
        """Digests of the keys that gate ``ticket``'s channel."""
        reserved = match_namespace(ticket.channel, self.config.namespaces)
        if reserved is not None:
            return self._namespace_digests[reserved]
        live = self._live(ticket.channel)
        if live is not None:
            return live.join_key, live.send_key
        # This connection will create the channel: its keys become the channel's.
        # (In a cluster the channel may live on other nodes: the backplane checks.)
        return ticket_digests(ticket)

    # -- join / leave --------------------------------------------------------

    def join(
        self, ticket: Ticket, conn: C, now: float
    ) -> tuple[Member[C], list[Delivery[C]]] | Refusal:
        """Add an upgraded connection to its channel.

        The first delivery is the joiner's own join; the second, if any, tells the
        others. Both must be written before the joiner's first frame is read.

        Returns:
            The new member and its deliveries, or a :class:`Refusal` if the channel
            was re-created with a join key between :meth:`admit` and now.
        """
        join_key, send_key = self._effective_keys(ticket)
        if join_key is not None and not _keys_match(ticket.join_key, join_key):
            return KEY_REFUSED
        channel = self._channels.get(ticket.channel)
        if channel is None:
            channel = self._channels[ticket.channel] = _Channel(ticket.channel, join_key, send_key)
        elif not channel.members:  # a cluster's channel kept while empty: this join creates it
            channel.join_key, channel.send_key = join_key, send_key
        uid = self._uid_factory()
        while uid in channel.members:
            uid = self._uid_factory()
        member = Member(uid, ticket, channel, conn)
        channel.members[uid] = member
        channel.changed()
        return member, self._joined(channel, member, len(channel.members), int(now * 1000))

    def leave(self, member: Member[C], now: float) -> list[Delivery[C]]:
        """Remove a member; tell the rest, or destroy the channel (and its keys) if empty."""
        channel = member.channel
        if channel.members.get(member.uid) is not member:
            return []
        return self._left(channel, member, int(now * 1000))

    def _joined(
        self, channel: _Channel[C], joiner: Member[C] | RemoteMember, total: int, date: int
    ) -> list[Delivery[C]]:
        """The own join (for a local joiner) and the others' join, for a member just added."""
        deliveries = []
        if isinstance(joiner, Member):
            own: dict[str, Any] = {
                "type": "join",
                "self": True,
                **joiner.identity(),
                "total": total,
            }
            if joiner.wants_list:
                own["users"] = [
                    {**m.identity(), "self": True} if m is joiner else m.identity()
                    for m in channel.members.values()
                    if m.announce
                ]
            own["date"] = date
            deliveries.append(Delivery(_json.dumps(own), [joiner.conn]))
        others = [m for m in channel.local() if m is not joiner.conn]
        if others:
            theirs: dict[str, Any] = {"type": "join", "total": total}
            if joiner.announce:
                theirs.update(joiner.identity())
            theirs["date"] = date
            deliveries.append(Delivery(_json.dumps(theirs), others))
        return deliveries

    def _left(
        self,
        channel: _Channel[C],
        leaver: Member[C] | RemoteMember,
        date: int,
        total: int | None = None,
    ) -> list[Delivery[C]]:
        """Remove ``leaver``: a leave frame for the local members, or the channel's end."""
        del channel.members[leaver.uid]
        if leaver.conn is None:
            channel.remote -= 1
        channel.changed()
        if not channel.members:
            # One process: the channel ends with its last member. In a cluster the
            # backplane decides when this node stops following it (load/forget): a
            # joiner of this node may be on its way in, and its join must find the
            # channel (its keys are dead meanwhile, see channel_keys).
            if not self.clustered and self._channels.get(channel.name) is channel:
                del self._channels[channel.name]
            return []
        recipients = channel.local()
        if not recipients:
            return []
        frame: dict[str, Any] = {
            "type": "leave",
            "total": len(channel.members) if total is None else total,
        }
        if leaver.announce:
            frame.update(leaver.identity())
        frame["date"] = date
        return [Delivery(_json.dumps(frame), recipients)]

    # -- cluster -------------------------------------------------------------------

    def load(
        self,
        channel: str,
        keys: tuple[str | None, str | None],
        roster: Iterable[RemoteMember],
    ) -> None:
        """Install a channel's cluster-wide state before this node's first member joins it.

        Args:
            channel: Its name.
            keys: Digests of its join and send keys (see :func:`key_digest`).
            roster: Its members on other nodes, in join order.
        """
        live = self._channels[channel] = _Channel(channel, *keys)
        for entry in roster:
            live.members[entry.uid] = entry
        live.remote = len(live.members)

    def forget(self, channel: str) -> None:
        """Drop a channel's cluster-wide state: this node has no members in it any more."""
        self._channels.pop(channel, None)

    def arrive(
        self,
        channel: str,
        joiner: RemoteMember | tuple[str, Ticket, C],
        total: int,
        date: int,
        keys: tuple[str | None, str | None] | None = None,
    ) -> tuple[Member[C] | None, list[Delivery[C]]]:
        """Apply a join, in the order the cluster saw it.

        Args:
            channel: The channel joined (installed with :meth:`load`).
            joiner: A member of another node, or ``(uid, ticket, conn)`` for this
                node's own joiner, which gets its own join now.
            total: The channel's member count after the join, cluster-wide.
            date: The join's timestamp, in epoch milliseconds.
            keys: The channel's key digests, when this join created the channel.

        Returns:
            This node's new member (``None`` for a remote joiner) and the deliveries.
        """
        live = self._channels.get(channel)
        if live is None:
            return None, []
        if keys is not None:
            live.join_key, live.send_key = keys
        if isinstance(joiner, RemoteMember):
            entry: Member[C] | RemoteMember = joiner
            if joiner.uid in live.members:
                return None, []
            live.remote += 1
            member = None
        else:
            uid, ticket, conn = joiner
            entry = member = Member(uid, ticket, live, conn)
        live.members[entry.uid] = entry
        live.changed()
        return member, self._joined(live, entry, total, date)

    def depart(self, channel: str, uid: str, total: int, date: int) -> list[Delivery[C]]:
        """Apply a leave, in the order the cluster saw it; ``total`` is the count after it."""
        live = self._channels.get(channel)
        leaver = None if live is None else live.members.get(uid)
        if live is None or leaver is None:
            return []
        return self._left(live, leaver, date, total)

    def relay_in(self, channel: str, frame: str) -> list[Delivery[C]]:
        """A broadcast relayed from another node: every member here gets it."""
        live = self._channels.get(channel)
        recipients = () if live is None else live.local()
        return [Delivery(frame, recipients)] if recipients else []

    def direct_in(self, channel: str, uid: str, frame: str) -> list[Delivery[C]]:
        """A direct message relayed from another node to member ``uid`` here."""
        live = self._channels.get(channel)
        recipient = None if live is None else live.members.get(uid)
        if recipient is None or recipient.conn is None:
            return []  # it left while the message was on its way
        return [Delivery(frame, (recipient.conn,))]

    # -- frames --------------------------------------------------------------

    def receive(
        self, member: Member[C], data: str | bytes, now: float, monotonic: float | None = None
    ) -> Outcome[C]:
        """Handle one inbound frame: type, size, rate, DM prefix, JSON, send key, in that order.

        Each check that fails answers the sender alone with an ``error`` event and
        relays nothing; size and rate failures also count as violations. The JSON
        check includes depth: a payload nested more than ``MAX_DEPTH - 1`` levels
        (its envelope adds one) is refused, since no rx_itty client could decode it.

        Args:
            member: The sender.
            data: The frame as received.
            now: Wall-clock time in seconds: the envelope's ``date``.
            monotonic: Seconds on the clock given to :meth:`admit`, for the rate
                window and a ban, so that a wall clock stepped back or forth never
                counts as a burst (``now`` if omitted).

        Returns:
            Deliveries (relayed envelope, or an error to the sender) and, after too
            many limit violations, a ``(1008, reason)`` close for the sender.
        """
        if not isinstance(data, str):
            return self._error(member, "Binary frames are not supported: send JSON text.", now)
        cap = self._frame_cap
        # len(text) <= bytes <= 4 * len(text): encode only when it could matter.
        if (
            cap is not None
            and len(data) * 4 > cap
            and (len(data) > cap or len(data.encode()) > cap)
        ):
            return self._violation(member, f"Message exceeds {cap} bytes", now, monotonic)
        per_window = self._per_window
        if per_window is not None and not member.exempt:
            clock = now if monotonic is None else monotonic
            if clock - member.window_start >= self._window:
                member.window_start = clock
                member.window_count = 0
            member.window_count += 1
            if member.window_count > per_window:
                return self._violation(member, "Rate limit exceeded", now, monotonic)

        parts = split_direct(data)
        if parts is None:
            return self._error(
                member, "Malformed direct message: expected \\x1f<uid>\\x1f<json>.", now
            )
        to, payload = parts
        problem = _json.json_error(payload, _PAYLOAD_DEPTH)
        if problem is not None:
            return self._error(member, f"Message is {problem}.", now)
        if not member.can_send:
            return self._error(member, "A valid sendKey is required to send on this channel.", now)

        # The payload is relayed as the sender wrote it: validated, never re-encoded.
        envelope = f'{{"date":{int(now * 1000)},{member.envelope_head},"message":{payload}}}'
        channel = member.channel
        members = channel.members
        if to is not None:
            recipient = members.get(to)
            if recipient is None:
                return self._error(
                    member, f"Recipient {_json.dumps(to)} is not in this channel.", now
                )
            if recipient.conn is None:
                return Outcome([], relay=Relayed(channel.name, envelope, recipient.node, to))
            return Outcome([Delivery(envelope, (recipient.conn,))])
        targets = channel.recipients.get(member.uid)
        if targets is None:
            if len(channel.recipients) >= _RECIPIENT_CACHE:
                # Each entry holds the whole channel: bound the cache, or a big room
                # of active senders would cost O(members^2) memory.
                channel.recipients.clear()
            targets = channel.recipients[member.uid] = tuple(
                m.conn
                for m in members.values()
                if m.conn is not None and (member.echo or m is not member)
            )
        deliveries = [Delivery(envelope, targets)] if targets else []
        if channel.remote:
            return Outcome(deliveries, relay=Relayed(channel.name, envelope))
        return Outcome(deliveries)

    # -- HTTP push ---------------------------------------------------------------

    def check_push(
        self,
        path: str,
        send_key: str | None,
        ip: str | None = None,
        now: float = 0.0,
        *,
        new_connection: bool = False,
    ) -> Refusal | None:
        """What an HTTP push must pass before its body is read; ``None`` if it does.

        The path and channel name (404, 400), a ban of ``ip`` (429), for the first
        request on a connection the connection rate (429), then the send key (403),
        with the same limits and loopback exemption as handshakes.

        Args:
            path: The request target, ``/c/<channel>``.
            send_key: The ``x-send-key`` header, ``None`` if absent.
            ip: The client's address.
            now: Current time in seconds, on the clock :meth:`admit` is given.
            new_connection: This is the connection's first request.
        """
        channel = self._channel_in(path.partition("?")[0], "POST to")
        if isinstance(channel, Refusal):
            return channel
        if ip is not None and not (self.config.limits.exempt_loopback and is_loopback(ip)):
            refusal = self._banned(ip, now)
            if refusal is None and new_connection:
                refusal = self._count_connection(ip, now)
            if refusal is not None:
                return refusal
        return self._push_key_refusal(channel, send_key)

    def _push_key_refusal(self, channel: str, send_key: str | None) -> Refusal | None:
        reserved = match_namespace(channel, self.config.namespaces)
        key = None if reserved is None else self._namespace_digests[reserved][1]
        if key is None:
            return Refusal(403, "HTTP push needs a channel under a namespace with a sendKey.")
        if not _keys_match(send_key, key):
            return Refusal(403, "A valid x-send-key header is required for this channel.")
        return None

    def push(self, path: str, body: bytes, send_key: str | None, now: float) -> PushResult[C]:
        """Handle ``POST /c/<channel>``: a message without a WebSocket.

        Only channels under a reserved namespace with a send key accept pushes;
        the envelope has no ``uid`` or ``alias`` (there is no sender connection).
        Limits on the client's address are :meth:`check_push`'s, before the body.

        Returns:
            The HTTP status and reason, and the deliveries on success (200, even
            with nobody connected: nothing is stored).
        """
        channel = self._channel_in(path.partition("?")[0], "POST to")
        if isinstance(channel, Refusal):
            return PushResult(channel.status, channel.reason)
        cap = self._frame_cap
        if cap is not None and len(body) > cap:
            return PushResult(413, f"Message exceeds {cap} bytes.")
        refusal = self._push_key_refusal(channel, send_key)
        if refusal is not None:
            return PushResult(refusal.status, refusal.reason)
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return PushResult(400, "Body is not valid JSON.")
        problem = _json.json_error(text, _PAYLOAD_DEPTH)
        if problem is not None:
            return PushResult(400, f"Body is {problem}.")
        live = self._live(channel)
        envelope = f'{{"date":{int(now * 1000)},"message":{text}}}'
        # In a cluster, a channel with no members here may have some elsewhere.
        relay = Relayed(channel, envelope) if live is None and self.clustered else None
        if live is None:
            return PushResult(200, delivered(0), relay=relay)
        if live.remote:
            relay = Relayed(channel, envelope)
        targets = live.local()
        deliveries = [Delivery(envelope, targets)] if targets else []
        return PushResult(200, delivered(len(live.members)), deliveries, relay)

    def _error(self, member: Member[C], text: str, now: float) -> Outcome[C]:
        frame = _json.dumps({"type": "error", "message": text, "date": int(now * 1000)})
        return Outcome([Delivery(frame, [member.conn])])

    def _violation(
        self, member: Member[C], text: str, now: float, monotonic: float | None
    ) -> Outcome[C]:
        # ``text`` has no closing period: the count or the verdict follows it.
        limits = self.config.limits
        member.violations += 1
        if member.violations <= limits.warnings:
            return self._error(
                member, f"{text} (warning {member.violations} of {limits.warnings}).", now
            )
        reason = "too many limit violations"
        if limits.ban_seconds and member.ip is not None and not member.exempt:
            self._bans[member.ip] = (now if monotonic is None else monotonic) + limits.ban_seconds
            self._bans.move_to_end(member.ip)
            reason += f"; address banned for {limits.ban_seconds:g} s"
        outcome = self._error(member, f"{text}: too many violations, disconnecting.", now)
        return outcome._replace(close=(CloseCode.POLICY_VIOLATION, reason))
