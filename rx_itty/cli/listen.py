"""``rx-itty listen``: tail a channel, one line per event on stdout.

Status lines (connecting, open, reconnecting, closed) go to stderr. The first
connection must succeed, so a typo in ``--server`` or a refused handshake fails
at once (exit 1); after that, a lost connection reconnects with backoff, as the
library does. SIGINT and SIGTERM end it cleanly (exit 0), as do ``--count N``
messages; ``--timeout S`` ends it after S seconds (exit 1 if ``--count`` was not
reached by then). ``--record FILE`` also writes every event with its arrival
time, in the format :mod:`rx_itty.recording` describes, for replay in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO, final

import reactivex
from reactivex import operators as ops

from rx_itty.cli.common import close_failure, error, server_note, status, stop_on_signals
from rx_itty.cli.format import DETAIL_CHARS, event_line, plural, record_line, sender
from rx_itty.cli.options import Commands, add_client_options, count, options_from, positive
from rx_itty.client import connect
from rx_itty.events import Close, Event, Join, Message
from rx_itty.recording import Recorder, record
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
    count: int | None = None
    timeout: float | None = None
    record: str | None = None


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
    """Subscribers that print (and record), and the outcome they settle: an exit status."""

    def __init__(self, ch: IttySocket, options: ListenOptions, record_to: TextIO | None) -> None:
        self._ch = ch
        self._url = ch.display_url
        self._format = record_line if options.json else event_line
        self._kind = options.type
        self._wanted = options.count
        self._note = server_note(options.server, options.channel)
        self.messages = 0
        self._seen_open = False
        self._record_to = record_to
        self.recording: Recorder | None = None
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def subscribe(self) -> None:
        ch = self._ch
        # State first: subscribing to it does not open the socket, the rest do.
        ch.state.subscribe(self._on_state)
        ch.closes.subscribe(self._on_close)
        ch.joins.subscribe(self._on_join)
        if self._record_to is not None:  # before printing: the Nth message is recorded too
            self.recording = record(ch.events, self._record_to, url=self._url)
        _events(ch, self._kind).subscribe(self._print)

    def finish(self, code: int) -> None:
        if self.recording is not None:
            self.recording.dispose()
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
            return
        if isinstance(event, Message):
            self.messages += 1
            if self.messages == self._wanted:
                self.finish(0)

    def _on_state(self, state: ConnectionState) -> None:
        if state is ConnectionState.CONNECTING:
            status(f"connecting to {self._url}")

    def _on_join(self, join: Join) -> None:
        if not join.is_self:
            return
        self._seen_open = True
        here = plural(join.total, "connection")
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
        error(close_failure(close, self._ch.url) + self._note)
        self.finish(1)

    def timed_out(self, options: ListenOptions) -> int:
        """The outcome when ``--timeout`` ran out: fine, unless ``--count`` was not reached."""
        if options.count is None:
            return 0
        got = "no messages" if not self.messages else f"only {self.messages} of {options.count}"
        error(f"timed out after {options.timeout:g} s with {got} (--count {options.count})")
        return 1


async def listen(options: ListenOptions) -> int:
    """Tail a channel until a signal, ``--count`` or ``--timeout``; the exit status.

    0 when stopped by a signal, after ``count`` messages, or at ``timeout``
    without a ``count``; 1 for a close it cannot recover from, or a ``count``
    not reached within ``timeout``; 2 if the ``record`` file cannot be written.

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
        record_to = None
        if options.record is not None:
            try:
                # Opened once the options proved valid, so a bad one leaves no empty file;
                # a local file opens at once, and the stack closes it. Never over another.
                file = open(options.record, "x", encoding="utf-8")  # noqa: ASYNC230, SIM115
            except FileExistsError:
                error(
                    f"{options.record!r} already exists; record to a new file (or remove it first)"
                )
                return 2
            except OSError as exc:
                error(f"cannot write the recording to {options.record!r}: {exc.strerror}")
                return 2
            record_to = stack.enter_context(file)
        stop = stack.enter_context(stop_on_signals())
        tail = _Tail(ch, options, record_to)
        tail.subscribe()
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            (tail.done, stopped), timeout=options.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stopped.cancel()
        if not tail.done.done() and not stop.is_set():
            tail.finish(tail.timed_out(options))
        tail.finish(0)  # a signal: print nothing more while closing
    code = tail.done.result()
    if tail.recording is not None:
        status(f"recorded {plural(tail.recording.events, 'event')} to {options.record}")
    if code == 0:
        status("closed")
    return code


_EPILOG = f"""\
Each event is one line, TIME KIND WHO DETAIL:
  12:00:01.234 join    Alice (k3v9qa) [you]  total=1
  12:00:02.500 message Bob (p0x7zq)  {{"type":"chat","text":"hi"}}
  12:00:03.000 leave   (anonymous)  total=1
Control characters a peer sent are shown escaped (\\x1b), and a payload longer
than {DETAIL_CHARS} characters is cut, with its size; --json shows every payload whole.
With --json, one object per line, with these keys (null when unknown):
  message  event date uid alias type message     join   event date uid alias self total users
  leave    event date uid alias total            error  event date message
--record FILE writes every event (whatever --type shows) with its arrival time,
as JSON lines that rx_itty.testing replays in tests (see the README); FILE must
not exist yet, and at the end a status line says how many events it holds.
After the first connection, a lost one reconnects by itself.
Exit status: 0 stopped by Ctrl-C or SIGTERM, after --count messages, or at
--timeout without --count; 1 refused, unreachable, or --count not reached
within --timeout; 2 bad arguments.
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
    command.add_argument(
        "--count",
        type=count,
        metavar="N",
        help="exit after N messages (of --type T, if given); joins and errors do not count",
    )
    command.add_argument(
        "--timeout",
        type=positive,
        metavar="S",
        help="stop after S seconds (an error if --count messages have not arrived)",
    )
    command.add_argument(
        "--record",
        metavar="FILE",
        help="also write every event and its arrival time to FILE (a new file), as JSON lines",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``listen`` with the parsed arguments; returns the exit status."""
    return asyncio.run(listen(options_from(ListenOptions, args)))
