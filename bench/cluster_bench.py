"""Two relay nodes on Redis compared with one relay, measured in the same run.

    .venv/bin/python bench/cluster_bench.py            # default run, about 2 minutes
    .venv/bin/python bench/cluster_bench.py --quick    # smoke run, a few seconds

``baseline`` is our relay as one process (no backplane); ``ours`` is the same
relay as two ``--backplane`` nodes sharing a throwaway ``redis-server`` (unix
socket, no persistence), the sender connected to node A and every receiver to
node B, so every message crosses Redis. Both are measured with the flows of
``relay_bench.py`` (pre-encoded frames, raw counting receivers, rounds that
alternate between the two, ABBA):

- ``throughput``: 1 sender -> 1 receiver; msg/s and CPU per message of the relay
  (for the cluster: both nodes; Redis's own CPU is shown apart).
- ``fanout``: 1 sender -> 10 receivers; deliveries/s and CPU per delivery.
- ``latency``: one message at a time, sent when the last one arrived; p50 and
  p99 of send-to-arrival in the bench process, alternating between the two.

The notes under the table give Redis commands per delivered message (``INFO
commandstats`` before and after each scenario: every command, including those
the Lua scripts run, and the heartbeats) and Redis CPU per delivered message,
under load (the flows) and one message at a time (the latency scenario).
Ratios are ours/baseline; none has a target: the cost of crossing Redis is
reported, not judged. Needs ``redis-server`` and the ``redis`` package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from _proc import (
    SETUP_TIMEOUT,
    BenchError,
    cpu_seconds,
    guarded,
    port_of,
    raise_nofile,
    run_async,
    running_child,
    serve_our_relay,
)
from _rawws import client_frame
from _report import Row, header, report
from relay_bench import Flow, RelayProcess, add_flow_options, measure_flows

SCRIPT: Final = Path(__file__).resolve()
# The repository root, for the throwaway redis-server the tests use too.
sys.path.insert(0, str(SCRIPT.parents[1]))

from tests.redis_server import INSTALL, RedisServer  # noqa: E402 - needs the path above

SCENARIOS: Final = ("throughput", "fanout", "latency")


@dataclass(frozen=True)
class Settings:
    reps: int
    messages: int
    fanout_messages: int
    receivers: int
    samples: int
    rounds: int
    scenarios: tuple[str, ...]


class Results:
    def __init__(self, receivers: int) -> None:
        fan = f"1->{receivers}"
        self.rows: dict[str, Row] = {
            "tput": Row("1->1 throughput", "msg/s", 0),
            "tput_cpu": Row("1->1 relay CPU", "us/msg", 2),
            "fan": Row(f"{fan} fan-out", "deliveries/s", 0),
            "fan_cpu": Row(f"{fan} relay CPU", "us/delivery", 2),
            "p50": Row("latency p50", "ms", 3),
            "p99": Row("latency p99", "ms", 3),
        }
        # Per repetition, for the cluster only:
        # (Redis commands, PUBLISHes, Redis CPU seconds, messages delivered).
        self.redis: dict[str, list[tuple[int, int, float, int]]] = {
            "tput": [],
            "fan": [],
            "latency": [],
        }

    def add(self, key: str, kind: str, value: float) -> None:
        self.rows[key].values(kind).append(value)


# --------------------------------------------------------------------------
# Relays: one process, and two nodes on Redis
# --------------------------------------------------------------------------


async def _started(name: str, argv: list[str], stack: contextlib.AsyncExitStack) -> tuple[int, int]:
    child = await stack.enter_async_context(running_child(name, argv))
    return child.pid, port_of(await child.read_url())


@contextlib.asynccontextmanager
async def running_relays(redis: RedisServer) -> AsyncIterator[list[RelayProcess]]:
    """Yield [one process, two nodes on ``redis``]; always stop all three afterwards."""
    serve = [sys.executable, str(SCRIPT), "--serve"]
    async with contextlib.AsyncExitStack() as stack:
        pid, port = await _started("single relay", serve, stack)
        node = [*serve, "--backplane", redis.url]
        pid_a, port_a = await _started("node A", node, stack)
        pid_b, port_b = await _started("node B", node, stack)
        yield [
            RelayProcess("baseline", pid, port),
            RelayProcess("ours", pid_b, port_b, sender_port=port_a, more_pids=(pid_a,)),
        ]


async def redis_calls(redis: RedisServer) -> tuple[int, int]:
    """(every command, PUBLISH) calls so far, from ``INFO commandstats``."""
    from redis import asyncio as aioredis

    client = aioredis.Redis.from_url(redis.url)
    try:
        stats = await client.info("commandstats")
    finally:
        await client.aclose()
    calls = {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}
    return sum(calls.values()), calls.get("publish", 0)


async def redis_use(
    redis: RedisServer, pid: int, before: tuple[tuple[int, int], float], deliveries: int
) -> tuple[int, int, float, int]:
    """Redis commands, PUBLISHes and CPU seconds since ``before``, with ``deliveries``."""
    (calls, publishes), cpu = before
    calls_now, publishes_now = await redis_calls(redis)
    # Less the INFO that read ``before``: the rest is the relays' doing.
    return calls_now - calls - 1, publishes_now - publishes, cpu_seconds(pid) - cpu, deliveries


# --------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------


async def measure_latency(relays: Sequence[RelayProcess], samples: int) -> dict[str, list[float]]:
    """Seconds from a send to its arrival, one message in flight at a time, alternating."""
    frame = client_frame(b'{"type":"ping"}')
    flows = []
    latencies: dict[str, list[float]] = {relay.kind: [] for relay in relays}
    try:
        for relay in relays:
            flows.append(await Flow.open(relay, 1))
        for i in range(samples):
            for flow in flows if i % 2 == 0 else flows[::-1]:
                [sink] = flow.sinks
                sink.arm(1, batch=False)
                started = time.perf_counter()
                flow.sender.send_raw(frame)
                try:
                    await asyncio.wait_for(sink.done.wait(), SETUP_TIMEOUT)
                except TimeoutError:
                    raise BenchError(f"{flow.relay.kind}: a message never arrived") from None
                assert sink.done_at is not None
                latencies[flow.relay.kind].append(sink.done_at - started)
    finally:
        for flow in flows:
            flow.close()
    return latencies


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run_rep(settings: Settings, rep: int, results: Results, redis: RedisServer) -> None:
    async with running_relays(redis) as relays:
        redis_pid = redis.proc.pid if redis.proc is not None else None
        assert redis_pid is not None
        for scenario in settings.scenarios:
            where = f"rep {rep + 1}/{settings.reps}  {scenario:<10}"
            if scenario == "latency":
                before = await redis_calls(redis), cpu_seconds(redis_pid)
                latencies = await measure_latency(relays, settings.samples)
                results.redis["latency"].append(
                    await redis_use(redis, redis_pid, before, settings.samples)
                )
                for kind, values in latencies.items():
                    p50, p99 = _p(values, 50) * 1e3, _p(values, 99) * 1e3
                    results.add("p50", kind, p50)
                    results.add("p99", kind, p99)
                    print(f"  {where} {kind:<8} p50 {p50:7.3f} ms  p99 {p99:7.3f} ms", flush=True)
                continue
            key, receivers, messages = (
                ("tput", 1, settings.messages)
                if scenario == "throughput"
                else ("fan", settings.receivers, settings.fanout_messages)
            )
            before = await redis_calls(redis), cpu_seconds(redis_pid)
            flows = await measure_flows(relays, receivers, messages, settings.rounds)
            results.redis[key].append(
                await redis_use(redis, redis_pid, before, messages * receivers)
            )
            for kind, flow in flows.items():
                results.add(key, kind, flow.rate)
                results.add(f"{key}_cpu", kind, flow.relay_us)
                print(
                    f"  {where} {kind:<8} {flow.rate:9,.0f}/s  relay {flow.relay_us:6.2f} us",
                    flush=True,
                )


def redis_notes(results: Results, receivers: int) -> list[str]:
    notes = []
    labels = {"tput": "1->1", "fan": f"1->{receivers}", "latency": "one message at a time"}
    for key, label in labels.items():
        runs = results.redis[key]
        if not runs:
            continue
        commands = statistics.median(c / d for c, _, _, d in runs)
        publishes = statistics.median(p / d for _, p, _, d in runs)
        cpu = statistics.median(s / d * 1e6 for _, _, s, d in runs)
        notes.append(
            f"Redis, {label}: {commands:.4f} commands per delivered message "
            f"({publishes:.4f} PUBLISH), Redis CPU {cpu:.2f} us per delivered message"
        )
    return notes


async def run_bench(settings: Settings, executable: str) -> Results:
    results = Results(settings.receivers)
    with RedisServer.running(executable) as redis:
        for rep in range(settings.reps):
            await run_rep(settings, rep, results, redis)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Two relay nodes on Redis against one relay process (ratios, same run)."
    )
    add_flow_options(parser, SCENARIOS, reps=5, messages=30_000)
    parser.add_argument("--fanout-messages", type=int, help="fan-out messages (default 10000)")
    parser.add_argument("--receivers", type=int, default=10, help="fan-out receivers (10)")
    parser.add_argument("--samples", type=int, help="latency samples per relay (default 2000)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backplane", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.serve:
        raise_nofile(65_536)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_our_relay(None, args.backplane))
        return 0
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit(f"cluster_bench: needs redis-server: {INSTALL}")
    quick = bool(args.quick)
    settings = Settings(
        reps=args.reps or (1 if quick else 5),
        messages=args.messages or (3_000 if quick else 30_000),
        fanout_messages=args.fanout_messages or (1_000 if quick else 10_000),
        receivers=args.receivers,
        samples=args.samples or (200 if quick else 2_000),
        rounds=args.rounds,
        scenarios=tuple(s for s in SCENARIOS if not args.only or s in args.only),
    )
    for name in ("reps", "messages", "fanout_messages", "receivers", "samples", "rounds"):
        if getattr(settings, name) < 1:
            raise SystemExit(f"cluster_bench: --{name.replace('_', '-')} must be at least 1")
    raise_nofile(4096)
    print(
        f"{header('cluster_bench')}\n"
        f"  baseline: one relay process; ours: two nodes on redis-server, sender on A, "
        f"receivers on B\n  {settings.messages:,} msgs 1->1, {settings.fanout_messages:,} msgs "
        f"1->{settings.receivers}, {settings.samples:,} latency samples; {settings.reps} rep(s)",
        flush=True,
    )
    started = time.monotonic()
    with guarded("cluster_bench"):
        results = run_async(run_bench(settings, executable))
    report(
        f"cluster_bench: median of {settings.reps} rep(s); ratio = median of per-rep "
        "ours (two nodes) / baseline (one process)",
        list(results.rows.values()),
        [
            "relay CPU: for the cluster, both nodes together (Redis apart, below).",
            *redis_notes(results, settings.receivers),
        ],
    )
    print(f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
