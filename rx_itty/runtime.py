"""Where a socket lives: an asyncio loop and its thread, or the caller's thread in tests.

:func:`current_runtime` picks the loop the way DESIGN §4.7 says: the loop running
in the calling thread (a notebook cell, an async app), otherwise one shared daemon
loop thread for the whole process. Nothing here calls ``asyncio.run`` or needs
``nest_asyncio``.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable
from typing import Protocol, final

from reactivex import abc
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from rx_itty.exceptions import SocketDisposed

__all__ = [
    "ImmediateRuntime",
    "LoopRuntime",
    "Runtime",
    "at_exit",
    "current_runtime",
    "is_shared",
    "shared_runtime",
]


class Runtime(Protocol):
    """The thread a socket's state lives on, and its clock.

    Every mutation of a socket happens inside :meth:`call`, so the socket needs
    no locks beyond its send queue; timers come from :attr:`scheduler`.
    """

    @property
    def scheduler(self) -> abc.SchedulerBase: ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None: ...

    @property
    def threadsafe_scheduler(self) -> abc.SchedulerBase:
        """The same clock as :attr:`scheduler`, safe to schedule on from any thread."""

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the runtime's thread: now if already there, else soon, in call order."""

    def on_thread(self) -> bool:
        """True if the calling thread is the runtime's thread."""


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
        return threading.get_ident() == self._thread_id

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


@final
class ImmediateRuntime:
    """Runs everything in the calling thread, on a given scheduler (virtual-time tests)."""

    def __init__(self, scheduler: abc.SchedulerBase) -> None:
        self._scheduler = scheduler

    @property
    def scheduler(self) -> abc.SchedulerBase:
        return self._scheduler

    @property
    def threadsafe_scheduler(self) -> abc.SchedulerBase:
        return self._scheduler

    @property
    def loop(self) -> None:
        return None

    def on_thread(self) -> bool:
        return True

    def call(self, fn: Callable[[], None]) -> None:
        fn()


_shared: LoopRuntime | None = None
_shared_lock = threading.Lock()
_at_exit: list[Callable[[], None]] = []


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def shared_runtime() -> LoopRuntime:
    """The process-wide background loop thread (a daemon), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            loop = asyncio.new_event_loop()
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


def current_runtime() -> LoopRuntime:
    """The running loop of the calling thread, else the shared background loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return shared_runtime()
    return LoopRuntime(loop)


def at_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` when the interpreter exits (used to flush sockets' queued sends)."""
    if not _at_exit:
        atexit.register(_run_exit_hooks)
    _at_exit.append(hook)


def _run_exit_hooks() -> None:
    for hook in _at_exit:
        hook()
