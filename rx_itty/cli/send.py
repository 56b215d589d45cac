"""``rx-itty send``: send a message (or every line of stdin), learn whether the relay took it.

The protocol has no acknowledgements; the relay answers only a refusal, with
an ``error`` event to the sender. To tell "accepted" from "refused" without
guessing at a quiet period, the messages are followed by a *probe*: a direct
message to our own uid. The relay handles one connection's frames in order
and writes to one connection in order, so when the probe comes back, every
error about the messages has already arrived (one per refused message).
Nobody else sees the probe (direct messages are never echoed or broadcast).

A relay that does not deliver DMs to their sender leaves the probe
unanswered; after ``timeout`` seconds the send counts as done, with a status
line saying delivery is unconfirmed.

``rx-itty send ROOM -`` sends every line of stdin as it arrives, each read as
the MESSAGE argument is; it stops at the first line that looks like JSON but
does not parse (exit 2), after confirming what went out before it. It reads no
faster than the connection takes the messages: after each batch of lines it
waits until they have been handed to the connection, and a relay that takes
none for ``timeout`` seconds ends it (exit 1), saying how many went out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from typing import Any, final

from rx_itty._signals import leave_stop_signals_to_the_main_thread
from rx_itty.cli.common import (
    clause,
    close_failure,
    error,
    failure,
    server_note,
    status,
    stop_on_signals,
)
from rx_itty.cli.format import parse_message, plural
from rx_itty.cli.options import (
    SEND_KEY_ENV,
    Commands,
    add_client_options,
    add_key_option,
    options_from,
    positive,
    text,
    utf8,
)
from rx_itty.client import connect
from rx_itty.events import Close, Message, ServerError
from rx_itty.exceptions import ConnectionFailed, InvalidOptionError
from rx_itty.socket import IttySocket

__all__ = ["STDIN", "SendOptions", "register", "run", "send"]

STDIN = "-"
"""The MESSAGE that means: one message per line of stdin."""


@final
@dataclass(frozen=True, slots=True)
class SendOptions:
    """What ``rx-itty send`` was asked to do (see ``rx-itty send --help``).

    ``message`` is the payload to send, or ``None`` with ``stdin``: then every
    line of standard input is a message, read as ``parse_message`` reads one.
    """

    channel: str
    message: Any = None
    stdin: bool = False
    text: bool = False
    to: str | None = None
    server: str | None = None
    alias: str | None = None
    join_key: str | None = None
    send_key: str | None = None
    timeout: float = 10.0


@final
class _Receipt:
    """Counts the relay's refusals, and settles on our probe back (``None``) or a close."""

    def __init__(self, ch: IttySocket) -> None:
        self._ch = ch
        self.probe = {"rx-itty": "probe", "id": secrets.token_hex(8)}
        self.outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.armed = False  # before the open, failures are opened()'s to report
        self.last_close: Close | None = None
        self.refusals: list[str] = []
        self.messages: int | None = None  # how many preceded the probe, once it is sent
        ch.errors.subscribe(self._on_error)
        ch.messages.subscribe(self._on_message)
        ch.closes.subscribe(self._on_close)

    def _settle(self, value: str | None) -> None:
        if not self.outcome.done():
            self.outcome.set_result(value)

    def _on_error(self, event: ServerError) -> None:
        self.refusals.append(event.message)
        if self.messages is not None and len(self.refusals) > self.messages:
            # The probe itself was refused (a send key): answered all the same.
            self._settle(None)

    def _on_message(self, event: Message[Any]) -> None:
        if event.uid is not None and event.uid == self._ch.uid and event.message == self.probe:
            self._settle(None)

    def _on_close(self, close: Close) -> None:
        self.last_close = close
        if self.armed:
            self._settle(close_failure(close, self._ch.url))


