"""Long-running programs: run until Ctrl-C or SIGTERM, then close every socket cleanly.

A bot subscribes, then waits to be stopped::

    bot = connect("room", alias="bot")
    bot.on("ping").subscribe(lambda m: bot.send({"type": "pong"}, to=m.uid))
    run_until_stopped(bot)              # a script: blocks the main thread

    await until_stopped(bot)            # asyncio: the same, awaited

Either returns when SIGINT (Ctrl-C) or SIGTERM arrives, or when every socket
given has been disposed by the program itself. It then disposes the sockets and
waits (up to ``timeout`` seconds in all) until what they queued has gone out and
their connections have closed, so a ``kill`` never loses the last messages. A
second signal while it waits cuts the wait short, quietly: the program ends
without a traceback. The previous signal handlers are restored before it returns;
a signal the process was started ignoring (``nohup``, a supervisor) stays ignored.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType
from typing import Any

from reactivex.disposable import CompositeDisposable

from rx_itty._signals import STOP_SIGNALS
from rx_itty.exceptions import InvalidOptionError
from rx_itty.socket import IttySocket

__all__ = ["STOP_SIGNALS", "run_until_stopped", "until_stopped"]

_WAKE_SECONDS = 0.25


logger = logging.getLogger("rx_itty")


@contextmanager
def _on_stop_signals(
    stop: Callable[[signal.Signals], None], loop: asyncio.AbstractEventLoop | None = None
) -> Iterator[None]:
    """Call ``stop(signal)`` on SIGINT/SIGTERM while the block runs; restore the old handlers.

    With ``loop``, the handlers are the loop's (a signal then wakes it at once,
    whichever thread it was delivered to) and ``stop`` runs on it. A signal the
    process ignores (``SIG_IGN``, inherited from whoever started it) is left ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        raise InvalidOptionError(
            "only the main thread receives Ctrl-C and SIGTERM: run until_stopped() or "
            "run_until_stopped() there"
        )

    def handler(signum: int, frame: FrameType | None) -> None:
        stop(signal.Signals(signum))

    previous = {
        sig: signal.getsignal(sig)
        for sig in STOP_SIGNALS
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    for sig in previous:
        if loop is not None:
            loop.add_signal_handler(sig, stop, sig)
        else:
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            if loop is not None:
                loop.remove_signal_handler(sig)
            signal.signal(sig, old)


def _wait(event: threading.Event, timeout: float | None = None) -> bool:
    """``event.wait(timeout)``, coming back to Python at least every quarter second.

    A signal the kernel hands to a thread other than the main one (a user's own
    thread) only sets a flag; CPython runs its handler when the main thread next
    runs Python code, which a wait without end never does.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = (
            _WAKE_SECONDS if deadline is None else min(_WAKE_SECONDS, deadline - time.monotonic())
        )
        if left <= 0:
            return event.is_set()
        if event.wait(left):
            return True


def _when_all_disposed(
    sockets: tuple[IttySocket, ...], done: Callable[[], None]
) -> CompositeDisposable:
    """Call ``done`` once every socket's streams have completed (each was disposed)."""
    left = len(sockets)
    lock = threading.Lock()

    def one_completed() -> None:
        nonlocal left
        with lock:
            left -= 1
            last = left == 0
        if last:
            done()

    return CompositeDisposable(
        [socket.state.subscribe(on_completed=one_completed) for socket in sockets]
    )


def _left_open(sockets: tuple[IttySocket, ...], closed: list[bool], why: str) -> None:
    late = [socket.display_url for socket, done in zip(sockets, closed, strict=True) if not done]
    if late:
        logger.warning("%s; not waiting for %s to flush and close", why, ", ".join(late))


def run_until_stopped(*sockets: IttySocket, timeout: float = 10.0) -> signal.Signals | None:
    """Block until Ctrl-C or SIGTERM (or until every socket is disposed), then dispose them all.

    For scripts, on the main thread. Disposal flushes: each socket's queued sends
    go out and its connection closes before this returns (up to ``timeout``
    seconds in all, for every socket at once; one that takes longer is logged and
    left). A second signal during that wait ends it at once, with no traceback.

    Args:
        sockets: The sockets the program runs; none means just wait for a signal.
        timeout: Seconds to wait for the sockets to flush and close.

    Returns:
        The signal that stopped it, or ``None`` if every socket was disposed first.

    Raises:
        InvalidOptionError: not called on the main thread (only it receives signals).
        LoopThreadError: called on a socket's own event loop thread (use
            ``await until_stopped(...)`` there).
    """
    for socket in sockets:
        socket._forbid_loop_thread("run_until_stopped()", "await until_stopped(...)")
    stopped = threading.Event()
    finished = threading.Event()  # every socket closed, or a second signal
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if stopped.is_set():
            finished.set()  # already flushing: stop waiting for it
            return
        received.append(sig)
        stopped.set()

    with _on_stop_signals(on_signal):
        with _when_all_disposed(sockets, stopped.set):
            _wait(stopped)
        for socket in sockets:
            socket.dispose()
        closed = [False] * len(sockets)
        for index, socket in enumerate(sockets):
            socket._closed_future().add_done_callback(partial(_one_closed, closed, index, finished))
        in_time = not sockets or _wait(finished, timeout)
        _left_open(sockets, closed, "a second signal" if in_time else f"{timeout} s passed")
    return received[0] if received else None


def _one_closed(closed: list[bool], index: int, finished: threading.Event, _: object) -> None:
    closed[index] = True
    if all(closed):
        finished.set()


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Given up on: what it ended with (a cancellation) needs no report.
    if not future.cancelled():
        future.exception()


async def until_stopped(*sockets: IttySocket, timeout: float = 10.0) -> signal.Signals | None:  # noqa: ASYNC109
    """Wait until Ctrl-C or SIGTERM (or until every socket is disposed), then dispose them all.

    The asyncio form of :func:`run_until_stopped`, for a program whose loop runs on
    the main thread (``asyncio.run(main())``). Disposal flushes, as there, up to
    ``timeout`` seconds; a second signal during that wait ends it at once.

    Returns:
        The signal that stopped it, or ``None`` if every socket was disposed first.

    Raises:
        InvalidOptionError: the loop does not run on the main thread.
    """
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[signal.Signals | None] = loop.create_future()
    hurry: asyncio.Future[None] = loop.create_future()

    def settle(sig: signal.Signals | None) -> None:
        if not stopped.done():
            stopped.set_result(sig)
        elif sig is not None and not hurry.done():
            hurry.set_result(None)  # already flushing: stop waiting for it

    def all_disposed() -> None:  # on the thread of whichever socket was disposed last
        loop.call_soon_threadsafe(settle, None)

    with _on_stop_signals(settle, loop):
        with _when_all_disposed(sockets, all_disposed):
            received = await stopped
        flushing = asyncio.gather(*(socket.adispose(timeout) for socket in sockets))
        await asyncio.wait((flushing, hurry), return_when=asyncio.FIRST_COMPLETED)
        if not flushing.done():
            flushing.cancel()
            flushing.add_done_callback(_retrieve)
            logger.warning("a second signal; not waiting for the sockets to flush and close")
    return received
