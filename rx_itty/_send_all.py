"""One subscription of ``IttySocket.send_all``: every value queued in order, none refused.

A finite source may emit faster than the connection takes frames (a
``from_iterable`` emits all of it at once). The socket's queue holds at most
``max_queue`` frames; what finds it full waits here, in order, and moves into it
as the connection makes room (each time the queue has drained to half of
``max_queue``), so a large source is sent whole rather than failing with
``SendQueueFull`` halfway. Memory is the source's own: a pushed Observable cannot
be paused, so the frames it emits are held until they fit.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, final

from reactivex import abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable

from rx_itty.exceptions import SendQueueFull
from rx_itty.wire import encode_frame

__all__ = ["Outbox", "SendAll"]


class Outbox(Protocol):
    """What :class:`SendAll` needs of its socket: its send queue."""

    _max_queue: int
    _accept: Callable[[str], None]
    """Queue one encoded frame (raises ``SendQueueFull`` when the queue is full)."""

    def _flushed_future(self, behind: int = 0) -> concurrent.futures.Future[None]:
        """Resolves once at most ``behind`` frames are still queued."""
        ...


@final
class SendAll:
    """Sends one source's values through a socket; emits their count once all are handed over.

    The source's ``on_next`` calls come one at a time (the Observable contract);
    the socket's loop moves waiting frames into its queue. ``_lock`` guards
    what both touch: the waiting frames and whether the source has completed.
    """

    __slots__ = (
        "_count",
        "_done",
        "_finished",
        "_lock",
        "_observer",
        "_pending",
        "_socket",
        "_subscription",
        "_to",
        "_upstream",
        "_waiting",
    )

    def __init__(self, socket: Outbox, observer: abc.ObserverBase[int], to: str | None) -> None:
        self._socket = socket
        self._observer = observer
        self._to = to
        self._lock = threading.Lock()
        self._pending: deque[str] = deque()  # found the queue full; go in this order
        self._count = 0  # values taken from the source
        self._finished = False  # the source completed
        self._done = False  # emitted or failed, or unsubscribed: nothing more happens
        self._upstream = SingleAssignmentDisposable()
        self._waiting: concurrent.futures.Future[None] | None = None  # for room, or the end
        self._subscription = CompositeDisposable(self._upstream, Disposable(self._stop))

    def run(self, source: abc.ObservableBase[Any]) -> abc.DisposableBase:
        """Subscribe to ``source``; the result unsubscribes and stops waiting."""
        self._upstream.disposable = source.subscribe(
            self._on_next, self._on_error, self._on_completed
        )
        return self._subscription

    # -- the source ----------------------------------------------------------------------

    def _on_next(self, value: Any) -> None:
        if self._done:
            return  # a synchronous source may emit on before it sees the dispose
        try:
            frame = encode_frame(value, self._to)
        except Exception as exc:
            self._fail(exc)
            return
        self._count += 1
        with self._lock:
            if self._pending:  # keep the order: behind the ones already waiting
                self._pending.append(frame)
                return
        try:
            self._socket._accept(frame)
        except SendQueueFull:
            with self._lock:
                self._pending.append(frame)
            self._wait_for_room()
        except Exception as exc:  # SocketDisposed
            self._fail(exc)

    def _on_error(self, error: Exception) -> None:
        self._fail(error)

    def _on_completed(self) -> None:
        with self._lock:
            self._finished = True
            waiting = bool(self._pending)
        if not waiting:  # else the last move into the queue finishes
            self._wait(self._socket._flushed_future(), self._handed_over)

    # -- the socket ----------------------------------------------------------------------

    def _wait_for_room(self) -> None:
        # Room for half a queue at least, so frames move in batches, not one by one.
        behind = self._socket._max_queue // 2
        self._wait(self._socket._flushed_future(behind), self._room)

    def _room(self) -> None:
        """Move waiting frames into the queue until it is full again or none wait."""
        while True:
            with self._lock:
                if not self._pending:
                    finished = self._finished
                    break
                frame = self._pending[0]
            try:
                self._socket._accept(frame)
            except SendQueueFull:
                self._wait_for_room()
                return
            except Exception as exc:
                self._fail(exc)
                return
            with self._lock:
                self._pending.popleft()
        if finished:
            self._wait(self._socket._flushed_future(), self._handed_over)

    def _handed_over(self) -> None:
        if self._claim():
            self._observer.on_next(self._count)
            self._observer.on_completed()

    def _wait(self, future: concurrent.futures.Future[None], then: Callable[[], None]) -> None:
        self._waiting = future  # one wait at a time: for room, then for the end

        def settled(done: concurrent.futures.Future[None]) -> None:
            if done.cancelled() or self._done:
                return
            error = done.exception()
            if error is not None:
                self._fail(error)  # type: ignore[arg-type]
            else:
                then()

        future.add_done_callback(settled)

    # -- the end -------------------------------------------------------------------------

    def _claim(self) -> bool:
        """True for the one caller that ends this subscription (emit, fail or unsubscribe)."""
        with self._lock:
            if self._done:
                return False
            self._done = True
            self._pending.clear()  # frames not queued yet are not sent
        return True

    def _fail(self, error: Exception) -> None:
        if self._claim():
            self._cleanup()
            self._observer.on_error(error)

    def _stop(self) -> None:
        self._claim()
        self._cleanup()

    def _cleanup(self) -> None:
        self._upstream.dispose()
        waiting = self._waiting
        if waiting is not None:
            waiting.cancel()
