"""Benchmark the rx_itty client against raw receive loops and the itty-sockets client.

Usage::

    .venv/bin/python bench/client_bench.py            # default run, about 1 minute
    .venv/bin/python bench/client_bench.py --quick    # smoke run, a few seconds
    .venv/bin/python bench/client_bench.py --reps 9   # more repetitions on a noisy machine

Three measurements, each printed as a ratio ours/baseline with PASS/MISS, and
where the Node anchor ``itty`` (the official itty-sockets client, run by Node
with the ``ws`` package's WebSocket; ``bench/node/``) was measured too, as a
ratio ours/itty. Our client is measured twice in the same run: ``ours`` is the
default install (the websockets transport on asyncio's own loop), ``fast`` is
what ``pip install 'rx_itty[fast]'`` gives (the picows transport on uvloop),
compared with itty against targets of its own (left out, with a note, when
picows or uvloop is missing). The transport is passed to ``connect()`` and the
loop is chosen by this script, so ``$RX_ITTY_TRANSPORT`` and ``$RX_ITTY_LOOP``
change nothing here.

``throughput`` -- receiver-limited messages/s through a real relay. The relay
runs in its own subprocess (this script re-run with ``--role relay``), and so
does each receiver (``--role receiver``, or ``bench/node/receiver.mjs``):
``baseline`` is a raw ``websockets`` + stdlib ``json`` receive loop, ``orjson``
the same loop with orjson, ``ours`` and ``fast`` are
``connect(...).on("chat").pipe(ops.map(...))`` and ``itty`` is
``connect(url).on('chat', (m) => sink(m.n))`` in Node. All of them sit in one
channel with a *canary* and a *sender* (raw clients in this process). Each
round, the receivers' event loops are blocked (on a read of their stdin), the
sender writes a burst of pre-encoded ``{"type":"chat","n":i}`` frames in one
go, and the relay fans it out; once the canary has the whole
burst, the relay has written it to every receiver, where it waits in socket
buffers. Then the receivers are released one at a time (in rotating order) and
each times its own drain of the backlog, from the first value its pipeline
yields to the last. The sender and relay are therefore never the limit: the
rate is the receiver's alone, which the ``busy`` column (receiver CPU time /
wall time during the drain) confirms. Targets against itty: ours >= 0.8,
fast >= 1.5. The baselines run on asyncio's own loop, like ours.

``dispatch`` -- per-event cost of the socket's own dispatch, no I/O. Pre-encoded
frames are fed through an in-memory transport (``listener.on_frame(text)``)
into a socket with one subscriber on ``on("chat").pipe(ops.map(...))``; the
baseline is a bare ``reactivex.Subject`` -> ``ops.filter(chat message)`` ->
``ops.map(...)`` fed ``decode_frame(text)``. ``decode_frame`` alone is shown
for context. Blocks of frames alternate between the variants. (No anchor: the
itty client has no transport seam to feed.)

``memory`` -- process RSS growth per idle client connection, 1,000 connections
in one process, read after a full garbage collection: ``baseline`` holds raw
``websockets`` connections with a receive loop each, ``ours`` and ``fast``
rx_itty sockets with one ``on("chat")`` subscriber each, ``itty`` itty-sockets
clients with one ``.on('chat', fn)`` each (``bench/node/idle_clients.mjs``). Each connection is
alone in its channel, so it receives only its own join. Targets against itty:
<= 1.2 for ours and for fast. ``client_memory.py`` says where those bytes go.

The machine is shared and noisy, so both measurements interleave their
variants in small rounds/blocks and report the median of per-repetition ratios
with their range. Linux, 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import pstats
import resource
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, get_args

import orjson
from _proc import (
    CONNECT_CONCURRENCY,
    FAST,
    SETUP_TIMEOUT,
    START_TIMEOUT,
    BenchError,
    Child,
    guarded,
    loop_factory,
    node_argv,
    node_versions,
    port_of,
    raise_nofile,
    round_order,
    rss_bytes,
    run_async,
    running_child,
    serve_our_relay,
)
from _rawws import RawClient, text_frames, until
from _report import Row, Target, header, report
from _tracemem import TRACE_SLOWDOWN, Tracer
from reactivex import operators as ops
from reactivex.scheduler import HistoricalScheduler
from reactivex.subject import Subject

from rx_itty import Message, connect
from rx_itty.events import Close
from rx_itty.runtime import Runtime
from rx_itty.transport import TransportListener
from rx_itty.wire import decode_frame

SCRIPT: Final = Path(__file__).resolve()
T = TypeVar("T")

# "ours" is the default install: websockets on asyncio's loop; "fast" the fast extra's
# picows on uvloop (left out, with a note, when picows or uvloop is missing); "itty"
# the Node anchor, the official itty-sockets client (bench/node/).
OurKind = Literal["ours", "fast"]
OUR_TRANSPORTS: Final[dict[str, str]] = {"ours": "websockets", "fast": "picows"}
PythonReceiver = Literal["baseline", "orjson", "ours", "fast"]
ReceiverKind = PythonReceiver | Literal["itty"]
RECEIVERS: Final[tuple[ReceiverKind, ...]] = (
    ("baseline", "orjson", "ours", "fast", "itty")
    if FAST
    else ("baseline", "orjson", "ours", "itty")
)
# The kinds of a row compared with both the baseline and the anchor.
AnchoredKind = Literal["baseline", "ours", "fast", "itty"]
DispatchKind = Literal["baseline", "ours", "decode"]
DISPATCHERS: Final[tuple[DispatchKind, ...]] = get_args(DispatchKind)
PythonIdle = Literal["baseline", "ours", "fast"]
IdleKind = PythonIdle | Literal["itty"]
IDLERS: Final[tuple[IdleKind, ...]] = (
    ("baseline", "ours", "fast", "itty") if FAST else ("baseline", "ours", "itty")
)
SCENARIOS: Final = ("throughput", "dispatch", "memory")

THROUGHPUT_TARGET: Final = 0.5
THROUGHPUT_STRETCH: Final = 0.65
DISPATCH_TARGET: Final = 1.25
# Targets for ours/itty, the Node itty-sockets client ...
ITTY_THROUGHPUT_TARGET: Final = 0.8
ITTY_MEMORY_TARGET: Final = 1.2
# ... and for fast/itty, the fast extra (picows, uvloop).
FAST_THROUGHPUT_TARGET: Final = 1.5
FAST_MEMORY_TARGET: Final = 1.2
# Idle connections opened, untimed, before the first memory reading.
WARM_CONNECTIONS: Final = 10

MAX_FRAME: Final = 16 * 1024 * 1024
# A blocked receiver holds a whole round in the relay (about 80 bytes a message;
# the relay's slow-reader limits are lifted for it): keep a round of bounded size.
MAX_ROUND: Final = 100_000
DISPATCH_BLOCK: Final = 10_000
ENVELOPE_UID: Final = "k3x9qa"  # relay uids are 6 characters
FIRST_DATE: Final = 1_700_000_000_000


def _timeout_for(messages: int) -> float:
    """A generous bound for handling ``messages`` (at least 2,000 msg/s)."""
    return 20.0 + messages / 2_000


def chat_payload(n: int) -> dict[str, Any]:
    return {"type": "chat", "n": n}


def n_of(message: Message[Any]) -> Any:
    """The pipelines' map step: ``m["n"]``."""
    return message["n"]


