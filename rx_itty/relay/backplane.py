"""The backplane: what carries one relay's channels across several processes.

A relay node drives its :class:`~rx_itty.relay.core.RelayCore` and hands the
backplane what must happen beyond this process: a member joining or leaving, a
frame other nodes must deliver, an HTTP push. Two implementations:

- :class:`LocalBackplane` — one process, nothing shared: the core decides and
  delivers alone (the default).
- ``rx_itty.relay.redis.RedisBackplane`` — nodes sharing channels through Redis
  (install ``rx_itty[redis]``); open one with :func:`open_backplane`.

The contract, in the order a connection meets it::

    refusal = await backplane.admit(ticket)     # cluster-wide gates: 403 keys, 503 while down
    member = await backplane.join(ticket, conn, now)  # own join delivered before this returns
    backplane.relay(outcome.relay)              # for each Outcome/PushResult that carries one
    backplane.leave(member, now)                # on close

Every method is called on the relay's event loop. ``relay`` and ``leave`` never
wait: what they hand over goes out in the order it was handed over, so frames
from one sender keep their order for every receiver, and a member's last
frames arrive before its leave.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, NamedTuple, Protocol, TypeVar, final

from rx_itty.relay.config import BackplaneConfig
from rx_itty.relay.core import Delivery, Member, Refusal, RelayCore, Relayed, Ticket

__all__ = [
    "JOIN_TIMED_OUT",
    "UNAVAILABLE",
    "Backplane",
    "BackplaneHost",
    "LocalBackplane",
    "open_backplane",
]

C = TypeVar("C")

UNAVAILABLE = Refusal(503, "The relay cannot reach its backplane: try again shortly.")
"""The answer to a handshake or push while the backplane is down."""

JOIN_TIMED_OUT = Refusal(503, "The relay could not complete the join in time: try again.")
"""The answer to a join the backplane did not complete within its deadline."""


class BackplaneHost(NamedTuple, Generic[C]):
    """What a backplane drives on its node: the core and the node's connections.

    Attributes:
        core: The node's relay core.
        deliver: Writes deliveries to their connections at once, in order.
        disconnect: Closes every connection of the node with ``(code, reason)``.
        gather: Called before a frame from other nodes is handled: deliveries until
            the event loop's current turn ends may be gathered into one write per
            connection (frames arrive in bursts; order is kept).
    """

    core: RelayCore[C]
    deliver: Callable[[Iterable[Delivery[C]]], None]
    disconnect: Callable[[int, str], None]
    gather: Callable[[], None] = lambda: None


class Backplane(Protocol[C]):
    """Shares channels between relay nodes; see the module docstring for the call order."""

    @property
    def clustered(self) -> bool:
        """Whether other nodes may share channels with this one."""
        ...

    @property
    def node_id(self) -> str | None:
        """This node's id in the cluster (``None`` for a single process)."""
        ...

    @property
    def available(self) -> bool:
        """Whether handshakes can be accepted now (``False`` while the backplane is down)."""
        ...

    async def start(self, host: BackplaneHost[C]) -> None:
        """Connect and start serving ``host``.

        Raises:
            BackplaneUnavailable: the backplane cannot be reached.
        """
        ...

    async def aclose(self) -> None:
        """Send what is still queued (the last leaves), leave the cluster, disconnect."""
        ...

    async def admit(self, ticket: Ticket) -> Refusal | None:
        """The cluster-wide gates for a handshake the core admitted; ``None`` lets it in."""
        ...

    async def join(self, ticket: Ticket, conn: C, now: float) -> Member[C] | Refusal:
        """Add ``conn`` to its channel; its own join is delivered before this returns.

        Returns:
            The member, or a :class:`Refusal` (403: the channel's key changed since
            :meth:`admit`; 503: the backplane went down, or the join did not complete
            within the backplane's deadline). A 503 closes the connection with 1013.
        """
        ...

    def leave(self, member: Member[C], now: float) -> None:
        """``member``'s connection closed: remove it everywhere."""
        ...

    def relay(self, relayed: Relayed) -> None:
        """Have the other nodes deliver a frame (fire and forget, in order)."""
        ...

    async def push(self, relayed: Relayed) -> int:
        """Relay an HTTP push; returns the connections in its channel, cluster-wide.

        Raises:
            BackplaneUnavailable: the backplane is down.
        """
        ...


@final
class LocalBackplane(Generic[C]):
    """One relay process on its own: the core's decisions are final and delivered at once."""

    clustered = False
    node_id = None
    available = True

    def __init__(self) -> None:
        self._host: BackplaneHost[C] | None = None

    async def start(self, host: BackplaneHost[C]) -> None:
        self._host = host

    async def aclose(self) -> None:
        return None

    async def admit(self, ticket: Ticket) -> Refusal | None:
        return None  # the core saw every key there is

    async def join(self, ticket: Ticket, conn: C, now: float) -> Member[C] | Refusal:
        host = self._started()
        joined = host.core.join(ticket, conn, now)
        if isinstance(joined, Refusal):
            return joined
        member, deliveries = joined
        host.deliver(deliveries)
        return member

    def leave(self, member: Member[C], now: float) -> None:
        host = self._started()
        host.deliver(host.core.leave(member, now))

    def relay(self, relayed: Relayed) -> None:
        return None  # there is no other node

    async def push(self, relayed: Relayed) -> int:
        return self._started().core.member_count(relayed.channel)

    def _started(self) -> BackplaneHost[C]:
        assert self._host is not None, "start() the backplane first"
        return self._host


def open_backplane(config: BackplaneConfig) -> Backplane[C]:
    """The backplane ``config.url`` names (Redis: ``redis://``, ``rediss://``, ``unix://``).

    Raises:
        MissingDependency: the ``redis`` package is not installed (``rx_itty[redis]``).
    """
    from rx_itty.relay.redis import RedisBackplane  # the optional dependency loads only here

    return RedisBackplane(config)
