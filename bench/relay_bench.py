"""Benchmark our relay against a minimal ``websockets`` relay and a Node ``ws`` relay.

Usage::

    .venv/bin/python bench/relay_bench.py            # default run, about 2 minutes
    .venv/bin/python bench/relay_bench.py --quick    # smoke run, a few seconds
    .venv/bin/python bench/relay_bench.py --reps 9   # more repetitions on a noisy machine

Four relays are measured in the same run: ``ours`` (the default engine,
``websockets``, on asyncio's own loop: the default install); ``picows``, ours
with ``--engine picows`` on uvloop (``pip install 'rx_itty[fast]'``; left out,
with a note, when picows or uvloop is missing); the ``baseline``, the smallest
relay that can be written with ``websockets`` (:class:`BaselineRelay`); and the
``node`` anchor, the same relay written with Node's ``ws`` package
(``bench/node/relay.mjs``), which is what users would otherwise run. Each
repetition of each scenario starts one fresh subprocess per relay (this script
re-run with ``--serve ours|picows|baseline``, or Node), so a relay's CPU time and
memory are its own and are read from ``/proc/<pid>``. The clients live in this
process and are as cheap as a WebSocket client can be: a hand-written
handshake, pre-encoded masked frames written in one go, and a receiver that
walks frame headers, counts, and reads in batches.

Scenarios:

- ``throughput``: 1 sender -> 1 receiver, 50,000 small messages per relay; msg/s
  and relay CPU (utime+stime) per message.
- ``fanout``: 1 sender -> 10 receivers, and 1 sender -> 100 receivers, in one
  channel, 200,000 deliveries per relay each; deliveries/s and relay CPU per delivery.
- ``rtt``: one client with ``echo=true`` sends a message and waits for its own
  copy, 2,000 times per relay; the round trip's median and 99th percentile.
- ``memory``: 1,000 idle connections over 10 channels; relay VmRSS growth per connection.

The machine is shared and its speed drifts by tens of percent within seconds, so
a flow's messages go out in rounds (20 by default) that alternate between the
relays (rotating, every other round reversed; ABBA for two): each round is
timed from its first write until every receiver has all of it, and a relay's
figure is its messages over the sum of its rounds. The round trips alternate
likewise, one by one. The table shows the median of each relay over the
repetitions and the medians of the per-repetition ratios ours/baseline,
ours/node and picows/node, with PASS/MISS against the targets (see
``Results``). Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar, get_args
from urllib.parse import parse_qsl, unquote

import orjson
from _proc import (
    FAST,
    HOST,
    SETUP_TIMEOUT,
    BenchError,
    Child,
    announce_url,
    cpu_seconds,
    guarded,
    node_argv,
    node_versions,
    port_of,
    profiled,
    raise_nofile,
    round_order,
    rss_bytes,
    run_async,
    run_relay,
    running_child,
    serve_our_relay,
    until_stopped,
)
from _rawws import READ_PAUSE, RawClient, client_frame, connect_many, text_frames, until
from _report import Row, Target, header, report
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

SCRIPT: Final = Path(__file__).resolve()
T = TypeVar("T")
PythonRelay = Literal["baseline", "ours", "picows"]
RelayKind = PythonRelay | Literal["node"]
# The picows variant needs the fast extra (picows and uvloop): FAST.
KINDS: Final[tuple[RelayKind, ...]] = (
    ("baseline", "ours", "picows", "node") if FAST else ("baseline", "ours", "node")
)
SCENARIOS: Final = ("throughput", "fanout", "rtt", "memory")

# Same library max_size as our relay with its default 100 KiB frame cap (1 MiB).
BASELINE_MAX_SIZE: Final = 1 << 20
MEMORY_SETTLE: Final = 0.5
WARM_CONNECTIONS: Final = 10
WARM_PINGS: Final = 50
# Up to this many receivers, each reads every READ_PAUSE at most; beyond, less often.
PAUSE_RECEIVERS: Final = 10

# Targets for ours/baseline; the CPU ones are the throughput ones as work per message.
THROUGHPUT_TARGET: Final = 0.9
CPU_TARGET: Final = 1 / THROUGHPUT_TARGET
MEMORY_TARGET: Final = 1.2
# Targets for ours/node (the Node ws relay), likewise.
NODE_TPUT_TARGET: Final = 0.75
NODE_FANOUT_TARGET: Final = 1.0
NODE_MEMORY_TARGET: Final = 1.2
NODE_RTT_P99_TARGET: Final = 1.5
# Targets for picows/node: ours with --engine picows on uvloop.
PICOWS_TPUT_TARGET: Final = 1.2
PICOWS_FANOUT_TARGET: Final = 1.3
PICOWS_MEMORY_TARGET: Final = 1.0


# --------------------------------------------------------------------------
# Relay subprocesses (``--serve ours|baseline``)
# --------------------------------------------------------------------------


class BaselineRelay:
    """The minimal relay: a dict of connections per channel, orjson, ``broadcast``."""

    def __init__(self) -> None:
        self.channels: dict[str, dict[ServerConnection, str]] = {}

    async def handler(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        raw_path, _, query = request.path.partition("?")
        channel = unquote(raw_path.removeprefix("/c/"))
        echo = dict(parse_qsl(query)).get("echo", "false") not in ("false", "0")
        uid = secrets.token_hex(3)
        members = self.channels.setdefault(channel, {})
        others = list(members)
        members[ws] = uid
        date = int(time.time() * 1000)
        own = {"type": "join", "self": True, "uid": uid, "total": len(members), "date": date}
        broadcast([ws], orjson.dumps(own), text=True)
        if others:
            joined = {"type": "join", "total": len(members), "date": date}
            broadcast(others, orjson.dumps(joined), text=True)
        try:
            async for text in ws:
                try:
                    message = orjson.loads(text)
                except orjson.JSONDecodeError:
                    continue
                envelope = {"date": int(time.time() * 1000), "uid": uid, "message": message}
                targets = list(members) if echo else [m for m in members if m is not ws]
                broadcast(targets, orjson.dumps(envelope), text=True)
        except ConnectionClosed:
            pass
        finally:
            del members[ws]
            if members:
                left = {"type": "leave", "total": len(members), "date": int(time.time() * 1000)}
                broadcast(list(members), orjson.dumps(left), text=True)
            elif self.channels.get(channel) is members:
                del self.channels[channel]


async def serve_relay(kind: PythonRelay, profile_path: str | None) -> None:
    """Run one relay on 127.0.0.1, print ``URL <url>``, serve until SIGTERM/SIGINT or stdin EOF."""
    if kind != "baseline":
        await serve_our_relay(profile_path, engine="picows" if kind == "picows" else "websockets")
        return
    baseline = BaselineRelay()
    async with serve(
        baseline.handler, HOST, 0, compression=None, max_size=BASELINE_MAX_SIZE
    ) as server:
        announce_url(f"ws://{HOST}:{next(iter(server.sockets)).getsockname()[1]}/c/")
        with profiled(profile_path):
            await until_stopped()


@dataclass
class RelayProcess:
    """A relay subprocess that listens on ``port``; ``pid`` is for its CPU and memory.

    A relay of several processes (nodes of a cluster, see cluster_bench.py) gives
    the port its flow's sender connects to in ``sender_port``, and the other
    processes whose CPU counts as the relay's in ``more_pids``.
    """

    kind: RelayKind
    pid: int
    port: int
    child: Child | None = None
    sender_port: int | None = None
    more_pids: tuple[int, ...] = ()

    def cpu(self) -> float:
        """CPU seconds used so far by every process of this relay."""
        return sum(cpu_seconds(pid) for pid in (self.pid, *self.more_pids))

    async def collect(self) -> None:
        """A full garbage collection in the relay, before its memory is read."""
        if self.child is None:
            raise BenchError(f"{self.kind} relay: not a child of this bench, cannot collect")
        await self.child.collect()


@contextlib.asynccontextmanager
async def running_relay(kind: RelayKind, profile_path: str | None) -> AsyncIterator[RelayProcess]:
    """Start a relay subprocess, yield it once it listens, always stop it afterwards.

    ``profile_path`` applies to the Python relays only.
    """
    if kind == "node":
        argv = node_argv("relay.mjs")
    else:
        argv = [sys.executable, str(SCRIPT), "--serve", kind]
        if profile_path:
            argv += ["--profile-out", profile_path]
    async with running_child(f"{kind} relay", argv) as child:
        url = await child.read_url()
        yield RelayProcess(kind, child.pid, port_of(url), child=child)


# --------------------------------------------------------------------------
# Cheap raw WebSocket clients
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


@dataclass
class FlowResult:
    """One relay's share of a flow measurement: ``deliveries`` frames in ``seconds``."""

    deliveries: int = 0
    seconds: float = 0.0
    relay_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def relay_us(self) -> float:
        return self.relay_cpu / self.deliveries * 1e6

    @property
    def client_us(self) -> float:
        return self.client_cpu / self.deliveries * 1e6


