"""Hot multicast for the socket's streams, with per-subscriber isolation.

A :class:`Hub` is what ``reactivex.Subject`` would be, minus two things a
long-lived socket cannot afford: one subscriber raising stops the delivery of
that value to the others, and every ``on_next`` takes a lock. Here observers are
an immutable tuple replaced on (un)subscribe, so delivery reads it without a
lock, and an exception from one observer is reported, not propagated.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, final

from reactivex import abc
from reactivex.disposable import Disposable

__all__ = ["Hub"]

T = TypeVar("T")

ErrorReporter = Callable[[Any, Exception], None]


@final
class Hub(Generic[T]):
    """Multicasts values to observers; optionally replays the latest to newcomers.

    Args:
        report: Called with ``(value, exception)`` when an observer raises.
        replay: Keep the latest value and give it to each new observer first.
        initial: The value replayed before any has been emitted (``replay`` only).
        lock: Guards (un)subscribing; hubs of one owner may share one (a socket's do).
        on_empty: Called, with the lock held, when the last observer unsubscribes
            (its owner may then forget the hub).
    """

    __slots__ = ("_done", "_latest", "_lock", "_on_empty", "_replay", "_report", "observers")

    def __init__(
        self,
        report: ErrorReporter,
        *,
        replay: bool = False,
        initial: Any = None,
        lock: threading.Lock | None = None,
        on_empty: Callable[[], None] | None = None,
    ) -> None:
        # Read without the lock (it is replaced, never mutated): a hot path can skip
        # building or delivering a value nobody observes.
        self.observers: tuple[abc.ObserverBase[T], ...] = ()
        self._lock = lock or threading.Lock()
        self._report = report
        self._replay = replay
        self._latest: Any = initial
        self._done = False
        self._on_empty = on_empty

    @property
    def latest(self) -> T:
        """The last value emitted (or the initial one); meaningful with ``replay``."""
        return self._latest  # type: ignore[no-any-return]

    @property
    def observed(self) -> bool:
        """True while at least one observer is subscribed."""
        return bool(self.observers)

    def subscribe(self, observer: abc.ObserverBase[T]) -> abc.DisposableBase:
        """Add ``observer``; replaying hubs first give it the latest value.

        Replaying hubs must be subscribed on the thread that emits, so that the
        replayed value can never arrive after a newer one.
        """
        with self._lock:
            added = self.add(observer)
        if self._replay:
            self._deliver(observer, self._latest)
        if added is None:
            observer.on_completed()
            return Disposable()
        return added

    def add(self, observer: abc.ObserverBase[T]) -> abc.DisposableBase | None:
        """Add ``observer`` with the lock already held; ``None`` if the hub has completed
        (the caller then completes the observer, once it has let go of the lock)."""
        if self._done:
            return None
        self.observers = (*self.observers, observer)

        def remove() -> None:
            with self._lock:
                before = self.observers
                self.observers = tuple(o for o in before if o is not observer)
                if before and not self.observers and self._on_empty is not None:
                    self._on_empty()

        return Disposable(remove)

    def on_next(self, value: T) -> None:
        """Deliver ``value`` to every observer, isolating their exceptions."""
        if self._replay:
            self._latest = value
        for observer in self.observers:
            try:
                observer.on_next(value)
            except Exception as exc:
                self._report(value, exc)

    def _deliver(self, observer: abc.ObserverBase[T], value: T) -> None:
        try:
            observer.on_next(value)
        except Exception as exc:
            self._report(value, exc)

    def on_completed(self) -> None:
        """Complete every observer and refuse new ones (they complete at once)."""
        with self._lock:
            observers, self.observers = self.observers, ()
            self._done = True
        for observer in observers:
            try:
                observer.on_completed()
            except Exception as exc:
                self._report(None, exc)