def is_chat(event: Any) -> bool:
    """The Subject baseline's filter: a user message whose payload type is ``chat``."""
    return type(event) is Message and event.type == "chat"


# --------------------------------------------------------------------------
# Role: receiver subprocess
# --------------------------------------------------------------------------


def _waits() -> int:
    """Voluntary context switches so far: each is a time the process blocked (e.g. no data)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


class Counter:
    """The sink every receiver feeds: counts values, times the first and the target-th."""

    __slots__ = (
        "count",
        "done",
        "end",
        "end_cpu",
        "end_waits",
        "first",
        "first_cpu",
        "first_waits",
        "last",
        "target",
    )

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.first = self.first_cpu = self.end = self.end_cpu = 0.0
        self.first_waits = self.end_waits = 0
        self.last: Any = None
        self.done: asyncio.Future[None] | None = None

    def arm(self, target: int) -> asyncio.Future[None]:
        self.count = 0
        self.target = target
        self.last = None
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def on_value(self, value: Any) -> None:
        count = self.count + 1
        self.count = count
        if count == 1:
            self.first = time.perf_counter()
            self.first_cpu = time.process_time()
            self.first_waits = _waits()
        if count == self.target:
            self.end = time.perf_counter()
            self.end_cpu = time.process_time()
            self.end_waits = _waits()
            self.last = value
            done = self.done
            if done is not None and not done.done():
                done.set_result(None)


def _emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def _raw_receive_loop(
    ws: Any, loads: Callable[[str], Any], sink: Callable[[Any], None]
) -> None:
    """The baseline: receive, decode, keep chat messages, map each to its ``n``."""
    recv = ws.recv
    while True:
        envelope = loads(await recv())
        if type(envelope) is dict and not envelope.get("type"):
            payload = envelope.get("message")
            if type(payload) is dict and payload.get("type") == "chat":
                sink(payload["n"])


async def run_receiver(kind: PythonReceiver, url: str, channel: str, profile: str | None) -> None:
    """Join ``channel``; then, per ``go N`` line on stdin, drain N chat messages and report.

    Between rounds the event loop is blocked on a read of stdin, so frames pile
    up in the socket buffers and every variant drains the same kind of backlog.
    """
    counter = Counter()
    cleanup: list[Callable[[], Any]] = []
    transport = "raw websockets"
    if kind in OUR_TRANSPORTS:
        socket = connect(channel, server=url, reconnect=False, transport=OUR_TRANSPORTS[kind])
        transport = type(socket._transport).__name__
        cleanup.append(socket.dispose)
        pipeline = socket.on("chat").pipe(ops.map(n_of))
        cleanup.append(pipeline.subscribe(counter.on_value).dispose)
        await socket.opened(SETUP_TIMEOUT)
    else:
        from websockets.asyncio.client import connect as ws_connect

        ws = await ws_connect(
            f"{url}{channel}?", compression=None, max_size=MAX_FRAME, open_timeout=SETUP_TIMEOUT
        )
        cleanup.append(ws.transport.abort)
        await asyncio.wait_for(ws.recv(), SETUP_TIMEOUT)  # our own join
        loads: Callable[[str], Any] = json.loads if kind == "baseline" else orjson.loads
        task = asyncio.get_running_loop().create_task(
            _raw_receive_loop(ws, loads, counter.on_value)
        )
        cleanup.append(task.cancel)

    profiler = cProfile.Profile() if profile else None
    loop = type(asyncio.get_running_loop())
    _emit({"ready": True, "runs_on": f"{loop.__module__}.{loop.__qualname__}, {transport}"})
    try:
        while True:
            # Blocks the event loop on purpose (see the docstring).
            line = sys.stdin.readline()
            words = line.split()
            if not words or words[0] != "go":
                break
            target = int(words[1])
            done = counter.arm(target)
            if profiler:
                profiler.enable()
            try:
                await asyncio.wait_for(done, _timeout_for(target))
            except TimeoutError:
                _emit({"error": f"{kind}: only {counter.count} of {target} messages arrived"})
                continue
            finally:
                if profiler:
                    profiler.disable()
            _emit(
                {
                    "count": counter.count,
                    "last": counter.last,
                    "seconds": counter.end - counter.first,
                    "cpu": counter.end_cpu - counter.first_cpu,
                    "waits": counter.end_waits - counter.first_waits,
                }
            )
    finally:
        for step in reversed(cleanup):
            step()
        if profiler and profile:
            profiler.dump_stats(profile)


def _script(*args: str) -> list[str]:
    """The argv that runs this script again with ``args``."""
    return [sys.executable, str(SCRIPT), *args]


def _receiver_argv(
    kind: ReceiverKind, url: str, channel: str, profile_dir: Path | None
) -> list[str]:
    """The argv of a receiver subprocess: this script again, or the Node itty receiver."""
    if kind == "itty":
        return node_argv("receiver.mjs", url, channel)
    argv = _script("--role", "receiver", "--kind", kind, "--url", url, "--channel", channel)
    if profile_dir is not None:
        argv += ["--profile-out", str(profile_dir / f"receiver-{kind}.prof")]
    return argv


# --------------------------------------------------------------------------
# Scenario 1: receiver-limited throughput through the relay
# --------------------------------------------------------------------------


@dataclass
class Drain:
    """One receiver's share of a repetition: ``messages`` drained in ``seconds``."""

    messages: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    waits: int = 0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.messages * 1e6 if self.messages else 0.0

    @property
    def busy(self) -> float:
        return self.cpu / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ThroughputRep:
    drains: dict[ReceiverKind, Drain] = field(
        default_factory=lambda: {kind: Drain() for kind in RECEIVERS}
    )
    feed_messages: int = 0
    feed_seconds: float = 0.0

    @property
    def feed_rate(self) -> float:
        return self.feed_messages / self.feed_seconds if self.feed_seconds > 0 else 0.0


