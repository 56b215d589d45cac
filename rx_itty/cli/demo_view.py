"""What the demo's viewer ("you") sees: Rx pipelines over one channel, and a tally.

Each pipeline is ``reactivex.operators`` plus :mod:`rx_itty.operators` over the
socket's streams, so it reads as a recipe: readings are routed by type and
decoded into a dataclass, our own echoes are dropped, and the rest is plain Rx.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, final

from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable

from rx_itty import operators as itty_ops
from rx_itty.cli.format import sender
from rx_itty.events import Event, Join, Leave, Message
from rx_itty.socket import IttySocket

__all__ = ["AVERAGE_OF", "JUMP", "PIPELINES", "Tally", "View"]

AVERAGE_OF = 4
"""Readings per average (a tumbling window)."""

JUMP = 1.5
"""A change between consecutive readings at least this big (°C) raises an alert."""

PIPELINES = f"""\
pipelines (Rx operators over ch = connect("demo", ...)):
  celsius  ch.events.pipe(of_type("reading"), decode(Reading), payloads(), map(celsius))
  average  celsius.pipe(buffer_with_count({AVERAGE_OF}), map(statistics.fmean))
  alert    celsius.pipe(pairwise(), filter(lambda p: abs(p[1] - p[0]) >= {JUMP}))
  answer   ch.on("chat").pipe(without_echoes(ch), filter(asks for the temperature),
                             with_latest_from(average))
  tally    ch.events.pipe(scan(Tally.add, Tally()))   (the summary below)"""


@final
@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of what the viewer saw, folded from its events with ``ops.scan``."""

    messages: int = 0
    by_type: tuple[tuple[str, int], ...] = ()
    announced: tuple[str, ...] = ()  # aliases of announced joiners, in join order
    unannounced: int = 0
    peak: int = 0
    celsius: tuple[float, ...] = ()

    def add(self, event: Event) -> Tally:
        """The tally after ``event``."""
        if isinstance(event, Message):
            counts = dict(self.by_type)
            kind = event.type or "(untyped)"
            counts[kind] = counts.get(kind, 0) + 1
            celsius = self.celsius
            if kind == "reading":
                celsius = (*celsius, float(event["celsius"]))
            return replace(
                self, messages=self.messages + 1, by_type=tuple(counts.items()), celsius=celsius
            )
        if isinstance(event, Join):
            peak = max(self.peak, event.total or 0)
            if event.alias is not None:
                return replace(self, announced=(*self.announced, event.alias), peak=peak)
            return replace(self, unannounced=self.unannounced + 1, peak=peak)
        return self

    def count(self, kind: str) -> int:
        """Messages seen whose payload type is ``kind``."""
        return dict(self.by_type).get(kind, 0)


@dataclass(frozen=True)
class Reading:
    """A sensor's payload, decoded (and type-checked) by ``itty_ops.decode``."""

    celsius: float


def _celsius(reading: Reading) -> float:
    return reading.celsius


def _full(batch: list[float]) -> bool:
    return len(batch) == AVERAGE_OF  # not the shorter rest when the stream completes


def _jumped(pair: tuple[float, float]) -> bool:
    return abs(pair[1] - pair[0]) >= JUMP


def _someone_else(join: Join) -> bool:
    return not join.is_self


