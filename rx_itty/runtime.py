"""Where a socket lives: the :class:`Runtime` protocol, and a virtual-time runtime.

Every mutation of a socket's state happens inside :meth:`Runtime.call` on the
runtime's thread, so the socket needs no locks beyond its send queue, and every
timer comes from :attr:`Runtime.scheduler`, so tests drive reconnects and
timeouts in virtual time with :class:`ImmediateRuntime`.

The asyncio runtimes (the loop of the calling thread, or one shared background
loop thread) live in :mod:`rx_itty.asyncio`; their old names here still import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, final

from rx_itty._lazy import lazy_exports

if TYPE_CHECKING:
    import asyncio

    from reactivex import abc

__all__ = ["ImmediateRuntime", "Runtime"]


class Runtime(Protocol):
    """The thread a socket's state lives on, and its clock."""

    @property
    def scheduler(self) -> abc.SchedulerBase:
        """The clock for timers, used from the runtime's thread."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The asyncio loop behind the runtime, if there is one."""

    @property
    def threadsafe_scheduler(self) -> abc.SchedulerBase:
        """The same clock as :attr:`scheduler`, safe to schedule on from any thread."""

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the runtime's thread: now if already there, else soon, in call order."""

    def on_thread(self) -> bool:
        """True if the calling thread is the runtime's thread."""


@final
class ImmediateRuntime:
    """Runs everything in the calling thread, on a given scheduler (virtual-time tests).

    Args:
        scheduler: The clock, typically a ``reactivex.testing.TestScheduler``.
    """

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


# The asyncio runtimes moved to rx_itty.asyncio; their old names still import.
_getattr, __dir__ = lazy_exports(
    __name__,
    {
        "rx_itty.asyncio.runtime": [
            "LoopRuntime",
            "at_exit",
            "current_runtime",
            "is_shared",
            "shared_runtime",
        ]
    },
)


def __getattr__(name: str) -> Any:
    return _getattr(name)