@dataclass
class Room:
    """The relay, the receivers, the sender and the canary, all in one channel."""

    receivers: dict[ReceiverKind, Child]
    sender: RawClient
    canary: RawClient
    next_n: int = 0

    async def round(
        self, count: int, order: Sequence[ReceiverKind], rep: ThroughputRep | None
    ) -> None:
        """Feed ``count`` messages to the blocked receivers, then let each drain them."""
        first = self.next_n
        self.next_n += count
        blob = text_frames("chat", first, first + count)
        canary = self.canary
        canary.arm(count, batch=False)
        self.sender.arm(0, batch=False)  # it must hear nothing: the relay does not echo by default
        started = time.perf_counter()
        self.sender.send_raw(blob)
        try:
            await asyncio.wait_for(canary.done.wait(), _timeout_for(count))
        except TimeoutError:
            raise BenchError(f"relay delivered only {canary.count} of {count} frames") from None
        fed = time.perf_counter() - started
        if canary.count != count:
            raise BenchError(f"canary got {canary.count} of {count} frames: {canary.error}")
        envelope = orjson.loads(canary.last)
        if envelope.get("uid") != self.sender.uid or envelope.get("message") != chat_payload(
            first + count - 1
        ):
            raise BenchError(f"unexpected last frame {canary.last[:200]!r}")
        if self.sender.count:
            raise BenchError(f"the relay echoed to the sender: {self.sender.last[:200]!r}")

        for kind in order:
            child = self.receivers[kind]
            child.send_line(f"go {count}")
            record = await child.read_record(_timeout_for(count) + 5)
            if record.get("count") != count or record.get("last") != first + count - 1:
                raise BenchError(f"{kind}: wrong drain {record}")
            if rep is not None:
                drain = rep.drains[kind]
                drain.messages += count - 1  # timed from the first value to the last
                drain.seconds += float(record["seconds"])
                drain.cpu += float(record["cpu"])
                drain.waits += int(record["waits"])
        if rep is not None:
            rep.feed_messages += count
            rep.feed_seconds += fed


