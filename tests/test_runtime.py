"""rx_itty.runtime: the Runtime protocol, ImmediateRuntime, and the asyncio runtimes' old names."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from reactivex import abc
from reactivex.testing import TestScheduler

import rx_itty.asyncio
import rx_itty.runtime
from rx_itty.runtime import ImmediateRuntime, Runtime
from tests.support import run_python, scaled


def test_immediate_runtime_runs_calls_inline_in_call_order() -> None:
    runtime = ImmediateRuntime(TestScheduler())
    order: list[str] = []

    def outer() -> None:
        order.append("outer start")
        runtime.call(lambda: order.append("inner"))
        order.append("outer end")

    runtime.call(outer)
    order.append("after")
    assert order == ["outer start", "inner", "outer end", "after"]


def test_immediate_runtime_lets_exceptions_from_a_call_through() -> None:
    runtime = ImmediateRuntime(TestScheduler())

    def fail() -> None:
        raise ValueError("from the call")

    with pytest.raises(ValueError, match="from the call"):
        runtime.call(fail)


def test_immediate_runtime_is_on_every_calling_thread() -> None:
    runtime = ImmediateRuntime(TestScheduler())
    elsewhere: list[bool] = []
    thread = threading.Thread(target=lambda: elsewhere.append(runtime.on_thread()))
    thread.start()
    thread.join(scaled(5))
    assert runtime.on_thread()
    assert elsewhere == [True]


def test_immediate_runtime_has_no_loop() -> None:
    assert ImmediateRuntime(TestScheduler()).loop is None


def test_immediate_runtime_times_with_the_given_scheduler() -> None:
    scheduler = TestScheduler()
    runtime = ImmediateRuntime(scheduler)
    assert runtime.scheduler is scheduler
    assert runtime.threadsafe_scheduler is scheduler
    fired: list[float] = []

    def tick(_: abc.SchedulerBase, __: Any = None) -> None:
        fired.append(scheduler.clock)

    runtime.scheduler.schedule_relative(timedelta(seconds=3), tick)
    scheduler.advance_to(2.0)
    assert fired == []
    scheduler.advance_to(3.0)
    assert fired == [3.0]


def test_immediate_runtime_is_a_runtime() -> None:
    # mypy --strict checks the assignment; the protocol lists what it needs.
    runtime: Runtime = ImmediateRuntime(TestScheduler())
    for name in ("scheduler", "threadsafe_scheduler", "loop", "call", "on_thread"):
        assert hasattr(runtime, name), name
    assert rx_itty.runtime.__all__ == ["ImmediateRuntime", "Runtime"]


@pytest.mark.parametrize(
    "name", ["LoopRuntime", "current_runtime", "shared_runtime", "is_shared", "at_exit"]
)
def test_the_old_asyncio_names_still_import_from_runtime_and_are_the_same(name: str) -> None:
    assert getattr(rx_itty.runtime, name) is getattr(rx_itty.asyncio, name)
    assert name in dir(rx_itty.runtime)


def test_the_old_names_work_with_from_imports() -> None:
    from rx_itty.runtime import LoopRuntime, at_exit, current_runtime, is_shared, shared_runtime

    assert (LoopRuntime, at_exit, current_runtime, is_shared, shared_runtime) == (
        rx_itty.asyncio.LoopRuntime,
        rx_itty.asyncio.at_exit,
        rx_itty.asyncio.current_runtime,
        rx_itty.asyncio.is_shared,
        rx_itty.asyncio.shared_runtime,
    )


def test_an_unknown_name_on_runtime_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchRuntime"):
        rx_itty.runtime.NoSuchRuntime  # noqa: B018


def test_importing_runtime_loads_neither_asyncio_runtimes_nor_websockets() -> None:
    code = (
        "import sys\n"
        "import rx_itty.runtime\n"
        "print(sorted(m for m in sys.modules if m == 'websockets' or m.startswith("
        "('websockets.', 'rx_itty.asyncio'))))\n"
    )
    result = run_python(code)
    assert result.stdout.strip() == "[]"
