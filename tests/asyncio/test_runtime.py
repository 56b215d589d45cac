"""rx_itty.asyncio.runtime: where sockets live, the running loop or one shared loop thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from typing import Any

import pytest
from reactivex import abc

from rx_itty import (
    connect,
    start_relay_thread,
)
from rx_itty.asyncio import LoopRuntime, current_runtime, is_shared, shared_runtime
from rx_itty.exceptions import SocketDisposed
from rx_itty.relay import Relay
from tests.support import run_python, scaled


@pytest.mark.asyncio
async def test_a_socket_made_inside_a_running_loop_delivers_on_that_loop(relay: Relay) -> None:
    # The notebook shape: the kernel's loop runs in the main thread.
    thread = threading.get_ident()
    seen_on: list[int] = []
    async with connect("room", server=relay.url, echo=True) as ch:
        ch.messages.subscribe(lambda _: seen_on.append(threading.get_ident()))
        ch.send({"type": "chat", "text": "hi"})
        async for message in ch.on("chat").aiter():
            assert message["text"] == "hi"
            break
    assert seen_on == [thread]


def test_without_a_running_loop_sockets_share_one_background_loop_thread() -> None:
    with start_relay_thread() as relay:
        names: list[str] = []
        ch = connect("room", server=relay.url, echo=True)
        ch.messages.subscribe(lambda _: names.append(threading.current_thread().name))
        ch.send(1)
        assert next(iter(ch.messages.iter(timeout=scaled(5)))).message == 1
        other = connect("room2", server=relay.url, echo=True).send(2)
        other_names: list[str] = []
        other.messages.subscribe(lambda _: other_names.append(threading.current_thread().name))
        assert next(iter(other.messages.iter(timeout=scaled(5)))).message == 2
        ch.dispose()
        other.dispose()
    assert set(names) == set(other_names) == {"rx_itty-loop"}


# -- LoopRuntime ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_calls_from_another_thread_run_on_the_loop_thread_in_call_order() -> None:
    loop = asyncio.get_running_loop()
    runtime = LoopRuntime(loop)
    ran: list[tuple[int, int]] = []
    done = loop.create_future()

    def record(n: int) -> None:
        ran.append((n, threading.get_ident()))
        if n == 99:
            done.set_result(None)

    def call_all() -> None:
        for n in range(100):
            runtime.call(functools.partial(record, n))

    await asyncio.to_thread(call_all)
    await asyncio.wait_for(done, scaled(5))
    assert ran == [(n, threading.get_ident()) for n in range(100)]


@pytest.mark.asyncio
async def test_a_call_on_the_loop_thread_runs_at_once() -> None:
    runtime = LoopRuntime(asyncio.get_running_loop())
    ran: list[str] = []
    runtime.call(lambda: ran.append("call"))
    ran.append("after")
    assert ran == ["call", "after"]


@pytest.mark.asyncio
async def test_on_thread_is_true_only_on_the_loop_thread() -> None:
    runtime = LoopRuntime(asyncio.get_running_loop())
    assert runtime.on_thread()
    assert not await asyncio.to_thread(runtime.on_thread)


def test_a_runtime_for_a_loop_in_another_thread_names_that_thread() -> None:
    loop = asyncio.new_event_loop()
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            worker = pool.submit(threading.get_ident).result(scaled(5))
        runtime = LoopRuntime(loop, worker)
        assert not runtime.on_thread()
        assert runtime.loop is loop
    finally:
        loop.close()


def test_a_call_after_the_loop_closed_raises_socket_disposed() -> None:
    loop = asyncio.new_event_loop()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # Made on the worker thread, so calls from here are calls from another thread.
        runtime = pool.submit(LoopRuntime, loop).result(scaled(5))
    loop.close()
    with pytest.raises(SocketDisposed, match="the event loop this socket lives on has closed"):
        runtime.call(lambda: None)


@pytest.mark.asyncio
async def test_the_threadsafe_scheduler_runs_actions_on_the_loop_thread() -> None:
    loop = asyncio.get_running_loop()
    runtime = LoopRuntime(loop)
    fired: asyncio.Future[int] = loop.create_future()

    def fire(scheduler: abc.SchedulerBase, state: Any = None) -> None:
        fired.set_result(threading.get_ident())

    await asyncio.to_thread(runtime.threadsafe_scheduler.schedule, fire)
    assert await asyncio.wait_for(fired, scaled(5)) == threading.get_ident()


# -- current_runtime / shared_runtime -------------------------------------------------


@pytest.mark.asyncio
async def test_current_runtime_picks_the_running_loop_of_this_thread() -> None:
    runtime = current_runtime()
    assert runtime.loop is asyncio.get_running_loop()
    assert runtime.on_thread()
    assert not is_shared(runtime)


@pytest.mark.asyncio
async def test_the_sockets_of_one_loop_share_one_runtime() -> None:
    assert current_runtime() is current_runtime()

    async def in_another_loop() -> LoopRuntime:
        return current_runtime()

    other = await asyncio.to_thread(asyncio.run, in_another_loop())
    assert other is not current_runtime()


def test_current_runtime_without_a_loop_is_the_one_shared_loop_thread() -> None:
    runtime = current_runtime()
    assert runtime is shared_runtime() is current_runtime()
    assert is_shared(runtime)
    assert not runtime.on_thread()
    names: concurrent.futures.Future[str] = concurrent.futures.Future()
    runtime.call(lambda: names.set_result(threading.current_thread().name))
    assert names.result(scaled(5)) == "rx_itty-loop"


# -- at_exit --------------------------------------------------------------------------


def test_at_exit_hooks_run_once_each_in_registration_order_at_interpreter_exit() -> None:
    code = (
        "from rx_itty.asyncio import at_exit\n"
        "for name in ('first', 'second', 'third'):\n"
        "    at_exit(lambda name=name: print(name, flush=True))\n"
        "print('body', flush=True)\n"
    )
    result = run_python(code)
    assert result.stdout.splitlines() == ["body", "first", "second", "third"]
    assert result.stderr == ""
