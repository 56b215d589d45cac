"""Runtimes on asyncio loops: the calling thread's running loop, or one shared loop thread.

:func:`current_runtime` picks where a new socket lives: the loop running in the
calling thread (a notebook cell, an async app), otherwise one shared daemon loop
thread for the whole process, started on first use, on uvloop when it is installed
(see :func:`rx_itty.asyncio.choose.new_event_loop`). Nothing here calls
``asyncio.run`` or needs ``nest_asyncio``, so it works inside Jupyter's own loop,
which is never replaced.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Callable
from typing import final

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from rx_itty._signals import leave_stop_signals_to_the_main_thread
from rx_itty.asyncio.choose import new_event_loop
from rx_itty.exceptions import SocketDisposed
from rx_itty.runtime import Runtime

__all__ = [
    "LoopRuntime",
    "at_exit",
    "current_runtime",
    "is_shared",
    "shared_runtime",
]


@final
class LoopRuntime:
    """A runtime on an asyncio event loop (running in some thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int | None = None) -> None:
        self._loop = loop
        self._thread_id = thread_id if thread_id is not None else threading.get_ident()
        self._scheduler = AsyncIOScheduler(loop)
        self._threadsafe = AsyncIOThreadSafeScheduler(loop)

    @property
    def scheduler(self) -> abc.SchedulerBase:
        return self._scheduler

    @property
    def threadsafe_scheduler(self) -> abc.SchedulerBase:
        return self._threadsafe

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def on_thread(self) -> bool:
        # A closed loop runs nowhere: its thread is no longer the socket's (so calls
        # fail with SocketDisposed below instead of running on a dead loop).
        return threading.get_ident() == self._thread_id and not self._loop.is_closed()

    def call(self, fn: Callable[[], None]) -> None:
        if self.on_thread():
            fn()
            return
        try:
            self._loop.call_soon_threadsafe(fn)
        except RuntimeError as exc:  # the loop is closed
            raise SocketDisposed(
                "the event loop this socket lives on has closed; create sockets inside the "
                "loop that uses them, or outside any loop to use the shared background loop"
            ) from exc


_shared: LoopRuntime | None = None
_shared_lock = threading.Lock()
_at_exit: list[Callable[[], None]] = []


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    leave_stop_signals_to_the_main_thread()
    asyncio.set_event_loop(loop)
    loop.run_forever()


def shared_runtime() -> LoopRuntime:
    """The process-wide background loop thread (a daemon), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            loop = new_event_loop()
            thread = threading.Thread(
                target=_run_forever, args=(loop,), name="rx_itty-loop", daemon=True
            )
            thread.start()
            assert thread.ident is not None
            _shared = LoopRuntime(loop, thread.ident)
        return _shared


def is_shared(runtime: Runtime) -> bool:
    """True if ``runtime`` is the process-wide background loop thread."""
    return _shared is not None and runtime is _shared


# One runtime per running loop, so the sockets of one loop share its schedulers.
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopRuntime] = (
    weakref.WeakKeyDictionary()
)


def current_runtime() -> LoopRuntime:
    """The running loop of the calling thread, else the shared background loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return shared_runtime()
    runtime = _per_loop.get(loop)
    if runtime is None or not runtime.on_thread():
        runtime = _per_loop[loop] = LoopRuntime(loop)
    return runtime


def at_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` when the interpreter exits (used to flush sockets' queued sends)."""
    if not _at_exit:
        atexit.register(_run_exit_hooks)
    _at_exit.append(hook)


def _run_exit_hooks() -> None:
    for hook in _at_exit:
        hook()
