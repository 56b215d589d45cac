"""``rx-itty demo``: a channel coming alive, offline, in about ten seconds.

Everything runs on one asyncio loop in this process:

- an embedded :class:`~rx_itty.relay.Relay` on 127.0.0.1 (a free port);
- **you**, the viewer, whose Rx pipelines (:mod:`rx_itty._demo_view`) print what happens;
- **sensor-1**, publishing ``{"type": "reading", "celsius": ...}`` every 0.4 s from
  ``reactivex.interval`` straight into its socket's sink (seeded: the same seed
  gives the same readings);
- **pingbot**, answering a chat ``ping`` with a direct message ``pong`` to whoever asked;
- **alice** and **bob**, who join, chat, ping and leave, and a lurker who joins
  without ``announce`` (so nobody learns who it is).

The script's timings are in seconds at ``speed=1``; the waits are the script's
pacing, not synchronisation: every participant is open (its own join
processed) before it acts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO, final

import reactivex
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler

from rx_itty.cli.common import error, stop_on_signals
from rx_itty.cli.demo_view import PIPELINES, Tally, View
from rx_itty.cli.format import plural, terminal_safe
from rx_itty.cli.options import Commands, positive, whole
from rx_itty.client import connect
from rx_itty.events import Message
from rx_itty.relay import Relay
from rx_itty.socket import IttySocket

__all__ = [
    "CHANNEL",
    "DEFAULT_SEED",
    "READINGS",
    "main",
    "readings",
    "register",
    "run",
    "summary",
]

CHANNEL = "demo"
DEFAULT_SEED = 7
READINGS = 20
_PERIOD = 0.4  # seconds between readings at speed 1
_SPIKE_AT = 12  # a reading with a deliberate jump, so the alert pipeline has work
_OPEN_TIMEOUT = 10.0
_NEXT = """\
your turn: rx-itty serve                                  (a relay on ws://127.0.0.1:8080/c/)
           rx-itty listen my-room --server ws://127.0.0.1:8080/c/
           rx-itty send my-room '{"type":"chat","text":"hi"}' --server ws://127.0.0.1:8080/c/"""


def readings(seed: int = DEFAULT_SEED, count: int = READINGS) -> list[float]:
    """The sensor's readings for ``seed``: a slow wave, noise, and one spike, in °C."""
    rng = random.Random(seed)
    values = []
    for i in range(count):
        value = 21.0 + 0.6 * math.sin(i / 3) + rng.gauss(0, 0.25)
        if i == _SPIKE_AT:
            value += 3.0
        values.append(round(value, 2))
    return values


@final
class _Console:
    """Prints ``  2.4s  kind     text`` lines, seconds counted from the start."""

    def __init__(self, out: TextIO, stop: asyncio.Event) -> None:
        self._out = out
        self._stop = stop
        self._start = time.monotonic()

    def line(self, text: str) -> None:
        try:
            print(text, file=self._out, flush=True)
        except BrokenPipeError:
            self._stop.set()  # nobody is reading: wind down

    def say(self, kind: str, text: str) -> None:
        # Anyone may send to the demo's channel: what they wrote is shown, never run.
        self.line(terminal_safe(f"{time.monotonic() - self._start:5.1f}s  {kind:<8} {text}"))


def summary(tally: Tally) -> list[str]:
    """The closing lines for what the viewer saw."""
    people = [*tally.announced]
    if tally.unannounced:
        people.append(f"{tally.unannounced} unannounced")
    replies = plural(tally.count("pong"), "direct reply", "direct replies")
    lines = [
        f"{tally.messages} messages seen: {plural(tally.count('reading'), 'reading')}, "
        f"{plural(tally.count('chat'), 'chat')}, {replies}",
        f"{plural(len(tally.announced) + tally.unannounced, 'participant')}: "
        f"{', '.join(people)}; at most {tally.peak} at once",
    ]
    if tally.celsius:
        mean = sum(tally.celsius) / len(tally.celsius)
        lines.append(
            f"temperature: average {mean:.2f} °C over {plural(len(tally.celsius), 'reading')} "
            f"(min {min(tally.celsius):.2f}, max {max(tally.celsius):.2f})"
        )
    return lines


@final
class _Script:
    """The participants and their timeline."""

    def __init__(
        self, url: str, view: View, console: _Console, seed: int, speed: float, stop: asyncio.Event
    ) -> None:
        self._url = url
        self._stop = stop
        self._view = view
        self._say = console.say
        self._seed = seed
        self._speed = speed
        self._start = time.monotonic()
        self._senders: list[str] = []  # uids of the participants that send, to see them go

    async def _at(self, t: float) -> None:
        """Wait until script time ``t``; end the script at once if asked to stop.

        The stop event is checked after every wait, so Ctrl-C between two steps
        ends the script before its next action even if the step's own awaits
        finished just as the cancellation arrived.
        """
        delay = max(self._start + t / self._speed - time.monotonic(), 0)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((stopping,), timeout=delay)
        finally:
            stopping.cancel()
        if self._stop.is_set():
            raise asyncio.CancelledError

    async def _join(self, stack: contextlib.AsyncExitStack, alias: str | None) -> IttySocket:
        ch = connect(
            CHANNEL, server=self._url, alias=alias, announce=alias is not None, reconnect=False
        )
        stack.push_async_exit(ch)
        await ch.opened(_OPEN_TIMEOUT)
        if alias is not None and ch.uid is not None:
            self._senders.append(ch.uid)
        return ch

    def _pingbot(self, bot: IttySocket) -> None:
        # Plain Rx: the chats that say "ping", each answered with a direct message.
        def is_ping(message: Message[Any]) -> bool:
            return message.get("text") == "ping" and message.uid is not None

        def pong(message: Message[Any]) -> None:
            bot.send({"type": "pong", "text": "pong"}, to=message.uid)

        bot.on("chat").pipe(ops.filter(is_ping)).subscribe(pong)

    def _sensor(self, stack: contextlib.AsyncExitStack, sensor: IttySocket) -> asyncio.Future[None]:
        """Publish the readings from an Rx timer into the sensor's sink; done when all are out."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        values = readings(self._seed)

        def reading(i: int) -> dict[str, Any]:
            return {"type": "reading", "celsius": values[i]}

        ticks = reactivex.interval(_PERIOD / self._speed, scheduler=AsyncIOScheduler(loop))
        published: reactivex.Observable[dict[str, Any]] = ticks.pipe(
            ops.take(len(values)), ops.map(reading)
        )
        subscription = published.pipe(
            ops.do_action(on_completed=lambda: done.set_result(None))
        ).subscribe(sensor.sink)
        stack.callback(subscription.dispose)  # stopped early: no sends into a closed socket
        return done

    def _private(self, alice: IttySocket) -> None:
        # Alice sees the bot's answer to her ping; the viewer never does: DMs are private.
        alice.on("pong").subscribe(
            lambda m: self._say("direct", f"{m.alias} -> alice: pong (only alice sees this one)")
        )

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            await self._at(0.2)
            bot = await self._join(stack, "pingbot")
            self._pingbot(bot)
            await self._at(0.4)
            sensor = await self._join(stack, "sensor-1")
            # Readings fall between the script's steps (0.9, 1.3, ... s), so the
            # order of the lines is the same on every run.
            await self._at(0.5)
            sensed = self._sensor(stack, sensor)
            await self._at(1.2)
            alice = await self._join(stack, "alice")
            self._private(alice)
            await self._line(1.6, alice, "hi everyone")
            await self._at(2.4)
            self._view.ping()
            await self._at(3.2)
            bob = await self._join(stack, "bob")
            await self._line(3.6, bob, "what's the temperature?")
            await self._line(4.4, alice, "ping")
            await self._at(5.0)
            lurker = await self._join(stack, None)
            await self._line(6.0, bob, "bye!")
            await self._leave(6.2, bob)
            await self._leave(7.0, lurker)
            await self._line(7.6, alice, "see you")
            await self._leave(7.8, alice)
            await sensed
            await self._leave(8.6, sensor)
            await self._leave(8.8, bot)
            # The relay sends a leave after everything its sender sent: once the
            # viewer saw every sender leave, it has seen every message, so the
            # summary is complete. (The lurker sends nothing; anyone watching
            # with `rx-itty listen` may stay: neither is waited for.)
            try:
                await self._view.until_gone(self._senders, _OPEN_TIMEOUT)
            except TimeoutError:
                self._say("late", "not every participant's leave arrived; the summary may be short")

    async def _line(self, t: float, ch: IttySocket, text: str) -> None:
        await self._at(t)
        ch.send({"type": "chat", "text": text})

    async def _leave(self, t: float, ch: IttySocket) -> None:
        await self._at(t)
        ch.close()


async def _first(*aws: asyncio.Future[Any]) -> None:
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


@contextlib.asynccontextmanager
async def _viewer(url: str, say: Callable[[str, str], None]) -> AsyncIterator[View]:
    you = connect(CHANNEL, server=url, alias="you", announce=True, echo=True, reconnect=False)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_exit(you)
        view = View(you, say)  # subscribed before the open, so the tally sees our own join
        stack.callback(view.close)
        await you.opened(_OPEN_TIMEOUT)
        say("you", f'joined "{CHANNEL}" as you ({you.uid}); watch along in another terminal:')
        yield view


async def main(*, seed: int = DEFAULT_SEED, speed: float = 1.0, out: TextIO | None = None) -> int:
    """Run the demo to its end, or until SIGINT/SIGTERM; the exit status.

    0 when it ran (to its end or until a signal), 1 if its relay cannot start.
    """
    with stop_on_signals() as stop:
        console = _Console(out or sys.stdout, stop)
        console.line(
            "rx-itty demo: an embedded relay, five scripted participants and Rx pipelines "
            f"(about {9 / speed:.0f} s; Ctrl-C stops it)"
        )
        relay = Relay()
        try:
            await relay.start()
        except OSError as exc:  # binding only: nothing later is a start failure
            error(f"cannot start the demo relay: {exc.strerror or exc}")
            return 1
        async with relay:
            console.say("relay", f"listening on {relay.url}")
            async with _viewer(relay.url, console.say) as view:
                console.line(f"         rx-itty listen {CHANNEL} --server {relay.url}")
                console.line(PIPELINES)
                script = _Script(relay.url, view, console, seed, speed, stop)
                running = asyncio.ensure_future(script.run())
                stopped = asyncio.ensure_future(stop.wait())
                await _first(running, stopped)
                stopped.cancel()
                if not running.done():
                    running.cancel()
                    console.say("stopped", "early, on request")
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        for text in summary(view.tally):
            console.say("summary", text)
        console.line(_NEXT)
    return 0


def register(commands: Commands) -> None:
    """Add the ``demo`` command to the parser."""
    command = commands.add_parser(
        "demo",
        help="watch a channel come alive: embedded relay, bots, Rx pipelines (~10 s)",
        description="Start a relay in this process (no internet needed), a few scripted "
        "participants, and Rx pipelines over what they send; prints what happens and a "
        "summary, then exits. Ctrl-C stops it early.",
    )
    command.add_argument(
        "--seed",
        type=whole,
        default=DEFAULT_SEED,
        help=f"seed for the sensor's readings (default {DEFAULT_SEED})",
    )
    command.add_argument(
        "--speed", type=positive, default=1.0, help="play the script faster (2 = twice as fast)"
    )
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo with the parsed arguments; returns the exit status."""
    return asyncio.run(main(seed=args.seed, speed=args.speed))
