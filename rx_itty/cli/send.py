"""``rx-itty send``: send one message, learn whether the relay took it, close.

The protocol has no acknowledgements; the relay answers only a refusal, with
an ``error`` event to the sender. To tell "accepted" from "refused" without
guessing at a quiet period, the message is followed by a *probe*: a direct
message to our own uid. The relay handles one connection's frames in order
and writes to one connection in order, so when the
probe comes back, any error about the message has already arrived. Nobody
else sees the probe (direct messages are never echoed or broadcast).

A relay that does not deliver DMs to their sender leaves the probe
unanswered; after ``timeout`` seconds the send counts as done, with a status
line saying delivery is unconfirmed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any, final

from rx_itty.cli.common import close_failure, error, failure, status, stop_on_signals
from rx_itty.cli.format import parse_message
from rx_itty.cli.options import Commands, add_client_options, options_from, positive, text
from rx_itty.client import connect
from rx_itty.events import Close, Message, ServerError
from rx_itty.exceptions import ConnectionFailed
from rx_itty.socket import IttySocket

__all__ = ["SendOptions", "register", "run", "send"]


@final
@dataclass(frozen=True, slots=True)
class SendOptions:
    """What ``rx-itty send`` was asked to do (see ``rx-itty send --help``)."""

    channel: str
    message: Any
    to: str | None = None
    server: str | None = None
    alias: str | None = None
    join_key: str | None = None
    send_key: str | None = None
    timeout: float = 10.0


@final
class _Receipt:
    """Settles on the first of: our probe back (``None``), a relay error, a close."""

    def __init__(self, ch: IttySocket) -> None:
        self._ch = ch
        self.probe = {"rx-itty": "probe", "id": secrets.token_hex(8)}
        self.outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.armed = False  # before the open, failures are opened()'s to report
        self.last_close: Close | None = None
        ch.errors.subscribe(self._on_error)
        ch.messages.subscribe(self._on_message)
        ch.closes.subscribe(self._on_close)

    def _settle(self, value: str | None) -> None:
        if not self.outcome.done():
            self.outcome.set_result(value)

    def _on_error(self, event: ServerError) -> None:
        self._settle(f"the relay refused the message: {event.message}")

    def _on_message(self, event: Message[Any]) -> None:
        if event.uid is not None and event.uid == self._ch.uid and event.message == self.probe:
            self._settle(None)

    def _on_close(self, close: Close) -> None:
        self.last_close = close
        if self.armed:
            self._settle(close_failure(close, self._ch.url))


async def _unless_stopped(
    work: asyncio.Future[Any], stop: asyncio.Event, within: float | None = None
) -> bool:
    """Wait for ``work`` (up to ``within`` s); False if a signal came first (work cancelled)."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((work, stopped), timeout=within, return_when="FIRST_COMPLETED")
    finally:
        stopped.cancel()
    if stop.is_set() and not work.done():
        work.cancel()
        error("interrupted before the relay confirmed the message")
        return False
    return True


async def _open(
    ch: IttySocket, receipt: _Receipt, options: SendOptions, stop: asyncio.Event
) -> bool:
    status(f"connecting to {ch.display_url}")
    opening = asyncio.ensure_future(ch.opened(options.timeout))
    if not await _unless_stopped(opening, stop):  # opened() has the timeout
        return False
    try:
        opening.result()
    except ConnectionFailed as exc:
        last = receipt.last_close
        error(failure(exc, ch.url) if last is None else close_failure(last, ch.url))
        return False
    receipt.armed = True
    return True


async def _deliver(ch: IttySocket, options: SendOptions, stop: asyncio.Event) -> int:
    url = ch.display_url
    receipt = _Receipt(ch)
    if not await _open(ch, receipt, options, stop):
        return 1
    others = max(ch.current_presence.total - 1, 0)
    ch.send(options.message, to=options.to)
    ch.send(receipt.probe, to=ch.uid)
    if not await _unless_stopped(receipt.outcome, stop, options.timeout):
        return 1
    if not receipt.outcome.done():
        status(f"sent to {url}, but the relay did not confirm it within {options.timeout:g} s")
        return 0
    problem = receipt.outcome.result()
    if problem is not None:
        error(problem)
        return 1
    if options.to:
        status(f"sent to {options.to} in {url}")
    else:
        here = "1 other connection" if others == 1 else f"{others} other connections"
        status(f"sent to {url} ({here} here)")
    return 0


async def send(options: SendOptions) -> int:
    """Send one message; 0 once the relay took it, 1 if refused or unreachable.

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
        # Leaving the stack disposes the socket: a normal close, waited for.
        stack.push_async_exit(ch)
        stop = stack.enter_context(stop_on_signals())
        return await _deliver(ch, options, stop)


_EPILOG = """\
MESSAGE is sent as JSON if it is valid JSON, else as a string:
  '{"type":"chat","text":"hi"}'  an object      42, true, null   a number, boolean, null
  hello                          the string hello
  '"42"'                         the string 42 (or: --raw-string 42)

The relay acknowledges nothing, so after MESSAGE rx-itty sends itself a direct
message and waits for it: frames are handled in order, so by the time it comes
back any refusal (unknown --to uid, missing --send-key, rate limit) has arrived.
Exit status: 0 sent, 1 refused or could not connect, 2 bad arguments.
"""


def register(commands: Commands) -> None:
    """Add the ``send`` command to the parser."""
    command = commands.add_parser(
        "send",
        help="send one message and exit",
        description="Send one message to a channel or to one uid, wait for the relay's\n"
        "answer, close and exit.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(command)
    command.add_argument(
        "message", metavar="MESSAGE", help="a JSON value, or any other text to send as a string"
    )
    command.add_argument("--to", type=text, metavar="UID", help="send a direct message to UID")
    command.add_argument("--send-key", type=text, metavar="KEY", help="the channel's send key")
    command.add_argument(
        "--raw-string", action="store_true", help="send MESSAGE as a string even if it is JSON"
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
    message = parse_message(args.message, raw_string=args.raw_string)
    return asyncio.run(send(options_from(SendOptions, args, message=message)))
