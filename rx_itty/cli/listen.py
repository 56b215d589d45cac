"""``rx-itty listen``: tail a channel, one line per event on stdout.

Status lines (connecting, open, reconnecting, closed) go to stderr. The first
connection must succeed, so a typo in ``--server`` or a refused handshake fails
at once (exit 1); after that, a lost connection reconnects with backoff, as the
library does. SIGINT and SIGTERM end it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any, final

import reactivex
from reactivex import operators as ops

from rx_itty.cli.common import close_failure, error, status, stop_on_signals
from rx_itty.cli.format import event_line, record_line, sender
from rx_itty.cli.options import Commands, add_client_options, options_from
from rx_itty.client import connect
from rx_itty.events import Close, Event, Join, Message
from rx_itty.socket import ConnectionState, IttySocket

__all__ = ["ListenOptions", "listen", "register", "run"]


@final
@dataclass(frozen=True, slots=True)
class ListenOptions:
    """What ``rx-itty listen`` was asked to do (see ``rx-itty listen --help``)."""

    channel: str
    server: str | None = None
    type: str | None = None
    json: bool = False
    alias: str | None = None
    announce: bool = False
    join_key: str | None = None


def _events(ch: IttySocket, kind: str | None) -> reactivex.Observable[Event]:
    if kind is None:
        return ch.events

    # A payload-type filter, not ch.on(kind): "join" or "message" here mean payload
    # types, never the system streams that on() gives for those keys.
    def of_kind(message: Message[Any]) -> bool:
        return message.type == kind

    typed: reactivex.Observable[Event] = ch.messages.pipe(ops.filter(of_kind))
    return reactivex.merge(typed, ch.errors)


@final
class _Tail:
    """Subscribers that print, and the outcome they settle: an exit status."""

    def __init__(self, ch: IttySocket, options: ListenOptions) -> None:
        self._ch = ch
        self._url = ch.display_url
        self._format = record_line if options.json else event_line
        self._kind = options.type
        self._seen_open = False
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def subscribe(self) -> None:
        ch = self._ch
        # State first: subscribing to it does not open the socket, the rest do.
        ch.state.subscribe(self._on_state)
        ch.closes.subscribe(self._on_close)
        ch.joins.subscribe(self._on_join)
        _events(ch, self._kind).subscribe(self._print)

    def finish(self, code: int) -> None:
        if not self.done.done():
            self.done.set_result(code)

    def _print(self, event: Event) -> None:
        if self.done.done():
            return
        try:
            print(self._format(event), flush=True)
        except BrokenPipeError:
            # The reader went away (`| head -3`): stop quietly, as `tail` does,
            # and point stdout at /dev/null so the exit flush cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            self.finish(0)

    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTING:
            status(f"connecting to {self._url}")

    def _on_join(self, join: Join) -> None:
        if not join.is_self:
            return
        self._seen_open = True
        here = "1 connection" if join.total == 1 else f"{join.total} connections"
        status(f"open {self._url} as {sender(join.uid, join.alias)} ({here} here)")

    def _on_close(self, close: Close) -> None:
        if self.done.done():
            return
        if close.reconnecting and self._seen_open:
            if close.code is None:  # an attempt that did not get through
                status(f"cannot connect ({close.reason or 'no reason given'}); retrying")
            else:
                status(f"connection lost (code {close.code}); reconnecting")
            return
        # Refused, unreachable at first try, or closed for good by the server.
        error(close_failure(close, self._ch.url))
        self.finish(1)


async def listen(options: ListenOptions) -> int:
    """Tail a channel until a signal (exit 0) or a close it cannot recover from (exit 1).

    Raises:
        InvalidOptionError: a bad channel, server or option value.
    """
    ch = connect(
        options.channel,
        server=options.server,
        alias=options.alias,
        announce=options.announce,
        join_key=options.join_key,
    )
    async with contextlib.AsyncExitStack() as stack:
        # Leaving the stack disposes the socket and waits for its close.
        stack.push_async_exit(ch)
        stop = stack.enter_context(stop_on_signals())
        tail = _Tail(ch, options)
        tail.subscribe()
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait((tail.done, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        tail.finish(0)  # a signal: print nothing more while closing
    code = tail.done.result()
    if code == 0:
        status("closed")
    return code


_EPILOG = """\
Each event is one line, TIME KIND WHO DETAIL:
  12:00:01.234 join    Alice (k3v9qa) [you]  total=1
  12:00:02.500 message Bob (p0x7zq)  {"type":"chat","text":"hi"}
  12:00:03.000 leave   (anonymous)  total=1
With --json, one object per line, with these keys (null when unknown):
  message  event date uid alias type message     join   event date uid alias self total users
  leave    event date uid alias total            error  event date message
After the first connection, a lost one reconnects by itself.
Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 refused or unreachable, 2 bad arguments.
"""


def register(commands: Commands) -> None:
    """Add the ``listen`` command to the parser."""
    command = commands.add_parser(
        "listen",
        help="print a channel's events, one line each",
        description="Print a channel's events, one line each, until Ctrl-C or SIGTERM.\n"
        "Events go to stdout, status lines (connecting, open, reconnecting) to stderr.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(command)
    command.add_argument(
        "--type", metavar="T", help="only messages whose payload type is T (and errors)"
    )
    command.add_argument(
        "--json", action="store_true", help="one JSON object per line, with fixed keys per kind"
    )
    command.add_argument(
        "--announce", action="store_true", help="show your uid and alias in others' joins"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``listen`` with the parsed arguments; returns the exit status."""
    return asyncio.run(listen(options_from(ListenOptions, args)))
