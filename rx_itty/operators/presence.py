"""The presence operator: the roster from any stream of events."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable, abc

from rx_itty.events import Event, Join, Leave
from rx_itty.presence import Presence

__all__ = ["presence"]


def presence() -> Callable[[Observable[Event]], Observable[Presence]]:
    """The roster after each join or leave, built from an empty :class:`Presence`.

    Each subscription starts from nobody, so subscribe before the socket opens to
    see our own join (or use ``ch.presence``, which replays the latest roster).

    .. marble::
        :alt: presence

        --J(me)--m--J(ann)--L(ann)--|
        [        presence()         ]
        --P1--------P2------P3------|

    Example:
        >>> ch.events.pipe(itty_ops.presence()).subscribe(lambda p: print(p.total))

    Returns:
        An operator from events to presence snapshots.
    """

    def operator(source: Observable[Event]) -> Observable[Presence]:
        def subscribe(
            observer: abc.ObserverBase[Presence], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            roster = Presence()

            def on_next(event: Event) -> None:
                nonlocal roster
                if isinstance(event, Join | Leave):
                    roster = roster.apply(event)
                    observer.on_next(roster)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
