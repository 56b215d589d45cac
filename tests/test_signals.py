"""The stop signals are left to the main thread by every thread rx_itty starts."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from rx_itty._signals import STOP_SIGNALS, leave_stop_signals_to_the_main_thread
from rx_itty.asyncio.runtime import shared_runtime
from rx_itty.relay.embed import start_relay_thread
from tests.support import scaled

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX only")


def blocked_here() -> set[int]:
    return {int(sig) for sig in signal.pthread_sigmask(signal.SIG_BLOCK, [])}


def blocked_in_a_thread(*, leave: bool = False) -> set[int]:
    seen: list[set[int]] = []

    def run() -> None:
        if leave:
            leave_stop_signals_to_the_main_thread()
        seen.append(blocked_here())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(scaled(5))
    return seen[0]


def test_a_thread_that_leaves_them_blocks_sigint_and_sigterm_and_the_main_thread_does_not() -> None:
    assert set(STOP_SIGNALS) == {signal.SIGINT, signal.SIGTERM}
    assert set(STOP_SIGNALS) <= blocked_in_a_thread(leave=True)
    assert not set(STOP_SIGNALS) & blocked_in_a_thread()  # only where asked
    assert not set(STOP_SIGNALS) & blocked_here()


async def _blocked() -> set[int]:
    return blocked_here()


def test_the_shared_loop_thread_and_an_embedded_relay_leave_them_to_the_main_thread() -> None:
    loop = shared_runtime().loop
    in_loop = asyncio.run_coroutine_threadsafe(_blocked(), loop).result(scaled(5))
    assert set(STOP_SIGNALS) <= in_loop
    with start_relay_thread() as relay:
        assert relay._loop is not None
        in_relay = asyncio.run_coroutine_threadsafe(_blocked(), relay._loop).result(scaled(5))
    assert set(STOP_SIGNALS) <= in_relay