# What each of our receivers must report it runs on: its loop, then its transport.
RUNS_ON: Final[dict[str, tuple[str, str]]] = {
    "ours": ("asyncio.", "WebsocketsTransport"),
    "fast": ("uvloop.", "PicowsTransport"),
}


async def measure_throughput(settings: Settings) -> list[ThroughputRep]:
    channel = f"bench-{secrets.token_hex(4)}"
    reps: list[ThroughputRep] = []
    async with contextlib.AsyncExitStack() as stack:
        relay = await stack.enter_async_context(our_relay())
        url = await relay.read_url()
        port = port_of(url)

        children: dict[ReceiverKind, Child] = {}
        for kind in RECEIVERS:
            argv = _receiver_argv(kind, url, channel, settings.profile_dir)
            children[kind] = await stack.enter_async_context(running_child(kind, argv))
        for kind, child in children.items():
            ready = await child.read_record(START_TIMEOUT)  # {"ready": true, ...}
            if kind in RUNS_ON:
                runs_on = str(ready.get("runs_on"))
                loop, transport = RUNS_ON[kind]
                if not (runs_on.startswith(loop) and runs_on.endswith(transport)):
                    raise BenchError(f"{kind} receives on {runs_on}, not {loop}* with {transport}")
                print(f"  {kind} receives on {runs_on}", flush=True)

        canary = await RawClient.connect(port, f"/c/{channel}")
        stack.callback(canary.abort)
        sender = await RawClient.connect(port, f"/c/{channel}")
        stack.callback(sender.abort)
        members = len(RECEIVERS) + 2
        await until(lambda: canary.total == members, SETUP_TIMEOUT, "every member's join")

        room = Room(children, sender, canary)
        # Warm-up, one untimed round: first-use costs (imports, caches, buffer growth,
        # a JIT compiling the hot path) stay out of the figures.
        await room.round(settings.messages, RECEIVERS, None)
        index = 0
        for rep_index in range(settings.reps):
            rep = ThroughputRep()
            for _ in range(settings.rounds):
                await room.round(settings.messages, round_order(RECEIVERS, index), rep)
                index += 1
            reps.append(rep)
            rates = "  ".join(
                f"{k} {d.rate:8,.0f}/s ({d.busy:4.0%} busy)" for k, d in rep.drains.items()
            )
            print(
                f"  throughput rep {rep_index + 1}/{settings.reps}: {rates}"
                f"  (relay feed {rep.feed_rate:,.0f}/s)",
                flush=True,
            )
    return reps


# --------------------------------------------------------------------------
# Scenario 2: per-event dispatch cost, in memory
# --------------------------------------------------------------------------


class MemoryTransport:
    """A transport and its single link: keeps the listener so the bench can feed frames."""

    def __init__(self) -> None:
        self.listener: TransportListener | None = None
        self.sent: list[str] = []

    def open(self, url: str, listener: TransportListener, runtime: Runtime) -> MemoryTransport:
        # The socket stores the link returned here before it may hear on_open,
        # so the bench calls listener.on_open() itself, after open() returns.
        self.listener = listener
        return self

    def send(self, frame: str) -> bool:
        self.sent.append(frame)
        return True

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.listener is not None:
            listener, self.listener = self.listener, None
            listener.on_close(Close(code, reason))


class Tally:
    """A cheap sink: counts values and keeps the last one."""

    __slots__ = ("count", "last")

    def __init__(self) -> None:
        self.count = 0
        self.last: Any = None

    def on_value(self, value: Any) -> None:
        self.count += 1
        self.last = value


def envelope_frames(count: int) -> list[str]:
    """What a relay would send: ``{"date","uid","message":{"type":"chat","n":i}}`` text."""
    return [
        orjson.dumps(
            {"date": FIRST_DATE + i, "uid": ENVELOPE_UID, "message": chat_payload(i)}
        ).decode()
        for i in range(count)
    ]


Feeder = Callable[[Sequence[str]], None]


@dataclass
class DispatchSetup:
    feeders: dict[DispatchKind, Feeder]
    tallies: dict[DispatchKind, Tally]
    close: Callable[[], None]


