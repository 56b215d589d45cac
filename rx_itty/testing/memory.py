"""An in-memory relay: the real relay core behind the transport seam, no sockets.

:class:`MemoryRelay` is a :class:`~rx_itty.transport.Transport`. Every socket
connected through it talks to one :class:`~rx_itty.relay.core.RelayCore` — the
same core the network relay runs — so echo, announce, direct messages, joins,
leaves, keys and limits behave exactly as they do over the wire. Frames are
delivered through the runtime's scheduler, so under ``reactivex.testing``'s
``TestScheduler`` everything happens in virtual time::

    scheduler = TestScheduler()
    relay = MemoryRelay()
    a = connect("room", transport=relay, scheduler=scheduler, echo=True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, final
from urllib.parse import urlsplit

from reactivex import abc

from rx_itty.events import Close
from rx_itty.relay.config import RelayConfig
from rx_itty.relay.core import Delivery, Member, Refusal, RelayCore
from rx_itty.runtime import Runtime
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode, check_frame, check_url

__all__ = ["MemoryRelay"]

_logger = logging.getLogger("rx_itty.testing")


def _seconds(now: datetime) -> float:
    return now.timestamp()


@final
class _MemoryLink:
    """One client connection to a :class:`MemoryRelay`."""

    def __init__(self, relay: MemoryRelay, listener: TransportListener, runtime: Runtime) -> None:
        self.relay = relay
        self.listener = listener
        self.scheduler: abc.SchedulerBase = runtime.scheduler
        self.member: Member[_MemoryLink] | None = None
        self.closed = False

    # Link protocol -----------------------------------------------------------

    def send(self, frame: str) -> bool:
        if self.member is None or self.closed:
            return False
        check_frame(frame)
        self.relay._receive(self, frame)
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        if not self.closed:
            self.relay._drop(self, code, reason)

    # relay side --------------------------------------------------------------

    def call(self, callback: Callable[..., None], *args: Any) -> None:
        """Call the listener; one that raises is logged and its connection closed (1011)."""
        try:
            callback(*args)
        except Exception:
            _logger.exception("a listener failed on an in-memory connection; closing with 1011")
            self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def deliver(self, frame: str) -> None:
        def run(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if not self.closed:
                self.call(self.listener.on_frame, frame)

        self.scheduler.schedule(run)

    def closed_by_relay(self, close: Close) -> None:
        def run(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            try:
                self.listener.on_close(close)
            except Exception:
                _logger.exception("a listener failed handling the close of a connection")

        self.scheduler.schedule(run)


@final
class MemoryRelay:
    """A relay without a network, usable as a socket's ``transport``.

    Args:
        config: Limits and reserved namespaces, as for the network relay.
        uid_factory: Deterministic uids for tests (``lambda: next(names)``).
    """

    def __init__(self, config: RelayConfig | None = None, **core_options: Any) -> None:
        self.core: RelayCore[_MemoryLink] = RelayCore(config, **core_options)
        self._links: list[_MemoryLink] = []
        self.available = True

    # Transport protocol ------------------------------------------------------

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> _MemoryLink:
        check_url(url)
        link = _MemoryLink(self, listener, runtime)
        parts = urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query or url.endswith("?") else "")

        def connect(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if link.closed:
                return  # abandoned while connecting: _drop already reported the close
            if not self.available:
                link.closed = True
                link.closed_by_relay(Close(None, "Connection refused"))
                return
            now = _seconds(scheduler.now)
            verdict = self.core.admit(path, "127.0.0.1", now)
            joined = verdict if isinstance(verdict, Refusal) else self.core.join(verdict, link, now)
            if isinstance(joined, Refusal):
                link.closed = True
                link.closed_by_relay(Close(None, joined.reason, rejected=joined.status))
                return
            link.member, deliveries = joined
            self._links.append(link)
            _deliver(deliveries)  # the own join is queued before anything the client sends
            link.call(listener.on_open)

        runtime.scheduler.schedule(connect)
        return link

    # control -------------------------------------------------------------------

    def disconnect_all(
        self, code: int = CloseCode.ABNORMAL, reason: str = "connection lost"
    ) -> None:
        """Drop every connection, as a network failure or relay restart would."""
        for link in list(self._links):
            self._drop(link, code, reason)

    def stop(self) -> None:
        """Close everyone (1001) and refuse new connections until :meth:`start`."""
        self.available = False
        self.disconnect_all(CloseCode.GOING_AWAY, "relay stopped")

    def start(self) -> None:
        """Accept connections again after :meth:`stop`."""
        self.available = True

    @property
    def connections(self) -> int:
        """Open connections."""
        return len(self._links)

    # internals -------------------------------------------------------------------

    def _receive(self, link: _MemoryLink, frame: str) -> None:
        assert link.member is not None
        outcome = self.core.receive(link.member, frame, _seconds(link.scheduler.now))
        _deliver(outcome.deliveries)
        if outcome.close is not None:
            self._drop(link, *outcome.close)

    def _drop(self, link: _MemoryLink, code: int, reason: str) -> None:
        link.closed = True
        if link in self._links:
            self._links.remove(link)
        if link.member is not None:
            _deliver(self.core.leave(link.member, _seconds(link.scheduler.now)))
        link.closed_by_relay(Close(code, reason))


def _deliver(deliveries: list[Delivery[_MemoryLink]]) -> None:
    for delivery in deliveries:
        for link in delivery.to:
            link.deliver(delivery.frame)
