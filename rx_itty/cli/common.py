"""Plumbing shared by the client commands: status lines, signals, one-line failures.

Status goes to stderr, prefixed ``rx-itty:``, so stdout carries only data and
can be piped; every line is flushed at once, because a pipe is block-buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

from rx_itty._logging import without_query
from rx_itty.events import Close
from rx_itty.exceptions import ConnectionFailed, HandshakeRejected

__all__ = ["PROG", "close_failure", "error", "failure", "status", "stop_on_signals"]

PROG = "rx-itty"

# The library's hints name Python arguments; on the command line, name the flags.
_FLAG_HINTS = {
    403: "pass the channel's key with --join-key",
    404: "check --server; channels live under /c/",
    429: "slow down and retry later",
}


def status(text: str) -> None:
    """Print a status line on stderr."""
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


def error(text: str) -> None:
    """Print a one-line error on stderr."""
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def _rejected(url: str, code: int, reason: str) -> str:
    detail = f": {reason}" if reason else ""
    hint = _FLAG_HINTS.get(code, "check --server and the options")
    return f"server refused {without_query(url)} with HTTP {code}{detail}; {hint}"


def failure(exc: ConnectionFailed, url: str) -> str:
    """A one-line description of a connection that could not open."""
    if isinstance(exc, HandshakeRejected):
        return _rejected(url, exc.status, exc.reason)
    return str(exc).replace(url, without_query(url))


def close_failure(close: Close, url: str) -> str:
    """A one-line description of a close the socket will not recover from."""
    # A reason may quote the URL (a library's error text): never with its keys.
    said = close.reason.replace(url, without_query(url))
    if close.rejected is not None:
        return _rejected(url, close.rejected, said)
    if close.code is None:
        return f"cannot connect to {without_query(url)}: {said or 'no reason given'}"
    reason = f": {said}" if said else ""
    return f"{without_query(url)} closed the connection (code {close.code}{reason})"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT (Ctrl-C) or SIGTERM while the block runs on this loop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
