"""``rx-itty send``: send one message, learn whether the relay took it, close.

The protocol has no acknowledgements; the relay answers only a refusal, with
an ``error`` event to the sender. To tell "accepted" from "refused" without
guessing at a quiet period, the message is followed by a *probe*: a direct
message to our own uid. The relay handles one connection's frames in order
and writes to one connection in order (PROTOCOL §5.2, §6 O1/O3), so when the
probe comes back, any error about the message has already arrived. Nobody
else sees the probe (direct messages are never echoed or broadcast).

A relay that does not deliver DMs to their sender leaves the probe
unanswered; after ``timeout`` seconds the send counts as done, with a status
line saying delivery is unconfirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from typing import Any, final

from rx_itty._cli_common import close_failure, error, failure, status, stop_on_signals
from rx_itty._cli_format import without_query
from rx_itty.client import connect
from rx_itty.events import Close, Message, ServerError
from rx_itty.exceptions import ConnectionFailed
from rx_itty.socket import IttySocket

__all__ = ["SendOptions", "send"]


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
    status(f"connecting to {without_query(ch.url)}")
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
    url = without_query(ch.url)
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
