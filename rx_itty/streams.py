"""Consume a hot Observable with ``async for`` or a plain ``for`` loop.

A hot stream cannot wait for a slow consumer, so both iterators buffer up to
``maxsize`` values; a consumer that falls further behind gets
:class:`~rx_itty.exceptions.StreamOverflow` instead of silently missing values.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar, final

import reactivex
from reactivex import abc

from rx_itty.exceptions import LoopThreadError, StreamOverflow, StreamTimeout

__all__ = ["AsyncStreamIterator", "Stream", "StreamIterator", "aiterate", "iterate"]

T = TypeVar("T")

_DONE = object()

DEFAULT_BUFFER = 10_000


class _Error:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _overflow(maxsize: int) -> StreamOverflow:
    return StreamOverflow(
        f"the consumer fell more than {maxsize} values behind the stream; "
        "process faster, raise maxsize, or reduce the stream first (e.g. ops.sample)"
    )


@final
class AsyncStreamIterator(AsyncIterator[T]):
    """Buffers a stream for ``async for``; subscribed from creation, not first ``anext``."""

    def __init__(self, source: reactivex.Observable[T], maxsize: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._items: asyncio.Queue[Any] = asyncio.Queue()
        self._maxsize = maxsize
        self._pending = 0  # values queued and not yet consumed
        self._lock = threading.Lock()
        self._subscription: abc.DisposableBase | None = source.subscribe(
            on_next=self._put,
            on_error=lambda e: self._push(_Error(e)),
            on_completed=lambda: self._push(_DONE),
        )

    def _put(self, value: T) -> None:
        item: Any = value
        with self._lock:
            if self._pending >= self._maxsize:
                item = _Error(_overflow(self._maxsize))
            else:
                self._pending += 1
        self._push(item)

    def _push(self, item: Any) -> None:
        if threading.get_ident() == self._thread:
            self._items.put_nowait(item)
        else:
            self._loop.call_soon_threadsafe(self._items.put_nowait, item)

    async def __anext__(self) -> T:
        if self._subscription is None:
            raise StopAsyncIteration
        item = await self._items.get()
        if isinstance(item, _Error):
            await self.aclose()
            raise item.error
        if item is _DONE:
            await self.aclose()
            raise StopAsyncIteration
        with self._lock:
            self._pending -= 1
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Unsubscribe; further iteration ends at once."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()

    def __del__(self) -> None:
        subscription = getattr(self, "_subscription", None)
        if subscription is not None:
            subscription.dispose()


def aiterate(
    source: reactivex.Observable[T], maxsize: int = DEFAULT_BUFFER
) -> AsyncStreamIterator[T]:
    """Iterate a (hot) Observable with ``async for``, buffering up to ``maxsize`` values.

    Subscribes at once (values emitted before the first ``anext`` are kept) and
    unsubscribes when the stream ends, on ``aclose()``, or when the iterator is
    dropped. The stream's completion ends the loop; its error is raised.

    Raises:
        StreamOverflow: the consumer fell more than ``maxsize`` values behind.
        RuntimeError: called with no running event loop.
    """
    return AsyncStreamIterator(source, maxsize)


@final
class StreamIterator(Iterator[T]):
    """Buffers a stream for a blocking ``for``; subscribed from creation."""

    def __init__(self, source: reactivex.Observable[T], maxsize: int, timeout: float | None):
        self._items: queue.Queue[Any] = queue.Queue()
        self._maxsize = maxsize
        self._timeout = timeout
        self._overflowed = False
        self._subscription: abc.DisposableBase | None = source.subscribe(
            on_next=self._put,
            on_error=lambda e: self._items.put(_Error(e)),
            on_completed=lambda: self._items.put(_DONE),
        )

    def _put(self, value: T) -> None:
        if self._items.qsize() >= self._maxsize:
            if not self._overflowed:
                self._overflowed = True
                self._items.put(_Error(_overflow(self._maxsize)))
            return
        self._items.put(value)

    def __next__(self) -> T:
        if self._subscription is None:
            raise StopIteration
        try:
            item = self._items.get(timeout=self._timeout)
        except queue.Empty:
            raise StreamTimeout(
                f"no value arrived within {self._timeout} s; raise the timeout, or check that "
                "the stream is subscribed to a source that emits"
            ) from None
        if isinstance(item, _Error):
            self.close()
            raise item.error
        if item is _DONE:
            self.close()
            raise StopIteration
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Unsubscribe; further iteration ends at once."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()

    def __del__(self) -> None:
        if getattr(self, "_subscription", None) is not None:
            self.close()


def iterate(
    source: reactivex.Observable[T],
    maxsize: int = DEFAULT_BUFFER,
    *,
    timeout: float | None = None,
    forbid_thread: Callable[[], bool] | None = None,
) -> StreamIterator[T]:
    """Iterate a (hot) Observable with a blocking ``for`` loop (scripts, threads).

    Subscribes at once, so values emitted before the first ``next`` are kept.

    Args:
        source: The stream.
        maxsize: Values buffered for a slow consumer.
        timeout: Seconds to wait for each value; ``TimeoutError`` when exceeded.
        forbid_thread: Returns True on the thread that produces values (the
            socket's loop), where blocking would freeze it.

    Raises:
        LoopThreadError: called on the producing loop's thread.
        StreamOverflow: the consumer fell more than ``maxsize`` values behind.
        StreamTimeout: no value within ``timeout`` (also a ``TimeoutError``).
    """
    if forbid_thread is not None and forbid_thread():
        raise LoopThreadError(
            "blocking iteration on the socket's own event loop thread would freeze it; "
            "use 'async for ... in stream.aiter()' there"
        )
    return StreamIterator(source, maxsize, timeout)


@final
class Stream(reactivex.Observable[T], Generic[T]):
    """An Observable from a socket, with iteration helpers.

    It is an ordinary ``reactivex.Observable``: ``pipe`` and ``subscribe`` as usual.
    :meth:`aiter` and :meth:`iter` consume it as an async or blocking iterator.
    """

    def __init__(
        self,
        subscribe: Callable[[abc.ObserverBase[T], abc.SchedulerBase | None], abc.DisposableBase],
        on_loop_thread: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(subscribe)
        self._on_loop_thread = on_loop_thread

    def aiter(self, maxsize: int = DEFAULT_BUFFER) -> AsyncStreamIterator[T]:
        """``async for event in stream.aiter(): ...`` — see :func:`aiterate`."""
        return aiterate(self, maxsize)

    def iter(
        self, maxsize: int = DEFAULT_BUFFER, *, timeout: float | None = None
    ) -> StreamIterator[T]:
        """``for event in stream.iter(timeout=5): ...`` — see :func:`iterate`."""
        return iterate(self, maxsize, timeout=timeout, forbid_thread=self._on_loop_thread)