@dataclass
class Flow:
    """A sender and its receivers in one channel of one relay."""

    relay: RelayProcess
    sender: RawClient
    sinks: list[RawClient]
    result: FlowResult = field(default_factory=FlowResult)

    @classmethod
    async def open(cls, relay: RelayProcess, receivers: int) -> Flow:
        """Connect ``receivers`` and then the sender; return once everyone saw every join."""
        path = f"/c/bench-{secrets.token_hex(4)}"
        clients: list[RawClient] = []
        try:
            for _ in range(receivers):
                clients.append(await RawClient.connect(relay.port, path))
            clients.append(await RawClient.connect(relay.sender_port or relay.port, path))
            members = receivers + 1
            await until(lambda: all(c.total == members for c in clients), SETUP_TIMEOUT, "joins")
        except BaseException:
            for client in clients:
                client.abort()
            raise
        return cls(relay, clients[-1], clients[:-1])

    def close(self) -> None:
        for client in (self.sender, *self.sinks):
            client.abort()

    async def run_round(self, blob: bytes, first: int, count: int) -> None:
        """Send ``count`` pre-encoded ticks (``first``...) and wait until every sink has them."""
        kind = self.relay.kind
        # Each receiver reads at most once per pause; the pause grows with the
        # receivers, so the bench's reads per second stay as few as at 1 -> 10.
        pause = READ_PAUSE * max(1.0, len(self.sinks) / PAUSE_RECEIVERS)
        for sink in self.sinks:
            sink.arm(count, pause=pause)
        self.sender.arm(0)
        deliveries = count * len(self.sinks)
        timeout = 30.0 + deliveries / 2_000
        client_before = time.process_time()
        started = time.perf_counter()
        self.sender.send_raw(blob)
        try:
            async with asyncio.timeout(timeout):
                for sink in self.sinks:
                    await sink.done.wait()
        except TimeoutError:
            got = sum(s.count for s in self.sinks)
            raise BenchError(
                f"{kind}: only {got} of {deliveries} deliveries after {timeout:.0f}s"
            ) from None
        finished = max(s.done_at or time.perf_counter() for s in self.sinks)
        self.result.client_cpu += time.process_time() - client_before
        self.result.seconds += finished - started
        self.result.deliveries += deliveries

        expected = {"type": "tick", "n": first + count - 1}
        for sink in self.sinks:
            if sink.count != count:
                raise BenchError(f"{kind}: a receiver got {sink.count} of {count} frames")
            last = orjson.loads(sink.last)
            if last.get("uid") != self.sender.uid or last.get("message") != expected:
                raise BenchError(f"{kind}: unexpected last frame {sink.last[:200]!r}")
        if self.sender.count:
            raise BenchError(f"{kind}: relay answered the sender: {self.sender.last[:200]!r}")


