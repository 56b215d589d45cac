"""Replay recorded traffic as an Observable on a scheduler, in virtual time for tests.

A recording (``rx-itty listen ROOM --record FILE``, see :mod:`rx_itty.recording`)
holds every event a channel sent and when it arrived. :func:`replay` turns it
back into a cold Observable whose events come at their recorded times on the
scheduler you give, so a pipeline can be tested on yesterday's real traffic::

    scheduler = TestScheduler()
    traffic = load_recording("tests/data/greenhouse.jsonl")
    alarms = []
    overheating(replay(traffic, scheduler)).subscribe(alarms.append)
    scheduler.start()                   # hours of traffic, in no time
    assert alarms == ["s1 is overheating"]

To feed a socket (and assert what the code under test *sends*), use
:meth:`MarbleSocket.replay <rx_itty.testing.MarbleSocket.replay>` instead.
"""

from __future__ import annotations

from typing import Any

import reactivex
from reactivex import abc
from reactivex.disposable import CompositeDisposable

from rx_itty.events import Event
from rx_itty.recording import Recording

__all__ = ["replay"]


def replay(
    recording: Recording,
    scheduler: abc.SchedulerBase,
    *,
    speed: float = 1.0,
    max_gap: float | None = None,
) -> reactivex.Observable[Event]:
    """The recorded events as a cold Observable, each at its recorded time after subscribing.

    Each subscription plays the whole recording from the start, then completes
    at the time of its last event. On a ``TestScheduler`` that takes no real
    time; on a real scheduler it plays the traffic back live.

    Args:
        recording: What :func:`~rx_itty.recording.load_recording` read.
        scheduler: The clock to play on; a ``reactivex.testing.TestScheduler`` in tests.
        speed: Play this many times faster than recorded.
        max_gap: Shorten every pause longer than this many seconds to it (after
            ``speed``); ``None`` keeps the recorded timing.

    Raises:
        InvalidOptionError: ``speed`` is not positive or ``max_gap`` is negative.
    """
    timeline = recording.timeline(speed=speed, max_gap=max_gap)
    end = timeline[-1].t if timeline else 0.0

    def subscribe(
        observer: abc.ObserverBase[Event], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        def emit(event: Event) -> Any:
            return lambda _scheduler, _state: observer.on_next(event)

        played = CompositeDisposable()
        for arrival in timeline:
            played.add(scheduler.schedule_relative(arrival.t, emit(arrival.event)))
        played.add(scheduler.schedule_relative(end, lambda *_: observer.on_completed()))
        return played

    return reactivex.create(subscribe)
