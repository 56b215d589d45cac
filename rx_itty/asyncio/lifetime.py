"""Long-running programs: run until Ctrl-C or SIGTERM, then close every socket cleanly.

A bot subscribes, then waits to be stopped::

    bot = connect("room", alias="bot")
    bot.on("ping").subscribe(lambda m: bot.send({"type": "pong"}, to=m.uid))
    run_until_stopped(bot)              # a script: blocks the main thread

    await until_stopped(bot)            # asyncio: the same, awaited

Either returns when SIGINT (Ctrl-C) or SIGTERM arrives, or when every socket
given has been disposed by the program itself. It then disposes the sockets and
waits (up to ``timeout`` seconds each) until what they queued has gone out and
their connections have closed, so a ``kill`` never loses the last messages. The
previous signal handlers are restored before it returns; no traceback is printed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from reactivex.disposable import CompositeDisposable

from rx_itty.exceptions import InvalidOptionError
from rx_itty.socket import IttySocket

__all__ = ["STOP_SIGNALS", "run_until_stopped", "until_stopped"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop :func:`run_until_stopped` and :func:`until_stopped`."""


@contextmanager
def _on_stop_signals(stop: Callable[[signal.Signals | None], None]) -> Iterator[None]:
    """Call ``stop(signal)`` on SIGINT/SIGTERM while the block runs; restore the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        raise InvalidOptionError(
            "only the main thread receives Ctrl-C and SIGTERM: run until_stopped() or "
            "run_until_stopped() there"
        )

    def handler(signum: int, frame: FrameType | None) -> None:
        stop(signal.Signals(signum))

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


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


def run_until_stopped(*sockets: IttySocket, timeout: float = 10.0) -> signal.Signals | None:
    """Block until Ctrl-C or SIGTERM (or until every socket is disposed), then dispose them all.

    For scripts, on the main thread. Disposal flushes: each socket's queued sends
    go out and its connection closes before this returns (up to ``timeout``
    seconds per socket; a socket that takes longer is logged and left).

    Args:
        sockets: The sockets the program runs; none means just wait for a signal.
        timeout: Seconds to wait for each socket to flush and close.

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
    received: list[signal.Signals] = []

    def stop(sig: signal.Signals | None) -> None:
        if sig is not None:
            received.append(sig)
        stopped.set()

    with _on_stop_signals(stop), _when_all_disposed(sockets, lambda: stop(None)):
        stopped.wait()
    for socket in sockets:
        socket.dispose()
    for socket in sockets:
        socket._wait_closed(timeout)
    return received[0] if received else None


async def until_stopped(*sockets: IttySocket, timeout: float = 10.0) -> signal.Signals | None:  # noqa: ASYNC109
    """Wait until Ctrl-C or SIGTERM (or until every socket is disposed), then dispose them all.

    The asyncio form of :func:`run_until_stopped`, for a program whose loop runs on
    the main thread (``asyncio.run(main())``). Disposal flushes, as there.

    Returns:
        The signal that stopped it, or ``None`` if every socket was disposed first.

    Raises:
        InvalidOptionError: the loop does not run on the main thread.
    """
    loop = asyncio.get_running_loop()
    stopped: asyncio.Future[signal.Signals | None] = loop.create_future()

    def settle(sig: signal.Signals | None) -> None:
        if not stopped.done():
            stopped.set_result(sig)

    def stop(sig: signal.Signals | None) -> None:
        loop.call_soon_threadsafe(settle, sig)

    with _on_stop_signals(stop), _when_all_disposed(sockets, lambda: stop(None)):
        received = await stopped
    await asyncio.gather(*(socket.adispose(timeout) for socket in sockets))
    return received