def setup_dispatch() -> DispatchSetup:
    # A virtual-time scheduler: the socket's one-second greeting timer is only
    # queued (ImmediateScheduler refuses relative timers, CurrentThreadScheduler sleeps).
    transport = MemoryTransport()
    socket = connect("room", transport=transport, scheduler=HistoricalScheduler(), reconnect=False)
    ours = Tally()
    subscription = socket.on("chat").pipe(ops.map(n_of)).subscribe(ours.on_value)
    listener = transport.listener
    if listener is None:
        raise BenchError("subscribing did not open the in-memory transport")
    listener.on_open()
    own_join = {"type": "join", "self": True, "uid": "me", "total": 2, "date": FIRST_DATE}
    listener.on_frame(orjson.dumps(own_join).decode())
    if socket.uid != "me":
        raise BenchError(f"the socket did not take its own join: {socket!r}")
    on_frame = listener.on_frame  # after the first frame: the socket's dispatch itself

    def feed_ours(frames: Sequence[str]) -> None:
        for text in frames:
            on_frame(text)

    baseline = Tally()
    subject: Subject[Any] = Subject()
    subject.pipe(
        ops.filter(is_chat),
        ops.map(n_of),
    ).subscribe(baseline.on_value)
    on_next = subject.on_next

    def feed_baseline(frames: Sequence[str]) -> None:
        for text in frames:
            on_next(decode_frame(text))

    decoded = Tally()

    def feed_decode(frames: Sequence[str]) -> None:
        for text in frames:
            decode_frame(text)
        decoded.count += len(frames)

    def close() -> None:
        subscription.dispose()
        socket.dispose()
        subject.dispose()

    return DispatchSetup(
        {"baseline": feed_baseline, "ours": feed_ours, "decode": feed_decode},
        {"baseline": baseline, "ours": ours, "decode": decoded},
        close,
    )


def measure_dispatch(settings: Settings) -> list[dict[DispatchKind, float]]:
    """µs per event for each variant, one dict per repetition."""
    frames = envelope_frames(settings.events)
    blocks = [frames[i : i + DISPATCH_BLOCK] for i in range(0, len(frames), DISPATCH_BLOCK)]
    setup = setup_dispatch()
    reps: list[dict[DispatchKind, float]] = []
    try:
        setup.feeders["ours"](blocks[0])  # warm-up
        setup.feeders["baseline"](blocks[0])
        for rep_index in range(settings.reps):
            for tally in setup.tallies.values():
                tally.count = 0
            seconds: dict[DispatchKind, float] = dict.fromkeys(DISPATCHERS, 0.0)
            gc.collect()
            for index, block in enumerate(blocks):
                shift = (index + rep_index) % len(DISPATCHERS)
                order = DISPATCHERS[shift:] + DISPATCHERS[:shift]
                for kind in order if index % 2 == 0 else order[::-1]:
                    feed = setup.feeders[kind]
                    started = time.perf_counter()
                    feed(block)
                    seconds[kind] += time.perf_counter() - started
            for kind, tally in setup.tallies.items():
                if tally.count != settings.events:
                    raise BenchError(f"dispatch {kind}: {tally.count} of {settings.events} events")
                if kind != "decode" and tally.last != settings.events - 1:
                    raise BenchError(f"dispatch {kind}: last value {tally.last!r}")
            us = {kind: seconds[kind] / settings.events * 1e6 for kind in DISPATCHERS}
            reps.append(us)
            print(
                f"  dispatch rep {rep_index + 1}/{settings.reps}: "
                + "  ".join(f"{kind} {value:5.2f} us" for kind, value in us.items()),
                flush=True,
            )
        if settings.profile_dir is not None:
            profile_dispatch(setup, frames, settings.profile_dir)
    finally:
        setup.close()
    return reps


def profile_dispatch(setup: DispatchSetup, frames: Sequence[str], directory: Path) -> None:
    kinds: tuple[DispatchKind, ...] = ("ours", "baseline")
    for kind in kinds:
        profiler = cProfile.Profile()
        feed = setup.feeders[kind]
        profiler.runcall(feed, frames)
        profiler.dump_stats(directory / f"dispatch-{kind}.prof")


# --------------------------------------------------------------------------
# Scenario 3: memory per idle connection
# --------------------------------------------------------------------------


def _ignore(value: Any) -> None:
    """The idle clients' listener: a program waiting for messages would have one."""


async def _open_idle(kind: PythonIdle, url: str, channel: str) -> Callable[[], Any]:
    """One idle client in ``channel``, joined and listening; returns how to close it."""
    if kind in OUR_TRANSPORTS:
        socket = connect(channel, server=url, transport=OUR_TRANSPORTS[kind])
        subscription = socket.on("chat").subscribe(_ignore)
        await socket.opened(SETUP_TIMEOUT)

        def close() -> None:
            subscription.dispose()
            socket.dispose()

        return close
    from websockets.asyncio.client import connect as ws_connect

    ws = await ws_connect(
        f"{url}{channel}?", compression=None, max_size=MAX_FRAME, open_timeout=SETUP_TIMEOUT
    )
    await asyncio.wait_for(ws.recv(), SETUP_TIMEOUT)  # our own join
    task = asyncio.get_running_loop().create_task(_raw_receive_loop(ws, json.loads, _ignore))

    def abort() -> None:
        task.cancel()
        ws.transport.abort()

    return abort


