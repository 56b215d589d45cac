"""Benchmark our relay against a minimal ``websockets`` relay measured in the same run.

Usage::

    .venv/bin/python bench/relay_bench.py            # default run, about 2 minutes
    .venv/bin/python bench/relay_bench.py --quick    # smoke run, a few seconds
    .venv/bin/python bench/relay_bench.py --reps 9   # more repetitions on a noisy machine

Each repetition of each scenario starts one fresh subprocess per relay (this
script re-run with ``--serve ours|baseline``), so a relay's CPU time and memory
are its own and are read from ``/proc/<pid>``. The clients live in this process
and are as cheap as a WebSocket client can be: a hand-written handshake,
pre-encoded masked frames written in one go, and a receiver that walks frame
headers, counts, and reads in batches.

Scenarios:

- ``throughput``: 1 sender -> 1 receiver, 50,000 small messages per relay; msg/s
  and relay CPU (utime+stime) per message.
- ``fanout``: 1 sender -> 10 receivers in one channel, 20,000 messages per relay;
  deliveries/s and relay CPU per delivery.
- ``memory``: 1,000 idle connections over 10 channels; relay VmRSS growth per connection.

The machine is shared and its speed drifts by tens of percent within seconds, so
a flow's messages go out in rounds (20 by default) that alternate between the
two relays, ABBA: each round is timed from its first write until every receiver
has all of it, and a relay's figure is its messages over the sum of its rounds.
The table shows the median of each side over the repetitions and the median of
the per-repetition ratios ours/baseline, with PASS/MISS against the targets
(throughput ratio >= 0.9, CPU ratio <= 1/0.9, memory ratio <= 1.2). Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal
from urllib.parse import parse_qsl, unquote

import orjson
from _proc import (
    HOST,
    SETUP_TIMEOUT,
    BenchError,
    announce_url,
    cpu_seconds,
    guarded,
    port_of,
    profiled,
    raise_nofile,
    rss_bytes,
    run_async,
    running_child,
    serve_our_relay,
    until_stopped,
)
from _rawws import RawClient, text_frames, until
from _report import Row, Target, header, report
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

SCRIPT: Final = Path(__file__).resolve()
RelayKind = Literal["baseline", "ours"]
KINDS: Final[tuple[RelayKind, RelayKind]] = ("baseline", "ours")
SCENARIOS: Final = ("throughput", "fanout", "memory")

# Same library max_size as our relay with its default 100 KiB frame cap (1 MiB).
BASELINE_MAX_SIZE: Final = 1 << 20
# Connections opened at once while filling the relay (its listen backlog is 100).
CONNECT_CONCURRENCY: Final = 50
MEMORY_SETTLE: Final = 0.5
WARM_CONNECTIONS: Final = 10

THROUGHPUT_TARGET: Final = 0.9
CPU_TARGET: Final = 1 / THROUGHPUT_TARGET
MEMORY_TARGET: Final = 1.2


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


async def serve_relay(kind: RelayKind, profile_path: str | None) -> None:
    """Run one relay on 127.0.0.1, print ``URL <url>``, serve until SIGTERM/SIGINT or stdin EOF."""
    if kind == "ours":
        await serve_our_relay(profile_path)
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

    A relay of several processes (nodes of a cluster) gives the port its flow's
    sender connects to in ``sender_port``, and the other processes whose CPU counts
    as the relay's in ``more_pids``.
    """

    kind: str
    pid: int
    port: int
    sender_port: int | None = None
    more_pids: tuple[int, ...] = ()

    def cpu(self) -> float:
        """CPU seconds used so far by every process of this relay."""
        return sum(cpu_seconds(pid) for pid in (self.pid, *self.more_pids))


@contextlib.asynccontextmanager
async def running_relay(kind: RelayKind, profile_path: str | None) -> AsyncIterator[RelayProcess]:
    """Start a relay subprocess, yield it once it listens, always stop it afterwards."""
    argv = [sys.executable, str(SCRIPT), "--serve", kind]
    if profile_path:
        argv += ["--profile-out", profile_path]
    async with running_child(f"{kind} relay", argv) as child:
        url = await child.read_url()
        yield RelayProcess(kind, child.pid, port_of(url))


# --------------------------------------------------------------------------
# Cheap raw WebSocket clients
# --------------------------------------------------------------------------