async def measure_flows(
    relays: Sequence[RelayProcess], receivers: int, messages: int, rounds: int
) -> dict[RelayKind, FlowResult]:
    """1 sender -> ``receivers`` in one channel of each relay, ``messages`` messages each.

    The messages go out in ``rounds`` rounds that alternate between the relays
    (:func:`round_order`), so all see the same machine: a round is timed from its
    first write until every receiver has every message of it, and the relay's CPU
    time is read before the first round and after the last. One untimed round
    through each relay comes first.
    """
    rounds = min(rounds, messages)
    bounds = [messages * i // rounds for i in range(rounds + 1)]
    blobs = [text_frames("tick", bounds[i], bounds[i + 1]) for i in range(rounds)]
    flows: list[Flow] = []
    try:
        for relay in relays:
            flows.append(await Flow.open(relay, receivers))
        for flow in flows:
            # Warm-up, untimed: first-use costs (a JIT compiling the hot path, caches,
            # buffer growth) stay out of the figures.
            await flow.run_round(blobs[0], bounds[0], bounds[1])
            flow.result = FlowResult()
        cpu_before = [relay.cpu() for relay in relays]
        for i, blob in enumerate(blobs):
            for flow in round_order(flows, i):
                await flow.run_round(blob, bounds[i], bounds[i + 1] - bounds[i])
        for flow, before in zip(flows, cpu_before, strict=True):
            flow.result.relay_cpu = flow.relay.cpu() - before
        return {flow.relay.kind: flow.result for flow in flows}
    finally:
        for flow in flows:
            flow.close()


@dataclass
class Pinger:
    """A client with ``echo=true`` that times messages to itself through one relay."""

    relay: RelayProcess
    client: RawClient
    seconds: list[float] = field(default_factory=list)

    async def ping(self, n: int, frame: bytes) -> float:
        """Send ``frame`` (message ``n``); the time until its echo has arrived, in seconds."""
        client = self.client
        client.arm(1, batch=False)
        started = time.perf_counter()
        client.send_raw(frame)
        try:
            await asyncio.wait_for(client.done.wait(), SETUP_TIMEOUT)
        except TimeoutError:
            raise BenchError(f"{self.relay.kind}: no echo of message {n}") from None
        if client.count != 1 or client.done_at is None:
            raise BenchError(f"{self.relay.kind}: no echo of message {n}: {client.error}")
        echo = orjson.loads(client.last)
        if echo.get("uid") != client.uid or echo.get("message") != {"type": "ping", "n": n}:
            raise BenchError(f"{self.relay.kind}: unexpected echo {client.last[:200]!r}")
        return client.done_at - started


async def measure_rtt(relays: Sequence[RelayProcess], pings: int) -> dict[RelayKind, list[float]]:
    """Round trips through each relay, in seconds: ``pings`` each, alternating relays per ping.

    The client sends one message and waits for the relay's echo of it before
    the next; the time runs from the write until the echo has been read.
    """
    path = f"/c/rtt-{secrets.token_hex(4)}?echo=true"
    mask = secrets.token_bytes(4)
    frames = [
        client_frame(orjson.dumps({"type": "ping", "n": n}), mask=mask)
        for n in range(WARM_PINGS + pings)
    ]
    pingers: list[Pinger] = []
    try:
        for relay in relays:
            pingers.append(Pinger(relay, await RawClient.connect(relay.port, path)))
        for n, frame in enumerate(frames):
            for pinger in round_order(pingers, n):
                seconds = await pinger.ping(n, frame)
                if n >= WARM_PINGS:
                    pinger.seconds.append(seconds)
        return {pinger.relay.kind: pinger.seconds for pinger in pingers}
    finally:
        for pinger in pingers:
            pinger.client.abort()


def percentile(values: Sequence[float], percent: int) -> float:
    """The ``percent``-th percentile of ``values`` (inclusive method: within their range)."""
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


async def idle_growth(
    port: int, connections: int, channels: int, mark: Callable[[], Awaitable[T]]
) -> tuple[T, T]:
    """``mark()`` after a warm-up, and again with ``connections`` idle connections joined.

    The connections are spread over ``channels`` channels; ``mark`` is awaited once
    every join has been announced and the relay had time to settle. Every client
    is closed afterwards.
    """
    run = secrets.token_hex(4)
    clients: list[RawClient] = []
    try:
        # Warm the code paths (and lazily created objects) before the first reading.
        clients += await connect_many(port, [f"/c/warm-{run}"] * WARM_CONNECTIONS)
        await asyncio.sleep(MEMORY_SETTLE)
        before = await mark()
        paths = [f"/c/idle-{run}-{i % channels}" for i in range(connections)]
        clients += await connect_many(port, paths)
        per_channel = connections // channels
        await until(
            lambda: all(c.total >= per_channel for c in clients[WARM_CONNECTIONS:]),
            SETUP_TIMEOUT,
            "join announcements",
        )
        await asyncio.sleep(MEMORY_SETTLE)
        return before, await mark()
    finally:
        for client in clients:
            client.abort()


async def measure_memory(relay: RelayProcess, connections: int, channels: int) -> float:
    """Relay RSS growth, in bytes per connection, for ``connections`` idle connections.

    RSS is read after a full garbage collection in the relay (:meth:`Child.collect`),
    so that it counts what the connections hold, not garbage not yet collected.
    """

    async def rss() -> int:
        await relay.collect()
        return rss_bytes(relay.pid)

    before, after = await idle_growth(relay.port, connections, channels, rss)
    return (after - before) / connections


# --------------------------------------------------------------------------
# Orchestration and report
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    reps: int
    messages: int
    fanouts: tuple[int, ...]
    fanout_deliveries: int
    pings: int
    connections: int
    channels: int
    rounds: int
    scenarios: tuple[str, ...]
    profile_dir: Path | None
    kinds: tuple[RelayKind, ...] = KINDS

    def fanout_messages(self, receivers: int) -> int:
        """Messages for a 1 -> ``receivers`` fan-out: the same deliveries for every size."""
        return max(1, self.fanout_deliveries // receivers)


class Results:
    """The table's rows by key; each relay's figure goes in its own column (``add``)."""

    def __init__(self, settings: Settings) -> None:
        faster = Target(">=", THROUGHPUT_TARGET)
        cheaper = Target("<=", CPU_TARGET)

        def row(
            name: str,
            unit: str,
            digits: int,
            target: Target | None = None,
            node: Target | None = None,
            picows: Target | None = None,
            anchored: bool = True,
        ) -> Row:
            return Row(
                name,
                unit,
                digits,
                target=target,
                anchor="node" if anchored else None,
                anchor_target=node,
                variants={"picows": picows} if anchored and "picows" in kinds else {},
            )

        def rate(goal: float) -> Target:
            return Target(">=", goal)

        def cost(goal: float) -> Target:  # a rate target as work per message
            return Target("<=", 1 / goal)

        kinds = settings.kinds
        rows = {
            "tput": row(
                "1->1 throughput",
                "msg/s",
                0,
                faster,
                rate(NODE_TPUT_TARGET),
                rate(PICOWS_TPUT_TARGET),
            ),
            "tput_cpu": row(
                "1->1 relay CPU",
                "us/msg",
                2,
                cheaper,
                cost(NODE_TPUT_TARGET),
                cost(PICOWS_TPUT_TARGET),
            ),
        }
        for n in settings.fanouts:
            rows[f"fan{n}"] = row(
                f"1->{n} fan-out",
                "deliveries/s",
                0,
                faster,
                rate(NODE_FANOUT_TARGET),
                rate(PICOWS_FANOUT_TARGET),
            )
            rows[f"fan{n}_cpu"] = row(
                f"1->{n} relay CPU",
                "us/delivery",
                2,
                cheaper,
                cost(NODE_FANOUT_TARGET),
                cost(PICOWS_FANOUT_TARGET),
            )
        rows["rtt50"] = row("RTT p50", "us", 0)
        rtt99 = Target("<=", NODE_RTT_P99_TARGET)
        rows["rtt99"] = row("RTT p99", "us", 0, node=rtt99, picows=rtt99)
        rows["mem"] = row(
            "idle memory",
            "KiB/conn",
            1,
            Target("<=", MEMORY_TARGET),
            Target("<=", NODE_MEMORY_TARGET),
            Target("<=", PICOWS_MEMORY_TARGET),
        )
        # The bench's own cost, to show that the relays are what is being measured.
        rows["tput_client"] = row("1->1 bench client CPU", "us/msg", 2, anchored=False)
        for n in settings.fanouts:
            rows[f"fan{n}_client"] = row(
                f"1->{n} bench client CPU", "us/delivery", 2, anchored=False
            )
        self.rows: dict[str, Row] = rows

    def add(self, key: str, kind: RelayKind, value: float) -> None:
        self.rows[key].values(kind).append(value)


def _profile_path(settings: Settings, kind: RelayKind, scenario: str, rep: int) -> str | None:
    if settings.profile_dir is None:
        return None
    return str(settings.profile_dir / f"{kind}-{scenario}-{rep + 1}.prof")


async def run_flows(
    settings: Settings,
    relays: Sequence[RelayProcess],
    receivers: int,
    key: str,
    where: str,
    results: Results,
) -> None:
    """Measure 1 -> ``receivers`` into the rows ``key``, ``key_cpu`` and ``key_client``."""
    messages = settings.messages if receivers == 1 else settings.fanout_messages(receivers)
    flows = await measure_flows(relays, receivers, messages, settings.rounds)
    for kind in settings.kinds:
        flow = flows[kind]
        results.add(key, kind, flow.rate)
        results.add(f"{key}_cpu", kind, flow.relay_us)
        results.add(f"{key}_client", kind, flow.client_us)
        print(
            f"  {where} 1->{receivers:<4} {kind:<8} {flow.rate:9,.0f}/s"
            f"  relay {flow.relay_us:6.2f} us  client {flow.client_us:5.2f} us",
            flush=True,
        )


async def run_scenario(settings: Settings, scenario: str, rep: int, results: Results) -> None:
    """One repetition of one scenario: a fresh subprocess per relay, all measured."""
    where = f"rep {rep + 1}/{settings.reps}  {scenario:<10}"
    async with contextlib.AsyncExitStack() as stack:
        relays = [
            await stack.enter_async_context(
                running_relay(kind, _profile_path(settings, kind, scenario, rep))
            )
            for kind in round_order(settings.kinds, rep)
        ]
        if scenario == "memory":
            for relay in relays:
                per_conn = await measure_memory(relay, settings.connections, settings.channels)
                results.add("mem", relay.kind, per_conn / 1024)
                print(f"  {where} {relay.kind:<8} {per_conn / 1024:9.1f} KiB/conn", flush=True)
        elif scenario == "rtt":
            samples = await measure_rtt(relays, settings.pings)
            for kind in settings.kinds:
                p50, p99 = (
                    statistics.median(samples[kind]) * 1e6,
                    percentile(samples[kind], 99) * 1e6,
                )
                results.add("rtt50", kind, p50)
                results.add("rtt99", kind, p99)
                print(f"  {where} {kind:<8} p50 {p50:6.0f} us  p99 {p99:6.0f} us", flush=True)
        elif scenario == "throughput":
            await run_flows(settings, relays, 1, "tput", where, results)
        else:
            for receivers in settings.fanouts:
                await run_flows(settings, relays, receivers, f"fan{receivers}", where, results)


async def run_bench(settings: Settings) -> Results:
    results = Results(settings)
    for rep in range(settings.reps):
        for scenario in settings.scenarios:
            await run_scenario(settings, scenario, rep, results)
    return results


def add_flow_options(
    parser: argparse.ArgumentParser, scenarios: Sequence[str], reps: int, messages: int
) -> None:
    """The options of a bench that measures flows (shared with cluster_bench.py)."""
    parser.add_argument("--quick", action="store_true", help="fast smoke run (small counts)")
    parser.add_argument("--reps", type=int, help=f"repetitions per relay (default {reps}, quick 1)")
    parser.add_argument("--messages", type=int, help=f"1->1 messages (default {messages})")
    parser.add_argument(
        "--rounds",
        type=int,
        default=20,
        help="alternating rounds the messages of a flow are split into (20; 1 = one burst)",
    )
    parser.add_argument(
        "--only", choices=scenarios, action="append", help="run only this scenario (repeatable)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare our relay with a minimal websockets relay and a Node ws relay "
        "(ratios, same run)."
    )
    add_flow_options(parser, SCENARIOS, reps=5, messages=50_000)
    parser.add_argument(
        "--receivers",
        type=int,
        action="append",
        help="fan-out receivers (repeatable; default 10 and 100)",
    )
    parser.add_argument(
        "--fanout-deliveries",
        type=int,
        help="deliveries per fan-out, messages x receivers (default 200000)",
    )
    parser.add_argument("--pings", type=int, help="round trips per relay (default 2000)")
    parser.add_argument("--connections", type=int, help="idle connections (default 1000)")
    parser.add_argument("--channels", type=int, default=10, help="channels for idle conns (10)")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="cProfile each Python relay subprocess into DIR/<relay>-<scenario>-<rep>.prof "
        "(profiling slows the relays: ignore the ratios of such a run)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--serve", choices=get_args(PythonRelay), help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    settings = Settings(
        reps=args.reps or (1 if quick else 5),
        messages=args.messages or (5_000 if quick else 50_000),
        fanouts=tuple(dict.fromkeys(args.receivers or (10, 100))),
        fanout_deliveries=args.fanout_deliveries or (20_000 if quick else 200_000),
        pings=args.pings or (200 if quick else 2_000),
        connections=args.connections or (200 if quick else 1_000),
        channels=args.channels,
        rounds=args.rounds,
        scenarios=tuple(s for s in SCENARIOS if not args.only or s in args.only),
        profile_dir=args.profile_dir,
    )
    for name in (
        "reps",
        "messages",
        "fanout_deliveries",
        "pings",
        "connections",
        "channels",
        "rounds",
    ):
        if getattr(settings, name) < 1:
            raise SystemExit(f"relay_bench: --{name.replace('_', '-')} must be at least 1")
    if min(settings.fanouts) < 1:
        raise SystemExit("relay_bench: --receivers must be at least 1")
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        raise_nofile(65_536)
        engine = "picows" if args.serve == "picows" else "websockets"
        run_relay(serve_relay(args.serve, args.profile_out), engine)
        return 0

    settings = _settings(args)
    needed = settings.connections + WARM_CONNECTIONS + max(settings.fanouts) + 256
    have = raise_nofile(max(needed, 4096))
    if have < needed:
        raise SystemExit(
            f"relay_bench: RLIMIT_NOFILE is {have}, need {needed}; lower --connections"
        )
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
        print("profiling: the Python relays run slower, so ignore the ratios of this run")
    fanouts = ", ".join(f"{settings.fanout_messages(n):,} msgs 1->{n}" for n in settings.fanouts)
    variants = (
        "ours: websockets engine, asyncio loop; picows: --engine picows, uvloop"
        if FAST
        else "ours: websockets engine, asyncio loop (no picows column: pip install "
        "'rx_itty[fast]' for picows and uvloop)"
    )
    print(
        f"{header('relay_bench', node_versions())}\n  {variants}\n"
        f"  {settings.messages:,} msgs 1->1, {fanouts}, {settings.rounds} rounds each; "
        f"{settings.pings:,} round trips; {settings.connections:,} idle conns; "
        f"{settings.reps} rep(s)",
        flush=True,
    )
    started = time.monotonic()
    with guarded("relay_bench"):
        results = run_async(run_bench(settings))
    all_pass = report(
        f"relay_bench: median of {settings.reps} rep(s); ratios = median of per-rep ours/baseline, "
        f"ours/node{' and picows/node' if FAST else ''} (node: the Node ws relay)",
        list(results.rows.values()),
        [
            "throughput rows: higher is better; CPU, RTT and memory rows: lower is better "
            f"(a CPU target is the throughput target as work per message: {CPU_TARGET:.2f} = "
            f"1/{THROUGHPUT_TARGET}, {1 / NODE_TPUT_TARGET:.2f} = 1/{NODE_TPUT_TARGET}).",
        ],
    )
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if args.check and not all_pass else 0


if __name__ == "__main__":
    sys.exit(main())
