"""rx_itty.streams: hot Observables consumed with ``async for`` and a blocking ``for``."""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import pytest
import reactivex
from reactivex import abc
from reactivex import operators as ops
from reactivex.subject import Subject

from rx_itty.exceptions import LoopThreadError, StreamOverflow, StreamTimeout
from rx_itty.streams import Stream, aiterate, iterate
from tests.support import scaled


def subscribers(subject: Subject[Any]) -> int:
    return len(subject.observers)


def stream_of(subject: Subject[int]) -> Stream[int]:
    def subscribe(
        observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None
    ) -> abc.DisposableBase:
        return subject.subscribe(observer)

    return Stream(subscribe)


def emit_from_a_thread(subject: Subject[int], values: range) -> threading.Thread:
    """Start a thread emitting ``values`` then completing; the caller joins it."""

    def run() -> None:
        for value in values:
            subject.on_next(value)
        subject.on_completed()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# -- async iteration ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_aiterate_keeps_values_emitted_before_the_first_anext() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    subject.on_next(1)
    subject.on_next(2)
    subject.on_completed()
    assert [value async for value in iterator] == [1, 2]


@pytest.mark.asyncio
async def test_aiterate_ends_on_completion_and_stays_ended() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    subject.on_completed()
    assert [value async for value in iterator] == []
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)
    assert subscribers(subject) == 0


@pytest.mark.asyncio
async def test_aiterate_raises_the_stream_error_after_the_values_before_it() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    subject.on_next(1)
    subject.on_error(ValueError("boom"))
    assert await anext(iterator) == 1
    with pytest.raises(ValueError, match="boom"):
        await anext(iterator)
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)


@pytest.mark.asyncio
async def test_aiterate_delivers_values_emitted_on_another_thread_in_order() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    thread = emit_from_a_thread(subject, range(100))
    async with asyncio.timeout(scaled(5)):
        assert [value async for value in iterator] == list(range(100))
    thread.join(scaled(5))


@pytest.mark.asyncio
async def test_aiterate_raises_overflow_once_when_the_consumer_falls_maxsize_behind() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject, maxsize=2)
    for value in range(5):
        subject.on_next(value)
    assert [await anext(iterator), await anext(iterator)] == [0, 1]
    with pytest.raises(StreamOverflow, match="more than 2 values behind"):
        await anext(iterator)
    subject.on_next(5)
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)
    assert subscribers(subject) == 0


@pytest.mark.asyncio
async def test_aiterate_consumer_keeping_up_never_overflows() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject, maxsize=1)
    for value in range(5):
        subject.on_next(value)
        assert await anext(iterator) == value
    await iterator.aclose()


@pytest.mark.asyncio
async def test_aiterate_queues_nothing_more_after_an_overflow() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject, maxsize=2)
    for value in range(1000):
        subject.on_next(value)
    # The buffer bound is what keeps a stalled consumer's memory flat: two
    # values and the one overflow error, whatever the stream emits afterwards.
    assert iterator._items.qsize() == 3
    await iterator.aclose()


@pytest.mark.asyncio
async def test_aclose_unsubscribes_and_ends_the_iteration() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    subject.on_next(1)
    assert subscribers(subject) == 1
    await iterator.aclose()
    await iterator.aclose()  # idempotent
    assert subscribers(subject) == 0
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)


@pytest.mark.asyncio
async def test_a_dropped_async_iterator_unsubscribes() -> None:
    subject: Subject[int] = Subject()
    iterator = aiterate(subject)
    subject.on_next(1)
    async for _ in iterator:
        break  # `async for` does not aclose() on break: the iterator is just dropped
    del iterator
    gc.collect()
    assert subscribers(subject) == 0


def test_aiterate_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        aiterate(reactivex.never())


# -- blocking iteration ------------------------------------------------------------


def test_iterate_keeps_values_emitted_before_the_first_next() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5))
    subject.on_next(1)
    subject.on_next(2)
    subject.on_completed()
    assert list(iterator) == [1, 2]
    assert subscribers(subject) == 0


def test_iterate_ends_on_completion_and_stays_ended() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5))
    subject.on_completed()
    assert list(iterator) == []
    with pytest.raises(StopIteration):
        next(iterator)


def test_iterate_raises_the_stream_error_after_the_values_before_it() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5))
    subject.on_next(1)
    subject.on_error(KeyError("gone"))
    assert next(iterator) == 1
    with pytest.raises(KeyError, match="gone"):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)


def test_iterate_receives_values_emitted_on_another_thread_in_order() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5))
    thread = emit_from_a_thread(subject, range(100))
    assert list(iterator) == list(range(100))
    thread.join(scaled(5))


def test_iterate_raises_overflow_once_and_queues_nothing_after_it() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, maxsize=2, timeout=scaled(5))
    for value in range(1000):
        subject.on_next(value)
    assert [next(iterator), next(iterator)] == [0, 1]
    with pytest.raises(StreamOverflow, match="more than 2 values behind"):
        next(iterator)
    with pytest.raises(StopIteration):
        next(iterator)
    assert subscribers(subject) == 0


def test_iterate_times_out_with_stream_timeout_which_is_a_timeout_error() -> None:
    iterator = iterate(reactivex.never(), timeout=0.05)
    with pytest.raises(StreamTimeout, match=r"no value arrived within 0\.05 s") as caught:
        next(iterator)
    assert isinstance(caught.value, TimeoutError)
    iterator.close()


