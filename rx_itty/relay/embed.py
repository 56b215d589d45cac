"""Run a relay on a background thread, for scripts, notebooks and tests.

Inside ``async`` code use :class:`~rx_itty.relay.Relay` directly; this helper is
for code that has no loop of its own (or must not block the loop it has, as in
a Jupyter kernel)::

    relay = start_relay_thread()        # serving on 127.0.0.1, a free port
    print(relay.url)                    # ws://127.0.0.1:PORT/c/
    relay.stop()                        # or: with start_relay_thread() as relay: ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import TracebackType
from typing import Self, Unpack, final

from rx_itty._signals import leave_stop_signals_to_the_main_thread
from rx_itty.exceptions import RelayNotStarted
from rx_itty.relay.config import RelayConfig
from rx_itty.relay.server import Relay, RelayOptions

__all__ = ["RelayThread", "start_relay_thread"]

_START_TIMEOUT = 30.0


@final
class RelayThread:
    """A :class:`Relay` running on its own event loop in a daemon thread.

    Create it with :func:`start_relay_thread`. :meth:`stop` (or leaving a ``with``
    block) closes every client normally and joins the thread.
    """

    def __init__(self, config: RelayConfig | None = None, **options: Unpack[RelayOptions]) -> None:
        self.relay = Relay(config, **options)
        self._loop: asyncio.AbstractEventLoop | None = None  # made by the thread, closed by it
        self._stopped: asyncio.Event | None = None
        self._started: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="rx_itty-relay", daemon=True)

    @property
    def url(self) -> str:
        """Base URL for channels, e.g. ``ws://127.0.0.1:8080/c/``.

        Raises:
            RelayNotStarted: :meth:`start` was never called.
        """
        if not self._started.done() and not self._thread.is_alive():
            raise RelayNotStarted("the relay thread is not started: call start() first")
        return self._started.result()

    @property
    def port(self) -> int:
        """The bound TCP port.

        Raises:
            RelayNotStarted: :meth:`start` was never called.
        """
        self.url  # noqa: B018 - waits for the start, or raises if there was none
        return self.relay.port

    def start(self) -> str:
        """Start the thread and wait until the relay listens; returns its URL.

        Raises:
            OSError: the address could not be bound (for example, port in use).
        """
        if not self._thread.is_alive() and not self._started.done():
            self._thread.start()
        return self._started.result(timeout=_START_TIMEOUT)

    def stop(self) -> None:
        """Close every client normally, stop the relay and join the thread. Idempotent.

        Called from a thread that runs an event loop (a notebook cell, async code),
        it only starts the shutdown and returns: blocking there would freeze the
        very loop the relay's clients need to finish closing. ``await astop()``
        waits without blocking.
        """
        self._signal_stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            if _loop_running_here():
                return
            self._thread.join()

    async def astop(self) -> None:
        """:meth:`stop`, awaited: the calling loop keeps running while clients close."""
        self._signal_stop()
        await asyncio.to_thread(self._thread.join)

    def _signal_stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if self._thread.is_alive() and loop is not None and stopped is not None:
            loop.call_soon_threadsafe(stopped.set)

    def _run(self) -> None:
        leave_stop_signals_to_the_main_thread()
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            url = await self.relay.start()
        except BaseException as exc:
            self._started.set_exception(exc)
            return
        self._started.set_result(url)
        try:
            await self._stopped.wait()
        finally:
            await self.relay.aclose()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def start_relay_thread(
    config: RelayConfig | None = None, **options: Unpack[RelayOptions]
) -> RelayThread:
    """Start a relay on a background thread and return it once it listens.

    Args:
        config: As for :class:`~rx_itty.relay.Relay` (the hosted service's limits by
            default). The thread runs asyncio's own loop, not uvloop.
        **options: As for :class:`~rx_itty.relay.Relay`: ``host`` (loopback by
            default), ``port`` (0 picks a free one), ``http_port`` (also accept HTTP
            pushes there; off if ``None``), ``backplane``, ``engine`` (``"picows"``
            with ``rx_itty[fast]``).

    Returns:
        The running :class:`RelayThread`; read ``.url``, call ``.stop()`` when done.
    """
    relay = RelayThread(config, **options)
    relay.start()
    return relay