@final
class View:
    """Subscribes the viewer's pipelines; :meth:`close` unsubscribes them all.

    Args:
        ch: The viewer's socket.
        say: Prints one line: ``say(kind, text)``.
    """

    def __init__(self, ch: IttySocket, say: Callable[[str, str], None]) -> None:
        self._ch = ch
        self._say = say
        self.tally = Tally()
        self._ping_sent: float | None = None
        self._gone: set[str] = set()  # uids whose leave the viewer has seen
        self._subscriptions = CompositeDisposable()
        self._subscribe()

    def _subscribe(self) -> None:
        ch, add = self._ch, self._subscriptions.add
        celsius = ch.events.pipe(
            itty_ops.of_type("reading"),
            itty_ops.decode(Reading),
            itty_ops.payloads(),
            ops.map(_celsius),
        )
        average = celsius.pipe(
            ops.buffer_with_count(AVERAGE_OF), ops.filter(_full), ops.map(statistics.fmean)
        )
        alerts = celsius.pipe(ops.pairwise(), ops.filter(_jumped))
        questions = ch.on("chat").pipe(
            itty_ops.without_echoes(ch), ops.filter(self._asks_temperature)
        )
        add(ch.on("reading").subscribe(self._on_reading))
        add(average.subscribe(self._on_average))
        add(alerts.subscribe(self._on_alert))
        add(ch.on("chat").subscribe(self._on_chat))
        add(questions.pipe(ops.with_latest_from(average)).subscribe(self._answer))
        add(ch.on("pong").subscribe(self._on_pong))
        add(ch.joins.pipe(ops.filter(_someone_else)).subscribe(self._on_join))
        add(ch.leaves.subscribe(self._on_leave))
        add(ch.events.pipe(ops.scan(Tally.add, Tally())).subscribe(self._keep))

    def _keep(self, tally: Tally) -> None:
        self.tally = tally

    def ping(self) -> None:
        """Ask the room for a ping; the bot answers us alone, with a direct message."""
        self._ping_sent = time.monotonic()
        self._ch.send({"type": "chat", "text": "ping"})

    def _asks_temperature(self, message: Message[Any]) -> bool:
        return "temperature" in str(message.get("text", ""))

    def _answer(self, question_and_average: tuple[Message[Any], float]) -> None:
        question, average = question_and_average
        who = question.alias or "you"
        self._ch.send({"type": "chat", "text": f"@{who} {average:.1f} °C on average lately"})

    def _on_reading(self, message: Message[Any]) -> None:
        self._say("reading", f"{message.alias}: {message['celsius']} °C")

    def _on_average(self, average: float) -> None:
        self._say("average", f"last {AVERAGE_OF} readings: {average:.2f} °C")

    def _on_alert(self, pair: tuple[float, float]) -> None:
        before, after = pair
        self._say("alert", f"jump of {after - before:+.2f} °C ({before} -> {after} °C)")

    def _on_chat(self, message: Message[Any]) -> None:
        self._say("chat", f"{message.alias}: {message['text']}")

    def _on_pong(self, message: Message[Any]) -> None:
        after = ""
        if self._ping_sent is not None:
            after = f" ({(time.monotonic() - self._ping_sent) * 1000:.0f} ms after our ping)"
        self._say("direct", f"{message.alias} -> you: {message['text']}{after}")

    def _on_join(self, join: Join) -> None:
        who = sender(join.uid, join.alias) if join.uid else "someone unannounced"
        self._say("join", f"{who} joined; {join.total} here")

    def _on_leave(self, leave: Leave) -> None:
        if leave.uid:
            self._gone.add(leave.uid)
        who = sender(leave.uid, leave.alias) if leave.uid else "someone unannounced"
        self._say("leave", f"{who} left; {leave.total} here")

    async def until_gone(self, uids: Iterable[str], within: float) -> None:
        """Wait until each of ``uids`` has left the channel (as seen by the viewer).

        The relay sends a leave after everything its sender sent, so once the
        leaves are here every message from those senders is too. Others (someone
        watching with ``rx-itty listen``) may come and go meanwhile: they do not
        matter.

        Raises:
            TimeoutError: some of them are still here after ``within`` seconds.
        """
        waiting = set(uids) - self._gone
        if not waiting:
            return
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def check(leave: Leave) -> None:
            waiting.discard(leave.uid or "")
            if not waiting and not gone.done():
                gone.set_result(None)

        subscription = self._ch.leaves.subscribe(check)
        try:
            await asyncio.wait_for(gone, within)
        finally:
            subscription.dispose()

    def close(self) -> None:
        """Unsubscribe every pipeline (the tally keeps its last value)."""
        self._subscriptions.dispose()