@final
class _StdinLines:
    """Batches of stdin's lines as they arrive (without their newlines), then ``None``.

    Read on a daemon thread, because stdin may be a regular file (which an
    event loop cannot watch) and a blocked read cannot be cancelled. It reads
    the file descriptor itself: a daemon thread blocked inside ``sys.stdin``
    would hold its lock, and the interpreter aborts at exit over a held lock.
    It reads at most :data:`AHEAD` batches ahead of :meth:`get`, so a relay that
    takes no more messages stops the reading too.
    """

    AHEAD = 2

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._batches: asyncio.Queue[list[bytes] | None] = asyncio.Queue()
        self._room = threading.Semaphore(self.AHEAD)
        threading.Thread(target=self._pump, name="rx-itty stdin", daemon=True).start()

    async def get(self) -> list[bytes] | None:
        """The next batch of lines, or ``None`` at the end of stdin."""
        batch = await self._batches.get()
        self._room.release()
        return batch

    def _put(self, batch: list[bytes] | None) -> None:
        self._room.acquire()
        self._loop.call_soon_threadsafe(self._batches.put_nowait, batch)

    def _pump(self) -> None:
        leave_stop_signals_to_the_main_thread()
        fd = sys.stdin.fileno()
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is reading
            pending = b""
            try:
                while chunk := os.read(fd, 1 << 16):
                    *batch, pending = (pending + chunk).split(b"\n")
                    if batch:
                        self._put(batch)
                if pending:
                    self._put([pending])
            except OSError:
                pass  # stdin went away: it ends here, as at end of file
            finally:
                self._put(None)


