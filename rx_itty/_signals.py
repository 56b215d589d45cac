"""The stop signals, left to the main thread: what every thread rx_itty starts does first."""

from __future__ import annotations

import signal
from typing import Final

__all__ = ["STOP_SIGNALS", "leave_stop_signals_to_the_main_thread"]

STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a program (Ctrl-C, ``kill``); only the main thread handles them."""


def leave_stop_signals_to_the_main_thread() -> None:
    """Block :data:`STOP_SIGNALS` in the calling thread (one rx_itty started).

    The kernel hands a process's signal to any thread that does not block it. One
    handed to a background thread only sets a flag: CPython runs the handler when
    the main thread next runs Python code, which a main thread blocked in a wait
    may not do for a long time (Ctrl-C would seem ignored).
    """
    if hasattr(signal, "pthread_sigmask"):  # POSIX
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