def test_iterate_refuses_the_producing_loop_thread() -> None:
    subject: Subject[int] = Subject()
    with pytest.raises(LoopThreadError, match=r"aiterate\(stream\)"):
        iterate(subject, forbid_thread=lambda: True)
    assert subscribers(subject) == 0


@pytest.mark.asyncio
async def test_iterate_refuses_to_block_a_running_loop_whatever_the_source() -> None:
    # Inside async code, waiting would stop the loop, and whatever feeds the source.
    subject: Subject[int] = Subject()
    with pytest.raises(LoopThreadError, match=r"would block the event loop running in this"):
        iterate(subject, timeout=scaled(5))
    assert subscribers(subject) == 0

    def consume() -> int:
        iterator = iterate(subject, timeout=scaled(5))
        subject.on_next(3)
        return next(iterator)

    assert await asyncio.to_thread(consume) == 3  # off the loop, it blocks as asked


def test_iterate_is_allowed_off_the_producing_thread() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5), forbid_thread=lambda: False)
    subject.on_next(7)
    assert next(iterator) == 7
    iterator.close()


def test_close_unsubscribes_and_ends_the_iteration() -> None:
    subject: Subject[int] = Subject()
    iterator = iterate(subject, timeout=scaled(5))
    subject.on_next(1)
    iterator.close()
    iterator.close()  # idempotent
    assert subscribers(subject) == 0
    with pytest.raises(StopIteration):
        next(iterator)


def test_a_dropped_blocking_iterator_unsubscribes() -> None:
    subject: Subject[int] = Subject()
    iterate(subject)
    gc.collect()
    assert subscribers(subject) == 0


# -- Stream helpers ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_aiter_iterates_with_the_given_buffer() -> None:
    subject: Subject[int] = Subject()
    iterator = stream_of(subject).aiter(maxsize=1)
    subject.on_next(1)
    subject.on_next(2)
    assert await anext(iterator) == 1
    with pytest.raises(StreamOverflow, match="more than 1 values behind"):
        await anext(iterator)


def test_stream_iter_passes_the_timeout_through() -> None:
    iterator = stream_of(Subject()).iter(timeout=0.05)
    with pytest.raises(StreamTimeout):
        next(iterator)
    iterator.close()


def test_stream_is_an_ordinary_observable() -> None:
    subject: Subject[int] = Subject()
    seen: list[int] = []

    def times_ten(value: int) -> int:
        return value * 10

    stream_of(subject).pipe(ops.map(times_ten)).subscribe(seen.append)
    subject.on_next(1)
    assert seen == [10]


@pytest.mark.asyncio
async def test_stream_iter_on_its_loop_thread_raises_and_works_from_another_thread() -> None:
    subject: Subject[int] = Subject()
    stream = stream_of(subject)
    with pytest.raises(LoopThreadError):
        stream.iter()

    def consume() -> int:
        iterator = stream.iter(timeout=scaled(5))
        subject.on_next(3)
        return next(iterator)

    assert await asyncio.to_thread(consume) == 3


@pytest.mark.asyncio
async def test_async_for_works_on_the_stream_itself_with_the_default_bound() -> None:
    subject: Subject[int] = Subject()
    stream = stream_of(subject)
    iterator = stream.__aiter__()
    subject.on_next(1)
    subject.on_completed()
    assert [value async for value in iterator] == [1]
    assert [value async for value in Stream.of(reactivex.of(4, 5))] == [4, 5]


@pytest.mark.asyncio
async def test_run_refuses_the_loop_thread_and_works_from_another() -> None:
    stream = Stream.of(reactivex.of(1, 2, 3))
    with pytest.raises(LoopThreadError, match=r"await stream"):
        stream.run()
    assert await asyncio.to_thread(stream.run) == 3


def watched(subject: Subject[int], subscribed: asyncio.Event) -> Stream[int]:
    """A stream of ``subject`` that sets ``subscribed`` when someone subscribes."""

    def subscribe(
        observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None
    ) -> abc.DisposableBase:
        subscription = subject.subscribe(observer)
        subscribed.set()
        return subscription

    return Stream(subscribe)


@pytest.mark.asyncio
async def test_await_gives_the_last_value_even_when_it_is_emitted_on_another_thread() -> None:
    subject: Subject[int] = Subject()
    subscribed = asyncio.Event()
    waiting = asyncio.ensure_future(_await(watched(subject, subscribed)))
    await asyncio.wait_for(subscribed.wait(), scaled(5))
    thread = emit_from_a_thread(subject, range(3))
    assert await asyncio.wait_for(waiting, scaled(5)) == 2
    thread.join(scaled(5))


@pytest.mark.asyncio
async def test_await_raises_the_streams_error_and_cancelling_unsubscribes() -> None:
    with pytest.raises(KeyError, match="gone"):
        await Stream.of(reactivex.throw(KeyError("gone")))
    subject: Subject[int] = Subject()
    subscribed = asyncio.Event()
    waiting = asyncio.ensure_future(_await(watched(subject, subscribed)))
    await asyncio.wait_for(subscribed.wait(), scaled(5))
    assert subscribers(subject) == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert subscribers(subject) == 0


async def _await(stream: Stream[int]) -> int:
    return await stream