async def run_idle(kind: PythonIdle, url: str, prefix: str, traced: bool = False) -> None:
    """Per ``open N`` line on stdin, open N more idle clients and answer ``{"open": total}``.

    Each client gets a channel of its own (``<prefix>-<i>``), so it receives
    nothing but its own join. A full garbage collection precedes each answer,
    so the bench reads RSS without garbage. EOF on stdin ends it. ``traced``:
    under ``tracemalloc``, also answering ``snap`` and ``report`` (see ``_tracemem``).
    """
    tracer = Tracer() if traced else None
    slowdown = TRACE_SLOWDOWN if traced else 1
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    closers: list[Callable[[], Any]] = []

    async def open_one(index: int) -> None:
        async with gate:
            closers.append(await _open_idle(kind, url, f"{prefix}-{index}"))

    _emit({"ready": True})
    try:
        while words := (await reader.readline()).split():
            answer = tracer.answer(words[0].decode()) if tracer is not None else None
            if answer is not None:
                sys.stdout.write(answer + "\n")
                sys.stdout.flush()
                continue
            if words[0] != b"open":
                _emit({"error": f"{kind}: unknown command {words!r}"})
                return
            first, count = len(closers), int(words[1])
            try:
                limit = _timeout_for(count) * slowdown
                async with asyncio.timeout(limit), asyncio.TaskGroup() as group:
                    for index in range(first, first + count):
                        group.create_task(open_one(index))
            except TimeoutError:
                _emit({"error": f"{kind}: only {len(closers) - first} of {count} clients joined"})
                return
            gc.collect()
            _emit({"open": len(closers)})
    finally:
        for close in closers:
            close()


@contextlib.asynccontextmanager
async def idle_clients(kind: IdleKind, url: str, traced: bool = False) -> AsyncIterator[Child]:
    """A fresh process of ``kind``'s idle clients, ready for ``open N`` (traced: Python kinds)."""
    prefix = f"idle-{kind}-{secrets.token_hex(4)}"
    if kind == "itty":
        argv = node_argv("idle_clients.mjs", url, prefix)
    else:
        argv = _script("--role", "idle", "--kind", kind, "--url", url, "--channel", prefix)
        argv += ["--trace"] if traced else []
    async with running_child(f"{kind} idle clients", argv) as child:
        await child.read_record(START_TIMEOUT)  # {"ready": true}
        yield child


async def idle_growth(
    child: Child, connections: int, mark: Callable[[], Awaitable[T]], traced: bool = False
) -> tuple[T, T]:
    """``mark()`` after a warm-up in ``child``, and again with ``connections`` more clients open.

    The child has collected its garbage before each ``mark()``. ``traced``: the
    child runs under tracemalloc, so it gets longer to open them.
    """
    slowdown = TRACE_SLOWDOWN if traced else 1

    async def open_more(count: int, total: int) -> None:
        child.send_line(f"open {count}")
        record = await child.read_record(_timeout_for(count) * slowdown + 5)
        if record.get("open") != total:
            raise BenchError(f"{child.name}: unexpected answer {record}")

    # Warm the code paths (and lazily created objects) before the first reading.
    await open_more(WARM_CONNECTIONS, WARM_CONNECTIONS)
    before = await mark()
    await open_more(connections, WARM_CONNECTIONS + connections)
    return before, await mark()


async def idle_memory(kind: IdleKind, url: str, connections: int) -> float:
    """A fresh process of ``kind``'s idle clients: its RSS growth per connection, in bytes."""
    async with idle_clients(kind, url) as child:

        async def rss() -> int:
            return rss_bytes(child.pid)

        before, after = await idle_growth(child, connections, rss)
        return (after - before) / connections


def our_relay() -> contextlib.AbstractAsyncContextManager[Child]:
    """Our relay in a subprocess (this script with ``--role relay``); ``read_url()`` it."""
    return running_child("relay", _script("--role", "relay"))


async def measure_memory(settings: Settings) -> list[dict[IdleKind, float]]:
    """KiB per idle client connection for each kind, one dict per repetition.

    Each repetition starts a fresh process per kind, one after the other, all
    connecting to one relay (ours, in a subprocess of its own).
    """
    reps: list[dict[IdleKind, float]] = []
    async with our_relay() as relay:
        url = await relay.read_url()
        for rep_index in range(settings.reps):
            rep: dict[IdleKind, float] = {}
            for kind in round_order(IDLERS, rep_index):
                rep[kind] = await idle_memory(kind, url, settings.connections) / 1024
            reps.append(rep)
            print(
                f"  memory rep {rep_index + 1}/{settings.reps}: "
                + "  ".join(f"{kind} {rep[kind]:5.1f} KiB/conn" for kind in IDLERS),
                flush=True,
            )
    return reps


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    reps: int
    rounds: int
    messages: int
    events: int
    connections: int
    scenarios: tuple[str, ...]
    profile_dir: Path | None


