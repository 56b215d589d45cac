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

from rx_itty.exceptions import LoopThreadError, StreamOverflow

__all__ = ["Stream", "aiterate", "iterate"]

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


async def aiterate(
    source: reactivex.Observable[T], maxsize: int = DEFAULT_BUFFER
) -> AsyncIterator[T]:
    """Iterate a (hot) Observable with ``async for``, buffering up to ``maxsize`` values.

    Subscribes when iteration starts and unsubscribes when it stops (``break``
    included). The stream's completion ends the loop; its error is raised.

    Raises:
        StreamOverflow: the consumer fell more than ``maxsize`` values behind.
    """
    loop = asyncio.get_running_loop()
    consumer_thread = threading.get_ident()
    items: asyncio.Queue[Any] = asyncio.Queue()
    pending = 0  # values queued but not yet consumed, counted in the producer's order
    lock = threading.Lock()

    def put(item: Any) -> None:
        nonlocal pending
        with lock:
            if item is not _DONE and not isinstance(item, _Error):
                if pending >= maxsize:
                    item = _Error(_overflow(maxsize))
                else:
                    pending += 1
        if threading.get_ident() == consumer_thread:
            items.put_nowait(item)
        else:
            loop.call_soon_threadsafe(items.put_nowait, item)

    subscription = source.subscribe(
        on_next=put, on_error=lambda e: put(_Error(e)), on_completed=lambda: put(_DONE)
    )
    try:
        while True:
            item = await items.get()
            if item is _DONE:
                return
            if isinstance(item, _Error):
                raise item.error
            with lock:
                pending -= 1
            yield item
    finally:
        subscription.dispose()


def iterate(
    source: reactivex.Observable[T],
    maxsize: int = DEFAULT_BUFFER,
    *,
    timeout: float | None = None,
    forbid_thread: Callable[[], bool] | None = None,
) -> Iterator[T]:
    """Iterate a (hot) Observable with a blocking ``for`` loop (scripts, threads).

    Args:
        source: The stream.
        maxsize: Values buffered for a slow consumer.
        timeout: Seconds to wait for each value; ``TimeoutError`` when exceeded.
        forbid_thread: Returns True on the thread that produces values (the
            socket's loop), where blocking would freeze it.

    Raises:
        LoopThreadError: called on the producing loop's thread.
        StreamOverflow: the consumer fell more than ``maxsize`` values behind.
        TimeoutError: no value within ``timeout``.
    """
    if forbid_thread is not None and forbid_thread():
        raise LoopThreadError(
            "blocking iteration on the socket's own event loop thread would freeze it; "
            "use 'async for ... in stream.aiter()' there"
        )
    items: queue.Queue[Any] = queue.Queue()
    full = threading.Event()

    def put(item: Any) -> None:
        if item is not _DONE and not isinstance(item, _Error) and items.qsize() >= maxsize:
            if not full.is_set():
                full.set()
                items.put(_Error(_overflow(maxsize)))
            return
        items.put(item)

    subscription = source.subscribe(
        on_next=put, on_error=lambda e: put(_Error(e)), on_completed=lambda: put(_DONE)
    )
    try:
        while True:
            try:
                item = items.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no value within {timeout} s") from None
            if item is _DONE:
                return
            if isinstance(item, _Error):
                raise item.error
            yield item
    finally:
        subscription.dispose()


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

    def aiter(self, maxsize: int = DEFAULT_BUFFER) -> AsyncIterator[T]:
        """``async for event in stream.aiter(): ...`` — see :func:`aiterate`."""
        return aiterate(self, maxsize)

    def iter(self, maxsize: int = DEFAULT_BUFFER, *, timeout: float | None = None) -> Iterator[T]:
        """``for event in stream.iter(timeout=5): ...`` — see :func:`iterate`."""
        return iterate(self, maxsize, timeout=timeout, forbid_thread=self._on_loop_thread)
