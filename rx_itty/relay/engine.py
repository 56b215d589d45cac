"""The engine seam: an engine runs a relay's sockets, the switchboard runs everything else.

An engine accepts connections and speaks WebSocket on them; what a relay does
with them (admission, joins and leaves through the backplane, delivery,
slow readers, keepalive, logging) is the
:class:`~rx_itty.relay.switchboard.Switchboard`'s, the same for every engine.
Between the two:

- the engine reads each handshake's request head within the relay's limits
  (:mod:`rx_itty.relay.head`) and awaits ``board.admit(path, peer, forwarded,
  upgrade)`` (``upgrade()`` says whether its WebSocket library accepts the
  request), which answers with a :class:`~rx_itty.relay.core.Ticket` or a
  refusal to send as the HTTP status;
- once upgraded, its connection object is a :class:`Link`: it awaits
  ``board.join(link, ticket)``, hands every complete message to
  ``board.receive(link, data)``, a pong to ``board.ponged(link)``, the peer's
  close frame to ``board.closed(link)``, the connection's end to
  ``board.gone(link)``, and its write buffer's ups and downs to
  ``board.backlog.paused(link)`` and ``board.backlog.resumed(link)``;
- the switchboard writes to links only through :meth:`Link.write`, whole frames
  that :func:`text_frame` built once for all their recipients, and closes them
  with :meth:`Link.shut`. An engine that calls ``board.cork()`` before handing
  over the messages of one read and ``board.uncork()`` after them gets each
  recipient's frames of that read in one write.

Two engines: ``websockets`` (:mod:`rx_itty.relay.websockets_engine`, the default)
and ``picows`` (:mod:`rx_itty.relay.picows_engine`, ``pip install 'rx_itty[fast]'``).
"""

from __future__ import annotations

import abc
import asyncio
import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Protocol

from rx_itty.wire import MAX_FRAGMENTS, TOO_MANY_FRAGMENTS

if TYPE_CHECKING:
    from rx_itty.relay.core import Member

__all__ = [
    "CLOSE_TIMEOUT",
    "LINK_SLOTS",
    "MAX_FRAGMENTS",
    "OPEN_TIMEOUT",
    "SERVER_HEADER",
    "TOO_MANY_FRAGMENTS",
    "Engine",
    "Link",
    "Phase",
    "invalid_utf8",
    "library_max_size",
    "start_link",
    "text_frame",
]

SERVER_HEADER: Final = "rx_itty relay"
"""The ``Server`` header of every handshake response."""
OPEN_TIMEOUT: Final = 10.0
"""Seconds a new connection has to complete its handshake (``websockets``' default)."""
CLOSE_TIMEOUT: Final = 10.0
"""Seconds a closing connection has to answer the close frame before it is cut off
(``websockets``' default ``close_timeout``)."""


def invalid_utf8(exc: UnicodeDecodeError) -> str:
    """The close reason (with 1007) for a text message that is not UTF-8, on every engine."""
    return f"invalid UTF-8: {exc.reason} at position {exc.start}"


def library_max_size(frame_cap: int | None) -> int:
    """The largest message an engine reads, well above the application's ``frame_cap``.

    An oversize message then gets an ``error`` event from the core instead of a
    library-level 1009 close.
    """
    return 16 * 1024 * 1024 if frame_cap is None else max(4 * frame_cap, 1024 * 1024)


"""The close reason for a message over :data:`MAX_FRAGMENTS`."""

# Server frames are unmasked: FIN + opcode 1 (text), then the length.
_SHORT_HEADS: Final = tuple(bytes((0x81, n)) for n in range(126))


def text_frame(text: str) -> bytes:
    """``text`` as one complete, unmasked WebSocket text frame, ready for any recipient."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return _SHORT_HEADS[size] + payload
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + payload
    return b"\x81\x7f" + size.to_bytes(8, "big") + payload


class Phase(enum.Enum):
    """Where a link is in its life; the switchboard moves it along, engines only read it.

    ===========  ============================  =======================================
    phase        frames from the peer          next
    ===========  ============================  =======================================
    ``JOINING``  held until the join is done   ``OPEN`` (joined) or ``DONE`` (refused)
    ``OPEN``     handled as they come          ``DONE`` (left, or being closed)
    ``DONE``     ignored                       (none: the link is gone or going)
    ===========  ============================  =======================================
    """

    JOINING = enum.auto()
    OPEN = enum.auto()
    DONE = enum.auto()


class Link(abc.ABC):
    """An engine's upgraded connection, as the switchboard drives it: engines subclass it.

    The attributes are the switchboard's state for the link: a subclass lists
    them in its ``__slots__`` (:data:`LINK_SLOTS`), starts them with
    :func:`start_link` and leaves them alone. (They cannot be slots here: a
    subclass's first base may be a C extension's class, with a layout of its own.)
    """

    phase: Phase
    member: Member[Link] | None
    held: list[str | bytes] | None
    """Messages that arrived while the join was under way, in order."""
    outbox: list[bytes] | None
    """Frames for this link while the switchboard is corked, written at uncork."""
    unanswered: bool
    """A keepalive ping is out and no pong has come back since."""
    cut: asyncio.TimerHandle | None
    """When the link is closing: the timer that cuts it off if it lingers."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Write complete frames now, after everything written before (nothing once closing)."""
        ...

    @abc.abstractmethod
    def buffered(self) -> int:
        """Bytes written to this link that the peer has not taken yet."""
        ...

    @abc.abstractmethod
    def send_ping(self) -> None:
        """Send a keepalive ping."""
        ...

    @abc.abstractmethod
    def shut(self, code: int, reason: str) -> None:
        """Send a close frame after what was written, unless one was sent already."""
        ...

    @abc.abstractmethod
    def abort(self) -> None:
        """Cut the TCP connection now (what is still buffered is lost)."""
        ...

    @abc.abstractmethod
    def pause_reading(self) -> None:
        """Stop reading from the peer until :meth:`resume_reading`."""
        ...

    @abc.abstractmethod
    def resume_reading(self) -> None:
        """Read from the peer again."""
        ...


def start_link(link: Link) -> None:
    """Give a new link the switchboard's starting state: joining, nothing held or owed."""
    link.phase = Phase.JOINING
    link.member = None
    link.held = None
    link.outbox = None
    link.unanswered = False
    link.cut = None


LINK_SLOTS: Final = ("cut", "held", "member", "outbox", "phase", "unanswered")
"""The names a :class:`Link` subclass puts in its ``__slots__`` for the switchboard's state."""


class Engine(Protocol):
    """Runs the sockets of one relay for its :class:`~rx_itty.relay.switchboard.Switchboard`."""

    @property
    def port(self) -> int:
        """The bound TCP port (after :meth:`listen`)."""
        ...

    async def listen(self, host: str, port: int) -> None:
        """Start accepting connections.

        Raises:
            OSError: the address cannot be bound.
        """
        ...

    def links(self) -> Iterable[Link]:
        """The upgraded connections that are not closed yet."""
        ...

    async def aclose(self, code: int, reason: str) -> None:
        """Stop accepting, close every link with ``(code, reason)`` and wait until all are gone."""
        ...
