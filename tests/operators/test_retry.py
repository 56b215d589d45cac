"""rx_itty.operators.retry: retry_with_backoff's timing, from cold observables' subscriptions."""

from __future__ import annotations

from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing

from rx_itty import (
    Backoff,
)
from rx_itty import operators as itty_ops
from tests.operators.support import on_next

on_error = ReactiveTest.on_error


subscribed = ReactiveTest.subscribe


BOOM = RuntimeError("boom")


ONCE = Backoff(initial=1.0, jitter=False)


def test_retry_waits_growing_delays_then_lets_the_error_through() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        backoff = Backoff(initial=1.0, factor=2.0, jitter=False, max_attempts=2)
        source = cold("--#", None, BOOM).pipe(itty_ops.retry_with_backoff(backoff))
        # subscribe 0, fail 2, wait 1; subscribe 3, fail 5, wait 2; subscribe 7, fail 9.
        assert start(source) == exp("---------#", None, BOOM)


def test_retry_resubscribes_at_the_backoff_times() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    backoff = Backoff(initial=1.0, factor=2.0, jitter=False, max_attempts=3)
    results = scheduler.start(lambda: source.pipe(itty_ops.retry_with_backoff(backoff)))
    assert source.subscriptions == [
        subscribed(200, 210),
        subscribed(211, 221),
        subscribed(223, 233),
        subscribed(237, 247),
    ]
    assert results.messages == [on_error(247, BOOM)]


def test_a_value_resets_the_attempt_count() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(5, "a"), on_error(10, BOOM))
    backoff = Backoff(initial=1.0, jitter=False, max_attempts=1)
    results = scheduler.start(
        lambda: source.pipe(itty_ops.retry_with_backoff(backoff)), disposed=240
    )
    assert results.messages == [on_next(t, "a") for t in (205, 216, 227, 238)]
    assert source.subscriptions[-1] == subscribed(233, 240)


def test_retry_jitter_draws_from_the_given_random_source() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    backoff = Backoff(initial=8.0, maximum=8.0, max_attempts=1)
    operator = itty_ops.retry_with_backoff(backoff, random=lambda: 0.25)
    scheduler.start(lambda: source.pipe(operator))
    assert source.subscriptions == [subscribed(200, 210), subscribed(212, 222)]


def test_errors_that_should_not_be_retried_pass_at_once() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        operator = itty_ops.retry_with_backoff(
            ONCE, should_retry=lambda exc: not isinstance(exc, RuntimeError)
        )
        assert start(cold("-a-#", None, BOOM).pipe(operator)) == exp("-a-#", None, BOOM)


def test_a_raising_should_retry_fails_the_stream_with_its_error() -> None:
    def judge(exc: Exception) -> bool:
        raise ValueError("cannot judge")

    with marbles_testing() as (start, cold, _hot, exp):
        operator = itty_ops.retry_with_backoff(ONCE, should_retry=judge)
        assert start(cold("-#", None, BOOM).pipe(operator)) == exp(
            "-#", None, ValueError("cannot judge")
        )


def test_completion_passes_through_retry() -> None:
    with marbles_testing() as (start, cold, _hot, exp):
        source = cold("-a-b-|", None, None).pipe(itty_ops.retry_with_backoff(ONCE))
        assert start(source) == exp("-a-b-|", None, None)


def test_disposing_during_a_backoff_wait_cancels_the_resubscription() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    operator = itty_ops.retry_with_backoff(Backoff(initial=50.0, maximum=50.0, jitter=False))
    results = scheduler.start(lambda: source.pipe(operator), disposed=230)
    scheduler.advance_to(1000)
    assert source.subscriptions == [subscribed(200, 210)]
    assert results.messages == []


def test_disposing_while_subscribed_unsubscribes_the_source() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_error(10, BOOM))
    operator = itty_ops.retry_with_backoff(ONCE)
    scheduler.start(lambda: source.pipe(operator), disposed=215)
    assert source.subscriptions == [subscribed(200, 210), subscribed(211, 215)]


def test_retry_uses_the_scheduler_it_is_given() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(1, "a"), on_error(2, BOOM))
    seen: list[str] = []
    source.pipe(itty_ops.retry_with_backoff(ONCE, scheduler=scheduler)).subscribe(seen.append)
    scheduler.advance_to(7)
    assert seen == ["a", "a", "a"]
    assert len(source.subscriptions) == 3