@final
class _Sender:
    """One run of ``send``: open, send, probe, and the one line that says how it went."""

    def __init__(self, ch: IttySocket, options: SendOptions, stop: asyncio.Event) -> None:
        self._ch = ch
        self._options = options
        self._url = ch.display_url
        self._receipt = _Receipt(ch)
        self._stopped = asyncio.ensure_future(stop.wait())
        self.sent = 0
        self.stalled = False  # the relay took no message for --timeout seconds

    async def run(self) -> int:
        try:
            if not await self._open():
                return 1
            others = max(self._ch.current_presence.total - 1, 0)
            bad_input = await self._send_all()
            if self.stalled:
                error(self._stalled())
                return 1
            confirmed = await self._confirm()
            if self._stopped.done():
                error(self._interrupted())
                return 1
            return self._report(confirmed, others, bad_input)
        finally:
            self._stopped.cancel()

    def _went_out(self) -> int:
        """How many messages were handed to the connection."""
        return self.sent - self._ch.queued

    def _interrupted(self) -> str:
        if not self.sent:
            return "interrupted before anything was sent"
        if not self._options.stdin:
            return "interrupted before the relay confirmed the message"
        went, left = self._went_out(), self._ch.queued
        unsent = f", {left} not sent" if left else ""
        return (
            f"interrupted: {plural(went, 'message')} went out{unsent}; "
            "the relay had not confirmed them"
        )

    def _stalled(self) -> str:
        went = self._went_out()
        return (
            f"the relay took no message for {self._options.timeout:g} s: {went} of "
            f"{plural(self.sent, 'message')} went out, the rest were not sent; check the relay "
            "(or raise --timeout)"
        )

    async def _until(self, work: asyncio.Future[Any], within: float | None = None) -> bool:
        """Wait for ``work`` (up to ``within`` s); False if a signal or a close came first."""
        waiting = {work, self._stopped}
        if self._receipt.armed:
            waiting.add(self._receipt.outcome)
        await asyncio.wait(waiting, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        if not work.done():
            work.cancel()
            return False
        return True

    async def _open(self) -> bool:
        ch, receipt = self._ch, self._receipt
        status(f"connecting to {self._url}")
        opening = asyncio.ensure_future(ch.opened(self._options.timeout))
        if not await self._until(opening):  # opened() has the timeout
            error("interrupted before the connection opened")
            return False
        try:
            opening.result()
        except ConnectionFailed as exc:
            last = receipt.last_close
            line = failure(exc, ch.url) if last is None else close_failure(last, ch.url)
            error(line + server_note(self._options.server, self._options.channel))
            return False
        receipt.armed = True
        return True

    async def _send_all(self) -> str | None:
        """Send the message, or each line of stdin; a bad line's error, else ``None``.

        Stops early, setting :attr:`stalled`, if the relay stopped taking messages.
        """
        options = self._options
        if not options.stdin:
            self._ch.send(options.message, to=options.to)
            self.sent = 1
            return None
        lines = _StdinLines(asyncio.get_running_loop())
        number = 0
        while True:
            arrived = asyncio.ensure_future(lines.get())
            if not await self._until(arrived):
                return None  # interrupted, or the relay closed the connection
            batch = arrived.result()
            if batch is None:
                return None
            for raw in batch:
                number += 1
                problem = self._send_line(raw, number)
                if problem is not None:
                    return problem
            if not await self._handed_over():
                self.stalled = True
                return None

    async def _handed_over(self) -> bool:
        """Wait until what was sent has been handed to the connection: the queue never
        fills, however fast stdin is. False if the relay took none for ``timeout`` s."""
        if not self._ch.queued:
            return True
        went = self._went_out()
        while True:
            flushed = asyncio.ensure_future(self._ch.flushed())
            if await self._until(flushed, self._options.timeout):
                flushed.exception()  # a close for good: the receipt reports it
                return True
            if self._stopped.done() or self._receipt.outcome.done():
                return True  # interrupted, or closed: reported as such
            if self._went_out() == went:
                return False  # not one message in timeout s
            went = self._went_out()  # slow but moving: wait on

    def _send_line(self, raw: bytes, number: int) -> str | None:
        """Send one line of stdin unless it is blank; what is wrong with it, else ``None``."""
        try:
            line = raw.decode().rstrip("\r")
        except UnicodeDecodeError:
            return f"line {number} of stdin is not UTF-8 text"
        if not line.strip():
            return None
        try:
            payload = parse_message(line, as_text=self._options.text, line=number)
        except InvalidOptionError as exc:
            return str(exc)
        self._ch.send(payload, to=self._options.to)
        self.sent += 1
        return None

    async def _confirm(self) -> bool:
        """Send the probe and wait for it (or a close); False if neither came in time."""
        receipt = self._receipt
        if receipt.outcome.done() or self._stopped.done():
            return receipt.outcome.done()
        receipt.messages = self.sent
        self._ch.send(receipt.probe, to=self._ch.uid)
        return await self._until(receipt.outcome, self._options.timeout)

    def _report(self, confirmed: bool, others: int, bad_input: str | None) -> int:
        """Print the outcome in one line and return the exit status."""
        refusals = self._receipt.refusals[: self.sent]  # not the probe's own refusal
        what = self._what()
        closed = self._receipt.outcome.result() if confirmed else None
        if closed is not None:
            error(f"{closed} after {what} went out" if self.sent else closed)
            return 1
        if refusals:
            hint = _refusal_hint(refusals[0])
            if self._options.stdin:
                error(
                    f"the relay refused {len(refusals)} of {self.sent} messages; "
                    f"the first refusal: {clause(refusals[0])}{hint}"
                )
            else:
                said = f"{clause(refusals[0])}{hint}" if hint else refusals[0]
                error(f"the relay refused the message: {said}")
            return 1
        if bad_input is not None:
            before = f"the {what} before it went out" if self.sent else "nothing was sent"
            error(f"{bad_input} ({before})")
            return 2
        sent = f"sent {what} " if self._options.stdin else "sent "
        if self._options.stdin and not self.sent:
            status("stdin had no messages; nothing was sent")
        elif not confirmed:
            them = "them" if self.sent > 1 else "it"
            status(
                f"{sent}to {self._url}, but the relay did not confirm {them} within "
                f"{self._options.timeout:g} s"
            )
        elif self._options.to:
            status(f"{sent}to {self._options.to} in {self._url}")
        else:
            here = plural(others, "other connection")
            status(f"{sent}to {self._url} ({here} here)")
        return 0

    def _what(self) -> str:
        """``the message``, ``1 message``, ``3 messages``: what went out, for the report."""
        if not self._options.stdin:
            return "the message"
        return plural(self.sent, "message")


def _refusal_hint(refusal: str) -> str:
    """``; pass ...`` for a refusal a flag can fix, else ``""``."""
    if "sendKey" in refusal:
        return f"; pass the channel's send key with --send-key or ${SEND_KEY_ENV}"
    return ""


async def send(options: SendOptions) -> int:
    """Send, and learn whether the relay took it; the exit status.

    0 once the relay took every message (or did not answer within the timeout:
    a status line says so), 1 if refused, unreachable or interrupted, 2 if a
    line of stdin is not valid JSON.

    Raises:
        InvalidOptionError: a bad channel, server or option value.
        SerializationError: the message cannot be encoded as JSON.
    """
    ch = connect(
        options.channel,
        server=options.server,
        alias=options.alias,
        join_key=options.join_key,
        send_key=options.send_key,
        reconnect=False,
    )
    async with contextlib.AsyncExitStack() as stack:
        stop = stack.enter_context(stop_on_signals())
        sender = _Sender(ch, options, stop)
        try:
            return await sender.run()
        finally:
            # A normal close, waited for (at most --timeout); a relay that took no
            # message for that long will not take a close either.
            if sender.stalled:
                ch.dispose()
            else:
                await ch.adispose(options.timeout)


_EPILOG = """\
MESSAGE is sent as JSON if it is valid JSON, else as a string:
  '{"type":"chat","text":"hi"}'  an object      42, true, null   a number, boolean, null
  hello                          the string hello
  '"42"'                         the string 42 (or: --text 42)
Text that starts like JSON ({, [ or ") but does not parse is refused, with the
line and column of the mistake: send it as a string with --text.

MESSAGE - reads stdin: one message per line, each read as MESSAGE is, sent as
it arrives (blank lines are skipped), then says how many went out:
  printf '%s\\n' '{"n":1}' '{"n":2}' | rx-itty send my-room -

The relay acknowledges nothing, so after the messages rx-itty sends itself a
direct message and waits for it: frames are handled in order, so by the time it
comes back any refusal (unknown --to uid, missing --send-key, rate limit) has
arrived.
Exit status: 0 sent, 1 refused or could not connect, 2 bad arguments or input.
"""


def register(commands: Commands) -> None:
    """Add the ``send`` command to the parser."""
    command = commands.add_parser(
        "send",
        help="send a message (or each line of stdin) and exit",
        description="Send a message, or each line of stdin, to a channel or to one uid;\n"
        "wait for the relay's answer, close and exit.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(command)
    command.add_argument(
        "message",
        metavar="MESSAGE",
        type=utf8,
        help="a JSON value, or any other text to send as a string; - reads stdin",
    )
    command.add_argument("--to", type=text, metavar="UID", help="send a direct message to UID")
    add_key_option(command, "--send-key", SEND_KEY_ENV, "send key")
    command.add_argument(
        "--text",
        "--raw-string",
        dest="text",
        action="store_true",
        help="send MESSAGE (or each line) as a string, even if it looks like JSON",
    )
    command.add_argument(
        "--timeout",
        type=positive,
        default=10.0,
        metavar="S",
        help="seconds to connect, and to wait for the relay's answer (default 10)",
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``send`` with the parsed arguments; returns the exit status."""
    if args.message == STDIN:
        options = options_from(SendOptions, args, message=None, stdin=True)
    else:
        message = parse_message(args.message, as_text=args.text)
        options = options_from(SendOptions, args, message=message)
    return asyncio.run(send(options))
