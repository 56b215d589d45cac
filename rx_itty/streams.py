"""Consume a hot Observable with ``async for`` or a plain ``for`` loop.

A hot stream cannot wait for a slow consumer, so both iterators buffer up to
``maxsize`` values; a consumer that falls further behind gets
:class:`~rx_itty.exceptions.StreamOverflow` instead of silently missing values.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar, final

import reactivex
from reactivex import abc
from reactivex.internal.exceptions import SequenceContainsNoElementsError

from rx_itty.exceptions import LoopThreadError, StreamOverflow, StreamTimeout

__all__ = [
    "AsyncStreamIterator",
    "Forbid",
    "Stream",
    "StreamIterator",
    "aiterate",
    "iterate",
    "refuse_in_a_loop",
]

T = TypeVar("T")

Forbid = Callable[[str, str], None]
"""Raises if a blocking helper may not run here: called with what blocks (``"stream.run()"``)
and its non-blocking form (``"await stream"``), for the error message."""


def refuse_in_a_loop(what: str, instead: str) -> None:
    """Raise if an asyncio loop runs in this thread: blocking it would freeze it.

    Inside a coroutine or a callback of a running loop (an async program, a
    Jupyter cell, a subscriber on a socket's loop), a blocking wait stops every
    other task of that loop, including the one that would end the wait.

    Raises:
        LoopThreadError: an event loop runs in the calling thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise LoopThreadError(
        f"{what} would block the event loop running in this thread; use '{instead}' there"
    )


_DONE = object()

DEFAULT_BUFFER = 10_000


def _on_running_loop(fn: Callable[..., None]) -> Callable[..., None]:
    """``fn``, made callable from any thread: it runs on the calling thread's running
    loop (at once there, else soon), and not at all once that loop has closed."""
    loop = asyncio.get_running_loop()
    thread = threading.get_ident()

    def call(*args: Any) -> None:
        if threading.get_ident() == thread:
            fn(*args)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    return call


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
class _Buffer:
    """What a subscription feeds: counts values not yet consumed, and overflows once.

    The subscription holds this buffer, never the iterator, so an iterator that is
    dropped (``break`` out of a loop) can be collected, and its ``__del__``
    unsubscribes. After an overflow the one error is queued and later values are
    ignored, so a stalled consumer's memory stays bounded.
    """

    __slots__ = ("_lock", "_maxsize", "_pending", "_push")

    def __init__(self, maxsize: int, push: Callable[[Any], None]) -> None:
        self._maxsize = maxsize
        self._pending = 0  # values queued and not yet consumed; maxsize + 1 once overflowed
        self._lock = threading.Lock()
        self._push = push

    def on_next(self, value: Any) -> None:
        with self._lock:
            pending = self._pending
            if pending > self._maxsize:
                return
            if pending == self._maxsize:
                value = _Error(_overflow(self._maxsize))
            self._pending = pending + 1
        self._push(value)

    def on_error(self, error: Exception) -> None:
        self._push(_Error(error))

    def on_completed(self) -> None:
        self._push(_DONE)

    def consumed(self) -> None:
        with self._lock:
            if self._pending <= self._maxsize:
                self._pending -= 1


@final
class AsyncStreamIterator(AsyncIterator[T]):
    """Buffers a stream for ``async for``; subscribed from creation, not first ``anext``."""

    def __init__(self, source: reactivex.Observable[T], maxsize: int) -> None:
        items: asyncio.Queue[Any] = asyncio.Queue()
        push = _on_running_loop(items.put_nowait)

        self._items = items
        self._buffer = _Buffer(maxsize, push)
        buffer = self._buffer
        self._subscription: abc.DisposableBase | None = source.subscribe(
            buffer.on_next, buffer.on_error, buffer.on_completed
        )

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
        self._buffer.consumed()
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
        self._timeout = timeout
        self._buffer = _Buffer(maxsize, self._items.put)
        buffer = self._buffer
        self._subscription: abc.DisposableBase | None = source.subscribe(
            buffer.on_next, buffer.on_error, buffer.on_completed
        )

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
        self._buffer.consumed()
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
        forbid_thread: Returns True on the thread that produces values, where
            blocking would freeze it (a socket's streams know theirs already).

    Raises:
        LoopThreadError: called where blocking would freeze the loop that must
            deliver: inside a running event loop (async code, a subscriber on a
            socket's loop), on the producing thread, or on a socket in virtual time.
        StreamOverflow: the consumer fell more than ``maxsize`` values behind.
        StreamTimeout: no value within ``timeout`` (also a ``TimeoutError``).
    """
    what, instead = "blocking iteration", "async for ... in aiterate(stream)"
    if forbid_thread is not None and forbid_thread():
        raise LoopThreadError(
            f"{what} on the thread that produces the values would freeze it; use '{instead}'"
        )
    if isinstance(source, Stream):
        source._refuse_blocking(what, instead)
    else:
        refuse_in_a_loop(what, instead)
    return StreamIterator(source, maxsize, timeout)


@final
class Stream(reactivex.Observable[T], Generic[T]):
    """An Observable from a socket, with iteration helpers.

    It is an ordinary ``reactivex.Observable``: ``pipe`` and ``subscribe`` as usual.
    It can also be consumed directly:

    - ``async for event in stream`` (or ``stream.aiter(maxsize)``): buffered, see :func:`aiterate`;
    - ``for event in stream.iter(timeout=5)``: blocking, see :func:`iterate`;
    - ``await stream`` / ``stream.run()``: the last value once it completes.

    The blocking forms raise :class:`~rx_itty.exceptions.LoopThreadError` where they
    would freeze the loop that must deliver: on the socket's own loop thread, inside
    any running event loop, and on a socket in virtual time.

    Args:
        subscribe: The subscribe function, as for ``reactivex.Observable``.
        forbid: Raises if blocking is not allowed in the calling thread (a socket
            passes its own rule); by default blocking is refused inside a running loop.
        describe: What the stream is, for its ``repr`` (called only then), e.g.
            ``ch.on('chat') of ws://host/c/room``.
    """

    def __init__(
        self,
        subscribe: Callable[[abc.ObserverBase[T], abc.SchedulerBase | None], abc.DisposableBase],
        forbid: Forbid | None = None,
        *,
        describe: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(subscribe)
        self._refuse_blocking: Forbid = forbid or refuse_in_a_loop
        self._describe = describe

    @classmethod
    def of(
        cls,
        source: reactivex.Observable[T],
        forbid: Forbid | None = None,
        *,
        describe: Callable[[], str] | None = None,
    ) -> Stream[T]:
        """``source`` as a Stream whose blocking helpers follow ``forbid`` (see :class:`Stream`)."""

        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            return source.subscribe(observer, scheduler=scheduler)

        return cls(subscribe, forbid, describe=describe)

    def __repr__(self) -> str:
        """``<Stream what it is>``: a stream is not its values; subscribe to get them."""
        what = self._describe() if self._describe is not None else f"at {id(self):#x}"
        return f"<Stream {what}>"

    def aiter(self, maxsize: int = DEFAULT_BUFFER) -> AsyncStreamIterator[T]:
        """``async for event in stream.aiter(): ...`` — see :func:`aiterate`."""
        return aiterate(self, maxsize)

    def __aiter__(self) -> AsyncStreamIterator[T]:
        """``async for event in stream``: :meth:`aiter` with the default buffer."""
        return aiterate(self, DEFAULT_BUFFER)

    def iter(
        self, maxsize: int = DEFAULT_BUFFER, *, timeout: float | None = None
    ) -> StreamIterator[T]:
        """``for event in stream.iter(timeout=5): ...`` — see :func:`iterate`."""
        self._refuse_blocking("stream.iter()", "async for ... in stream")
        return StreamIterator(self, maxsize, timeout)

    def run(self, scheduler: abc.SchedulerBase | None = None) -> T:
        """Block until the stream completes and return its last value (scripts, threads).

        Raises:
            LoopThreadError: called where blocking would freeze the loop that must
                deliver (see :class:`Stream`); ``await`` it there.
            SequenceContainsNoElementsError: the stream completed without a value.
            Exception: the stream's error.
        """
        self._refuse_blocking("stream.run()", "await stream")
        return super().run(scheduler)

    def __await__(self) -> Generator[Any, None, T]:
        """``await stream``: its last value once it completes (its error is raised).

        Values may be emitted on another thread (the shared loop thread); the
        result is handed to the awaiting loop thread-safely. Cancelling the await
        unsubscribes.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        last: list[T] = []

        def settle(value: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)

        finish = _on_running_loop(settle)

        def on_next(value: T) -> None:
            last[:] = [value]

        def on_completed() -> None:
            if last:
                finish(last[0], None)
            else:
                finish(None, SequenceContainsNoElementsError())

        subscription = self.subscribe(on_next, lambda error: finish(None, error), on_completed)
        future.add_done_callback(lambda _: subscription.dispose())
        return future.__await__()