async def _connect_many(port: int, paths: Sequence[str]) -> list[RawClient]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[RawClient] = []

    async def one(path: str) -> None:
        async with gate:
            clients.append(await RawClient.connect(port, path))

    try:
        async with asyncio.TaskGroup() as group:
            for path in paths:
                group.create_task(one(path))
    except BaseException:
        for client in clients:
            client.abort()
        raise
    return clients


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
        for sink in self.sinks:
            sink.arm(count)
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
) -> dict[str, FlowResult]:
    """1 sender -> ``receivers`` in one channel of each relay, ``messages`` messages each.

    The messages go out in ``rounds`` rounds that alternate between the relays
    (ABBA), so both see the same machine: a round is timed from its first write
    until every receiver has every message of it, and the relay's CPU time is
    read before the first round and after the last.
    """
    rounds = min(rounds, messages)
    bounds = [messages * i // rounds for i in range(rounds + 1)]
    blobs = [text_frames("tick", bounds[i], bounds[i + 1]) for i in range(rounds)]
    flows: list[Flow] = []
    try:
        for relay in relays:
            flows.append(await Flow.open(relay, receivers))
        cpu_before = [relay.cpu() for relay in relays]
        for i, blob in enumerate(blobs):
            for flow in flows if i % 2 == 0 else flows[::-1]:
                await flow.run_round(blob, bounds[i], bounds[i + 1] - bounds[i])
        for flow, before in zip(flows, cpu_before, strict=True):
            flow.result.relay_cpu = flow.relay.cpu() - before
        return {flow.relay.kind: flow.result for flow in flows}
    finally:
        for flow in flows:
            flow.close()


async def measure_memory(relay: RelayProcess, connections: int, channels: int) -> float:
    """Relay RSS growth, in bytes per connection, for ``connections`` idle connections."""
    run = secrets.token_hex(4)
    clients: list[RawClient] = []
    try:
        # Warm the code paths (and lazily created objects) before the first reading.
        warm = [f"/c/warm-{run}"] * WARM_CONNECTIONS
        clients += await _connect_many(relay.port, warm)
        await asyncio.sleep(MEMORY_SETTLE)
        before = rss_bytes(relay.pid)
        paths = [f"/c/idle-{run}-{i % channels}" for i in range(connections)]
        clients += await _connect_many(relay.port, paths)
        per_channel = connections // channels
        await until(
            lambda: all(c.total >= per_channel for c in clients[WARM_CONNECTIONS:]),
            SETUP_TIMEOUT,
            "join announcements",
        )
        await asyncio.sleep(MEMORY_SETTLE)
        after = rss_bytes(relay.pid)
        return (after - before) / connections
    finally:
        for client in clients:
            client.abort()


# --------------------------------------------------------------------------
# Orchestration and report
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    reps: int
    messages: int
    fanout_messages: int
    receivers: int
    connections: int
    channels: int
    rounds: int
    scenarios: tuple[str, ...]
    profile_dir: Path | None


class Results:
    def __init__(self, settings: Settings) -> None:
        fan = f"1->{settings.receivers}"
        faster = Target(">=", THROUGHPUT_TARGET)
        cheaper = Target("<=", CPU_TARGET)
        self.rows: dict[str, Row] = {
            "tput": Row("1->1 throughput", "msg/s", 0, target=faster),
            "tput_cpu": Row("1->1 relay CPU", "us/msg", 2, target=cheaper),
            "fan": Row(f"{fan} fan-out", "deliveries/s", 0, target=faster),
            "fan_cpu": Row(f"{fan} relay CPU", "us/delivery", 2, target=cheaper),
            "mem": Row("idle memory", "KiB/conn", 1, target=Target("<=", MEMORY_TARGET)),
            "tput_client": Row("1->1 bench client CPU", "us/msg", 2),
            "fan_client": Row(f"{fan} bench client CPU", "us/delivery", 2),
        }

    def add(self, key: str, kind: str, value: float) -> None:
        self.rows[key].values(kind).append(value)


def _profile_path(settings: Settings, kind: RelayKind, scenario: str, rep: int) -> str | None:
    if settings.profile_dir is None:
        return None
    return str(settings.profile_dir / f"{kind}-{scenario}-{rep + 1}.prof")


async def run_scenario(settings: Settings, scenario: str, rep: int, results: Results) -> None:
    """One repetition of one scenario: a fresh subprocess per relay, both measured."""
    order: tuple[RelayKind, ...] = KINDS if rep % 2 == 0 else KINDS[::-1]
    where = f"rep {rep + 1}/{settings.reps}  {scenario:<10}"
    async with contextlib.AsyncExitStack() as stack:
        relays = [
            await stack.enter_async_context(
                running_relay(kind, _profile_path(settings, kind, scenario, rep))
            )
            for kind in order
        ]
        if scenario == "memory":
            for relay in relays:
                per_conn = await measure_memory(relay, settings.connections, settings.channels)
                results.add("mem", relay.kind, per_conn / 1024)
                print(f"  {where} {relay.kind:<8} {per_conn / 1024:9.1f} KiB/conn", flush=True)
            return
        if scenario == "throughput":
            flows = await measure_flows(relays, 1, settings.messages, settings.rounds)
            keys = ("tput", "tput_cpu", "tput_client")
        else:
            flows = await measure_flows(
                relays, settings.receivers, settings.fanout_messages, settings.rounds
            )
            keys = ("fan", "fan_cpu", "fan_client")
        for kind in KINDS:
            flow = flows[kind]
            results.add(keys[0], kind, flow.rate)
            results.add(keys[1], kind, flow.relay_us)
            results.add(keys[2], kind, flow.client_us)
            print(
                f"  {where} {kind:<8} {flow.rate:9,.0f}/s  relay {flow.relay_us:6.2f} us"
                f"  client {flow.client_us:5.2f} us",
                flush=True,
            )


async def run_bench(settings: Settings) -> Results:
    results = Results(settings)
    for rep in range(settings.reps):
        for scenario in settings.scenarios:
            await run_scenario(settings, scenario, rep, results)
    return results


def add_flow_options(
    parser: argparse.ArgumentParser, scenarios: Sequence[str], reps: int, messages: int, fanout: int
) -> None:
    """The options of a bench that measures flows (shared with cluster_bench.py)."""
    parser.add_argument("--quick", action="store_true", help="fast smoke run (small counts)")
    parser.add_argument("--reps", type=int, help=f"repetitions per relay (default {reps}, quick 1)")
    parser.add_argument("--messages", type=int, help=f"1->1 messages (default {messages})")
    parser.add_argument("--fanout-messages", type=int, help=f"fan-out messages (default {fanout})")
    parser.add_argument("--receivers", type=int, default=10, help="fan-out receivers (10)")
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
        description="Compare our relay with a minimal websockets relay (ratios, same run)."
    )
    add_flow_options(parser, SCENARIOS, reps=6, messages=50_000, fanout=20_000)
    parser.add_argument("--connections", type=int, help="idle connections (default 1000)")
    parser.add_argument("--channels", type=int, default=10, help="channels for idle conns (10)")
    parser.add_argument(
        "--profile-dir",
        type=Path,
        help="cProfile each relay subprocess into DIR/<relay>-<scenario>-<rep>.prof "
        "(profiling slows the relays: ignore the ratios of such a run)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)
    settings = Settings(
        reps=args.reps or (1 if quick else 6),
        messages=args.messages or (5_000 if quick else 50_000),
        fanout_messages=args.fanout_messages or (2_000 if quick else 20_000),
        receivers=args.receivers,
        connections=args.connections or (200 if quick else 1_000),
        channels=args.channels,
        rounds=args.rounds,
        scenarios=tuple(s for s in SCENARIOS if not args.only or s in args.only),
        profile_dir=args.profile_dir,
    )
    for name in (
        "reps",
        "messages",
        "fanout_messages",
        "receivers",
        "connections",
        "channels",
        "rounds",
    ):
        if getattr(settings, name) < 1:
            raise SystemExit(f"relay_bench: --{name.replace('_', '-')} must be at least 1")
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        raise_nofile(65_536)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_relay(args.serve, args.profile_out))
        return 0

    settings = _settings(args)
    needed = settings.connections + WARM_CONNECTIONS + settings.receivers + 256
    have = raise_nofile(max(needed, 4096))
    if have < needed:
        raise SystemExit(
            f"relay_bench: RLIMIT_NOFILE is {have}, need {needed}; lower --connections"
        )
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
        print("profiling: the relays run slower, so ignore the ratios of this run")
    print(
        f"{header('relay_bench')}\n"
        f"  {settings.messages:,} msgs 1->1, {settings.fanout_messages:,} msgs "
        f"1->{settings.receivers}, {settings.rounds} rounds each; "
        f"{settings.connections:,} idle conns; {settings.reps} rep(s)",
        flush=True,
    )
    started = time.monotonic()
    with guarded("relay_bench"):
        results = run_async(run_bench(settings))
    all_pass = report(
        f"relay_bench: median of {settings.reps} rep(s); ratio = median of per-rep ours/baseline",
        list(results.rows.values()),
        [
            "throughput rows: higher is better; CPU and memory rows: lower is better "
            f"(CPU target {CPU_TARGET:.2f} = 1/{THROUGHPUT_TARGET})."
        ],
    )
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if args.check and not all_pass else 0


if __name__ == "__main__":
    sys.exit(main())