def anchored_row(
    name: str,
    unit: str,
    digits: int,
    values: Callable[[AnchoredKind], list[float]],
    target: Target | None = None,
    itty: Target | None = None,
    fast: Target | None = None,
) -> Row:
    """A row of ours against the baseline and against itty; fast (when measured) against itty.

    ``values(kind)`` gives a kind's figure per repetition; a target of None is info.
    """
    extra = {"fast": values("fast")} if FAST else {}
    extra["itty"] = values("itty")
    return Row(
        name,
        unit,
        digits,
        values("baseline"),
        values("ours"),
        target,
        extra,
        anchor="itty",
        anchor_target=itty,
        variants={"fast": fast} if FAST else {},
    )


def throughput_rows(reps: Sequence[ThroughputRep]) -> tuple[list[Row], list[str]]:
    def drains(kind: ReceiverKind) -> list[Drain]:
        return [rep.drains[kind] for rep in reps]

    def rates(kind: ReceiverKind) -> list[float]:
        return [d.rate for d in drains(kind)]

    def cpu(kind: ReceiverKind) -> list[float]:
        return [d.cpu_us for d in drains(kind)]

    rows = [
        anchored_row(
            "receiver msg/s vs websockets+json",
            "msg/s",
            0,
            rates,
            Target(">=", THROUGHPUT_TARGET, THROUGHPUT_STRETCH),
            Target(">=", ITTY_THROUGHPUT_TARGET),
            Target(">=", FAST_THROUGHPUT_TARGET),
        ),
        Row("receiver msg/s vs websockets+orjson", "msg/s", 0, rates("orjson"), rates("ours")),
        anchored_row("receiver CPU vs websockets+json", "us/msg", 2, cpu),
        Row("receiver CPU vs websockets+orjson", "us/msg", 2, cpu("orjson"), cpu("ours")),
    ]
    busy = "  ".join(
        f"{kind} {statistics.median(d.busy for d in drains(kind)):.0%}" for kind in RECEIVERS
    )
    waits = "  ".join(
        f"{kind} {statistics.median(d.waits for d in drains(kind)):.0f}" for kind in RECEIVERS
    )
    feed = statistics.median(rep.feed_rate for rep in reps)
    notes = [
        f"receiver busy (CPU/wall while draining; ~100% = the receiver is the limit): {busy}",
        f"receiver waits per rep (voluntary context switches while draining; few = it never "
        f"ran out of data, so a busy below 100% means it was preempted; itty's also count "
        f"waits for Node's parallel garbage collector): {waits}",
        f"relay feed (sender -> relay -> {len(RECEIVERS)} blocked receivers + canary, before "
        f"the drains; not in the timed windows): {feed:,.0f} msg/s",
    ]
    return rows, notes


def dispatch_rows(reps: Sequence[dict[DispatchKind, float]]) -> tuple[list[Row], list[str]]:
    base = [rep["baseline"] for rep in reps]
    ours = [rep["ours"] for rep in reps]
    decode = [rep["decode"] for rep in reps]
    cheaper = Target("<=", DISPATCH_TARGET)
    rows = [Row("dispatch per event vs Subject", "us/event", 3, base, ours, cheaper)]
    overhead_ours = statistics.median(o - d for o, d in zip(ours, decode, strict=True))
    overhead_base = statistics.median(b - d for b, d in zip(base, decode, strict=True))
    notes = [
        f"dispatch: decode_frame alone {statistics.median(decode):.3f} us/event (in both); "
        f"beyond it, Subject+filter+map {overhead_base:.3f}, "
        f"socket+on('chat')+map {overhead_ours:.3f} us/event"
    ]
    return rows, notes


def memory_rows(reps: Sequence[dict[IdleKind, float]]) -> tuple[list[Row], list[str]]:
    def kib(kind: IdleKind) -> list[float]:
        return [rep[kind] for rep in reps]

    row = anchored_row(
        "idle client memory vs websockets",
        "KiB/conn",
        1,
        kib,
        itty=Target("<=", ITTY_MEMORY_TARGET),
        fast=Target("<=", FAST_MEMORY_TARGET),
    )
    notes = [
        "idle client memory: process RSS growth per idle connection, read after a full "
        "garbage collection; lower is better"
    ]
    return [row], notes


