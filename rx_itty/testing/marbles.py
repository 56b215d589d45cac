"""Marble tests of pipelines that receive *and* send, with no network.

:func:`marble_socket` gives a :class:`MarbleSocket`: a real
:class:`~rx_itty.socket.IttySocket` on a ``TestScheduler`` whose incoming events
come from marble strings and whose outgoing frames are recorded on the same
virtual clock, so both directions are asserted with marbles::

    with marble_socket() as fake:
        fake.incoming("--p---p", {"p": message({"type": "ping"}, uid="ann")})
        pong_bot(fake.socket)                      # the code under test
        fake.run()
        assert fake.sent == fake.expect("--r---r", {"r": Outgoing({"type": "pong"}, to="ann")})

Times are in marble ticks (``timespan`` virtual seconds each, 1.0 by default),
counted from 0; the socket opens at 0 and its own join arrives first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, cast, final

from reactivex import Observable, abc
from reactivex.notification import Notification, OnCompleted, OnError, OnNext
from reactivex.observable.marbles import parse
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.testing import TestScheduler
from reactivex.testing.recorded import Recorded

from rx_itty import _json
from rx_itty.client import connect
from rx_itty.events import Close, Event, Join
from rx_itty.exceptions import InvalidOptionError
from rx_itty.recording import Recording
from rx_itty.runtime import Runtime
from rx_itty.socket import IttySocket
from rx_itty.testing.builders import frame, join, message
from rx_itty.transport import TransportListener
from rx_itty.wire import CloseCode, check_frame, check_url, split_direct

__all__ = ["MarbleSocket", "Outgoing", "marble_socket"]

_logger = logging.getLogger("rx_itty.testing")


@final
@dataclass(frozen=True, slots=True)
class Outgoing:
    """A frame the socket sent: the payload, and the recipient uid for a direct message."""

    message: Any
    to: str | None = None


def _at(time: float, notification: Notification[Any]) -> Recorded[Any]:
    # Recorded is typed for int ticks; sub-tick times stay exact as floats.
    tick = int(time) if float(time).is_integer() else time
    return Recorded(cast(int, tick), notification)


def _seconds(time: float | timedelta) -> float:
    return time.total_seconds() if isinstance(time, timedelta) else float(time)


def _marbles(marbles: str, timespan: float, lookup: Mapping[str, Any] | None) -> Any:
    table: dict[str | float, Any] = {}
    table.update(lookup or {})
    return [(_seconds(t), n) for t, n in parse(marbles, timespan=timespan, lookup=table)]


def _outgoing(text: str) -> Outgoing:
    parts = split_direct(text)
    assert parts is not None, f"the socket sent a malformed direct message: {text!r}"
    to, payload = parts
    return Outgoing(_json.loads(payload), to)


@final
class _ScriptedLink:
    """One scripted connection: connecting, then open, then closed (``state``)."""

    def __init__(self, owner: MarbleSocket, listener: TransportListener) -> None:
        self._owner = owner
        self.listener = listener
        self.state: Literal["connecting", "open", "closed"] = "connecting"

    def send(self, text: str) -> bool:
        if self.state != "open":
            return False
        check_frame(text)
        self._owner._record(text)
        return True

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        if self.state == "closed":
            return
        opened, self.state = self.state == "open", "closed"
        close = Close(code, reason) if opened else Close(None, "closed before it opened")

        def report(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            try:
                self.listener.on_close(close)
            except Exception:
                _logger.exception("a listener failed handling the close of a marble connection")

        self._owner.scheduler.schedule(report)

    def call(self, callback: Callable[..., None], *args: Any) -> None:
        """Call the listener while open; one that raises is logged and closed with 1011."""
        if self.state != "open":
            return
        try:
            callback(*args)
        except Exception:
            _logger.exception("a listener failed on a marble connection; closing with 1011")
            self.close(CloseCode.INTERNAL_ERROR, "internal error")


@final
class MarbleSocket:
    """A socket under test, its virtual clock, and what it sent. Made by :func:`marble_socket`.

    Attributes:
        scheduler: The ``TestScheduler`` everything runs on.
        socket: The :class:`IttySocket` to hand to the code under test.
        uid: Our own uid, announced in the own join that opens the connection.
    """

    def __init__(self, timespan: float, uid: str, **options: Any) -> None:
        self.scheduler = TestScheduler()
        self.timespan = timespan
        self.uid = uid
        self._sent: list[Recorded[Any]] = []
        self._link: _ScriptedLink | None = None
        self.socket: IttySocket = connect(
            "ws://marbles.test/c/room", transport=self, scheduler=self.scheduler, **options
        )

    # Transport protocol: the socket opens at once and is greeted with its own join.
    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> _ScriptedLink:
        check_url(url)  # as every transport does: a URL no server could accept is refused
        link = self._link = _ScriptedLink(self, listener)

        def accept(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if link.state == "closed":
                return  # abandoned while connecting; its close is reported
            link.state = "open"
            link.call(listener.on_open)
            link.call(listener.on_frame, frame(join(self.uid, is_self=True, total=1)))

        self.scheduler.schedule(accept)
        return link

    def _record(self, text: str) -> None:
        self._sent.append(_at(self._ticks(), OnNext(_outgoing(text))))

    def _ticks(self) -> float:
        return float(self.scheduler.clock) / self.timespan

    def incoming(self, marbles: str, lookup: Mapping[str, Event | Any] | None = None) -> None:
        """Schedule events arriving at the socket, one per marble.

        Args:
            marbles: A marble string; ``-`` is one tick, letters are values.
            lookup: Letter -> event (see :mod:`rx_itty.testing.builders`); a value that
                is not an event is a message payload from ``"peer"``.
        """
        for time, notification in _marbles(marbles, self.timespan, lookup):
            if not isinstance(notification, OnNext):
                continue  # completion/error have no wire form: the relay just keeps going
            value = notification.value
            if lookup and not any(value is known for known in lookup.values()):
                raise InvalidOptionError(
                    f"marble element {value!r} is not in the lookup; letters next to each "
                    "other form one element, so separate them with '-' or group with '(a,b)'"
                )
            text = frame(value if hasattr(value, "raw") else message(value))
            self.scheduler.schedule_absolute(time, self._arrive(text))

    def _arrive(self, text: str) -> Any:
        def run(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            link = self._link
            if link is not None:
                link.call(link.listener.on_frame, text)

        return run

    def replay(
        self, recording: Recording, *, speed: float = 1.0, max_gap: float | None = None
    ) -> None:
        """Schedule a recording's events arriving at the socket at their recorded times.

        Times are virtual seconds from tick 0, where the socket opens (this opens
        it, as a subscription would). The recorder's own joins are left out: the
        socket has its own, with :attr:`uid`. Everything else arrives exactly as
        recorded, so ``fake.sent`` shows what the code under test answered to real
        traffic, deterministically.

        Args:
            recording: What :func:`~rx_itty.recording.load_recording` read.
            speed: Play this many times faster than recorded.
            max_gap: Shorten every pause longer than this many seconds to it.

        Raises:
            InvalidOptionError: ``speed`` is not positive or ``max_gap`` is negative.
        """
        timeline = recording.timeline(speed=speed, max_gap=max_gap)
        self.socket.open()  # its own join is scheduled first, so nothing arrives before it
        for arrival in timeline:
            event = arrival.event
            if not (isinstance(event, Join) and event.is_self):
                self.scheduler.schedule_absolute(arrival.t, self._arrive(frame(event)))

    def disconnect(
        self, at: float, code: int = CloseCode.ABNORMAL, reason: str = "connection lost"
    ) -> None:
        """Drop the connection at tick ``at``, as a network failure would."""

        def run(scheduler: abc.SchedulerBase, state: Any = None) -> None:
            if self._link is not None:
                self._link.close(code, reason)

        self.scheduler.schedule_absolute(at * self.timespan, run)

    def record(self, source: Observable[Any]) -> list[Recorded[Any]]:
        """Subscribe now and collect ``source``'s notifications with their tick times.

        Returns the list, which fills as :meth:`run` advances the clock.
        """
        records: list[Recorded[Any]] = []
        source.subscribe(
            lambda v: records.append(_at(self._ticks(), OnNext(v))),
            lambda e: records.append(_at(self._ticks(), OnError(e))),
            lambda: records.append(_at(self._ticks(), OnCompleted())),
            scheduler=self.scheduler,
        )
        return records

    def run(self, until: float | None = None) -> None:
        """Advance virtual time to tick ``until`` (default: until nothing is scheduled)."""
        if until is None:
            VirtualTimeScheduler.start(self.scheduler)  # until idle, no test harness
        else:
            self.scheduler.advance_to(until * self.timespan)

    @property
    def sent(self) -> list[Recorded[Any]]:
        """Frames the socket sent, as ``on_next(tick, Outgoing(...))`` records."""
        return list(self._sent)

    def expect(self, marbles: str, lookup: Mapping[str, Any] | None = None) -> list[Recorded[Any]]:
        """Records for a marble string, in the same form as :attr:`sent` and :meth:`record`."""
        return [_at(time, notification) for time, notification in _marbles(marbles, 1.0, lookup)]


@contextmanager
def marble_socket(
    timespan: float = 1.0, *, uid: str = "me", **options: Any
) -> Iterator[MarbleSocket]:
    """A :class:`MarbleSocket` for one test; the socket is disposed at the end.

    Args:
        timespan: Virtual seconds per marble tick.
        uid: Our own uid in the own join.
        **options: ``connect()`` options (``alias``, ``echo``, ``reconnect``...).
    """
    fake = MarbleSocket(timespan, uid, **options)
    try:
        yield fake
    finally:
        fake.socket.dispose()
