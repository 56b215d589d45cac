"""Retry any Observable with backoff: see :func:`rx_itty.operators.retry_with_backoff`."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import (
    SerialDisposable,
    SingleAssignmentDisposable,
)
from reactivex.scheduler import TimeoutScheduler

from rx_itty.backoff import Backoff

__all__ = ["retry_with_backoff"]

_T = TypeVar("_T")


def retry_with_backoff(
    backoff: Backoff | None = None,
    *,
    scheduler: abc.SchedulerBase | None = None,
    random: Callable[[], float] = random.random,
    should_retry: Callable[[Exception], bool] | None = None,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """On error, resubscribe to the source after a backoff delay.

    Attempt ``n`` (0-based) waits ``backoff.delay(n, random)`` seconds; a value
    from the source resets the count. The error passes through when
    ``should_retry(error)`` is false or the backoff gives up (``max_attempts``).
    An exception raised by ``should_retry`` or ``random`` fails the stream.

    .. marble::
        :alt: retry_with_backoff

        --a--#
        [ retry_with_backoff(Backoff(initial=2, jitter=False)) ]
        --a----(2s)--a--#  ...

    Example:
        >>> fetch.pipe(itty_ops.retry_with_backoff(Backoff(max_attempts=5)))

    Args:
        backoff: The delays (default ``Backoff()``: 0.5 s doubling to 30 s, jittered, forever).
        scheduler: The clock for the delays; default: the one given to ``subscribe``,
            else a ``TimeoutScheduler``.
        random: Uniform ``[0, 1)`` source for the jitter.
        should_retry: Which errors to retry (default: all).

    Returns:
        An operator that retries its source.
    """
    policy = backoff if backoff is not None else Backoff()

    def operator(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            clock = scheduler or scheduler_ or TimeoutScheduler.singleton()
            current = SerialDisposable()
            attempt = 0

            def on_next(value: _T) -> None:
                nonlocal attempt
                attempt = 0
                observer.on_next(value)

            def on_error(error: Exception) -> None:
                nonlocal attempt
                try:
                    wanted = should_retry is None or should_retry(error)
                    delay = policy.delay(attempt, random) if wanted else None
                except Exception as exc:
                    observer.on_error(exc)
                    return
                if delay is None:
                    observer.on_error(error)
                    return
                attempt += 1
                current.disposable = clock.schedule_relative(delay, resubscribe)

            def run() -> None:
                # Assigned before subscribing, so an error raised during subscribe
                # (which swaps in a timer) disposes this attempt as soon as it exists.
                inner = SingleAssignmentDisposable()
                current.disposable = inner
                inner.disposable = source.subscribe(
                    on_next, on_error, observer.on_completed, scheduler=scheduler_
                )

            def resubscribe(_: abc.SchedulerBase, __: Any = None) -> None:
                run()

            run()
            return current

        return Observable(subscribe)

    return operator
