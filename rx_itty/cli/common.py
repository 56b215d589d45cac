"""Plumbing shared by the client commands: status lines, signals, one-line failures.

Status goes to stderr, prefixed ``rx-itty:``, so stdout carries only data and
can be piped; every line is flushed at once, because a pipe is block-buffered.
Lines may quote what the network sent (a close reason, an alias), so control
characters in them are escaped before they reach the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import socket
import sys
from collections.abc import Iterator

from rx_itty._logging import gives_join_key, redact, without_query
from rx_itty._signals import STOP_SIGNALS
from rx_itty.cli.format import terminal_safe
from rx_itty.cli.options import JOIN_KEY_ENV
from rx_itty.client import SERVER_ENV
from rx_itty.events import Close
from rx_itty.exceptions import ConnectionFailed, HandshakeRejected, _rejection_hint
from rx_itty.wire import is_raw_url

__all__ = [
    "PROG",
    "bind_failure",
    "clause",
    "close_failure",
    "error",
    "failure",
    "quiet",
    "server_note",
    "set_quiet",
    "status",
    "stop_on_signals",
]

PROG = "rx-itty"

# The library's hints name Python arguments; on the command line, name the flags.
_FLAG_HINTS: dict[int | str, str] = {
    400: "check the channel name and --as",
    403: f"pass the channel's join key with --join-key or ${JOIN_KEY_ENV}",
    "403 given": f"the join key given (--join-key or ${JOIN_KEY_ENV}) is not this channel's",
    404: "check --server; channels live under /c/",
    429: "slow down and retry later",
    "5xx": "the relay failed; retry later, or tell whoever runs it",
    "other": "check --server",
}

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Hide status lines (``-q``); errors are always printed."""
    global _quiet
    _quiet = quiet


def quiet() -> bool:
    """True once ``-q`` asked for errors only."""
    return _quiet


def status(text: str) -> None:
    """Print a status line on stderr, unless ``-q`` asked for errors only."""
    if not _quiet:
        print(f"{PROG}: {terminal_safe(text)}", file=sys.stderr, flush=True)


def error(text: str) -> None:
    """Print a one-line error on stderr."""
    print(f"{PROG}: error: {terminal_safe(text)}", file=sys.stderr, flush=True)


def clause(text: str) -> str:
    """``text`` without its closing punctuation, to continue it with ``; ...`` or ``: ...``."""
    return text.rstrip(" .;:")


def _rejected(url: str, code: int, reason: str) -> str:
    detail = f": {clause(reason)}" if clause(reason) else ""  # redacted by its callers
    hint = _rejection_hint(code, reason, gives_join_key(url), _FLAG_HINTS)
    return f"server refused {without_query(url)} with HTTP {code}{detail}{hint}"


def server_note(server: str | None, channel: str) -> str:
    """`` (server from $RX_ITTY_SERVER)`` when the variable chose the relay, else ``""``.

    A forgotten variable in the environment is a common reason to reach the
    wrong relay, so a connection failure says where the server came from.
    """
    if server is None and not is_raw_url(channel) and os.environ.get(SERVER_ENV):
        return f" (server from ${SERVER_ENV})"
    return ""


def failure(exc: ConnectionFailed, url: str) -> str:
    """A one-line description of a connection that could not open."""
    if isinstance(exc, HandshakeRejected):
        return _rejected(url, exc.status, exc.reason)
    return str(exc).replace(url, without_query(url))


def close_failure(close: Close, url: str) -> str:
    """A one-line description of a close the socket will not recover from."""
    # A reason may quote the URL (a library's error text, a server's 400 page):
    # never with its keys.
    said = redact(close.reason.replace(url, without_query(url)))
    if close.rejected is not None:
        return _rejected(url, close.rejected, said)
    if close.code is None:
        hint = _connect_hint(url, said)
        return f"cannot connect to {without_query(url)}: {said or 'no reason given'}{hint}"
    reason = f": {said}" if said else ""
    return f"{without_query(url)} closed the connection (code {close.code}{reason})"


def _connect_hint(url: str, said: str) -> str:
    """``; ...`` saying what to check when a connection could not be made, else ``""``."""
    if said.startswith("connection refused"):
        return "; no relay is listening there: check --server"
    if url.startswith("wss:") and ("reset" in said or "TLS" in said):
        return "; if the relay does not use TLS (a plain rx-itty serve), use ws://"
    return ""


# asyncio says "error while attempting to bind on address ('H', P): reason".
_BIND_ADDRESS = re.compile(r"\('[^']*', (\d+)[^)]*\): ")


def bind_failure(exc: OSError, host: str, port: int, http_port: int | None = None) -> str:
    """One line for an address a relay could not listen on, naming the option to change.

    Args:
        exc: What binding raised.
        host: ``--host``.
        port: ``--port``.
        http_port: ``--http-port``, if given: the error may be about that one.
    """
    said = str(exc.strerror or exc)
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: unknown host ({said}); check --host"
    flag = "--port"
    found = _BIND_ADDRESS.search(said)
    if found is not None:
        said = said[found.end() :]
        if http_port is not None and int(found.group(1)) == http_port != port:
            flag, port = "--http-port", http_port
    where = f"cannot listen on {host}:{port}: {said}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}; choose another {flag} (0 picks a free one)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"{where}; no interface of this machine has that address: choose another --host "
            "(127.0.0.1 for this machine only, 0.0.0.0 for all)"
        )
    if exc.errno == errno.EACCES:
        return f"{where}; ports below 1024 need privileges: choose a {flag} above 1023"
    return f"{where}; check --host and {flag}"


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT (Ctrl-C) or SIGTERM while the block runs on this loop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