def print_profiles(directory: Path) -> None:
    ours = [path for kind in OUR_TRANSPORTS for path in directory.glob(f"*{kind}*.prof")]
    for path in sorted(ours):
        out = io.StringIO()
        stats = pstats.Stats(str(path), stream=out)
        stats.strip_dirs().sort_stats("tottime").print_stats(14)
        print(f"\n=== {path} (top by tottime) ===")
        print(out.getvalue().split("\n", 6)[-1].rstrip())


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare the rx_itty client with raw receive loops (ratios, same run)."
    )
    parser.add_argument("--quick", action="store_true", help="fast smoke run (small counts)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5, quick 2)")
    parser.add_argument(
        "--rounds", type=int, help="throughput rounds per repetition (default 6, quick 1)"
    )
    parser.add_argument(
        "--messages", type=int, help="messages per throughput round (default 10000, quick 3000)"
    )
    parser.add_argument(
        "--events", type=int, help="frames per dispatch repetition (default 200000, quick 20000)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        help="idle client connections per process (default 1000, quick 100)",
    )
    parser.add_argument(
        "--only", choices=SCENARIOS, action="append", help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="write cProfile files of the receivers' drains and of the in-memory dispatch to DIR "
        "and print the top of ours and fast (profiling slows things down: ignore the ratios)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--role", choices=("relay", "receiver", "idle"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=get_args(PythonReceiver), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    settings = Settings(
        reps=args.reps or (2 if quick else 5),
        rounds=args.rounds or (1 if quick else 6),
        messages=args.messages or (3_000 if quick else 10_000),
        events=args.events or (20_000 if quick else 200_000),
        connections=args.connections or (100 if quick else 1_000),
        scenarios=tuple(s for s in SCENARIOS if not args.only or s in args.only),
        profile_dir=args.profile_dir,
    )
    for name in ("reps", "rounds", "messages", "events", "connections"):
        if getattr(settings, name) < 1:
            raise SystemExit(f"client_bench: --{name} must be at least 1")
    if not 100 <= settings.messages <= MAX_ROUND:
        raise SystemExit(f"client_bench: --messages must be between 100 and {MAX_ROUND:,}")
    return settings


def run_role(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        if args.role == "relay":
            asyncio.run(serve_our_relay(unbounded_backlog=True))
            return 0
        if not (args.kind and args.url and args.channel):
            raise SystemExit(f"client_bench: --role {args.role} needs --kind, --url, --channel")
        # fast runs on uvloop, everything else on asyncio's own loop, as installed by default.
        with asyncio.Runner(loop_factory=loop_factory(fast=args.kind == "fast")) as runner:
            if args.role == "idle":
                if args.kind not in get_args(PythonIdle):
                    raise SystemExit(f"client_bench: no idle clients of kind {args.kind!r}")
                runner.run(run_idle(args.kind, args.url, args.channel, args.trace))
            else:
                runner.run(run_receiver(args.kind, args.url, args.channel, args.profile_out))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.role:
        return run_role(args)

    settings = _settings(args)
    # Inherited by the relay and the idle clients' processes, which hold every connection.
    needed = WARM_CONNECTIONS + settings.connections + 256
    have = raise_nofile(max(needed, 4096))
    if "memory" in settings.scenarios and have < needed:
        raise SystemExit(
            f"client_bench: RLIMIT_NOFILE is {have}, need {needed}; lower --connections"
        )
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
        print("profiling: everything runs slower, so ignore the ratios of this run")
    variants = (
        "ours: websockets transport, asyncio loop; fast: picows transport, uvloop"
        if FAST
        else "ours: websockets transport, asyncio loop (no fast column: pip install "
        "'rx_itty[fast]' for picows and uvloop)"
    )
    print(
        f"{header('client_bench', node_versions())}\n  {variants}\n"
        f"  throughput: {settings.rounds} round(s) x {settings.messages:,} msgs per rep; "
        f"dispatch: {settings.events:,} frames per rep; "
        f"memory: {settings.connections:,} idle conns per process; {settings.reps} rep(s)",
        flush=True,
    )
    started = time.monotonic()
    rows: list[Row] = []
    notes: list[str] = []
    with guarded("client_bench"):
        if "throughput" in settings.scenarios:
            new_rows, new_notes = throughput_rows(run_async(measure_throughput(settings)))
            rows += new_rows
            notes += new_notes
        if "dispatch" in settings.scenarios:
            new_rows, new_notes = dispatch_rows(measure_dispatch(settings))
            rows += new_rows
            notes += new_notes
        if "memory" in settings.scenarios:
            new_rows, new_notes = memory_rows(run_async(measure_memory(settings)))
            rows += new_rows
            notes += new_notes
    all_pass = report(
        "client_bench: medians over the repetitions; ratios = median of per-rep ours/baseline, "
        f"ours/itty{' and fast/itty' if FAST else ''} (itty: the itty-sockets client on Node)",
        rows,
        notes,
    )
    if settings.profile_dir is not None:
        print_profiles(settings.profile_dir)
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if args.check and not all_pass else 0


if __name__ == "__main__":
    sys.exit(main())
