"""Where our relay's memory per idle connection goes, engine by engine.

Usage::

    .venv/bin/python bench/relay_memory.py                    # both engines, 1,000 idle connections
    .venv/bin/python bench/relay_memory.py --quick            # 200 connections (CI)
    .venv/bin/python bench/relay_memory.py --engine picows --top 40

For each engine, two relay subprocesses:

1. **RSS**, with relay_bench's own memory scenario and relay processes: 10
   warm-up connections, a full garbage collection, ``VmRSS``; then
   ``--connections`` idle connections over ``--channels`` channels, every one
   joined; a collection, ``VmRSS`` again. Growth / connections.
2. **Breakdown**, in a relay running ``tracemalloc`` (this script re-run with
   ``--serve``; tracing costs memory too, so its RSS is not the figure): a
   snapshot after the warm-up and one with the idle connections, both after a
   full collection; the growth grouped by *owner*, the innermost
   frame outside Python's standard library (``module:function``), with the
   standard-library function that did the allocating in brackets (say
   ``asyncio/base_events.py:create_task``). C extensions allocate through
   Python's allocator and are traced too, under the Python frame that called them.

The picows engine runs on uvloop, the websockets one on asyncio's own loop, as in
relay_bench. Linux only (``/proc``). No targets: relay_bench judges memory against
the Node relay; this says what to cut.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import functools
import gc
import json
import os
import sys
import sysconfig
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from _proc import (
    BenchError,
    Child,
    announce_url,
    guarded,
    port_of,
    raise_nofile,
    run_async,
    run_relay,
    running_child,
)
from relay_bench import PythonRelay, idle_growth, measure_memory, running_relay

SCRIPT: Final = Path(__file__).resolve()
ENGINES: Final = ("websockets", "picows")
TRACE_FRAMES: Final = 16
_STDLIB: Final = sysconfig.get_paths()["stdlib"]


# --------------------------------------------------------------------------
# Relay side (``--serve ENGINE [--trace]``)
# --------------------------------------------------------------------------


def _short(filename: str) -> str:
    """``site-packages/websockets/asyncio/server.py`` -> ``websockets/asyncio/server.py``."""
    for marker in ("site-packages/", f"{_STDLIB}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return os.path.relpath(filename, SCRIPT.parent.parent)


def _owner(trace: tracemalloc.Traceback) -> str:
    """Who a trace's memory is for: the innermost frame of rx_itty or a library.

    Frames of the standard library (asyncio among them) and of this bench are
    skipped; the allocating frame, when skipped, is named in brackets.
    """
    frames = list(trace)[::-1]  # innermost first
    inner = frames[0]

    def where(frame: tracemalloc.Frame) -> str:
        return f"{_short(frame.filename)}:{_function(frame)}"

    for frame in frames:
        if not frame.filename.startswith((_STDLIB, str(SCRIPT.parent))):
            owner = where(frame)
            return owner if frame is inner else f"{owner} [{where(inner)}]"
    return f"(the event loop) {where(inner)}"


def _function(frame: tracemalloc.Frame) -> str:
    """The innermost function around a frame's line: tracemalloc keeps only file and line."""
    spans = _functions(frame.filename)
    inside = [(first, name) for first, last, name in spans if first <= frame.lineno <= last]
    return max(inside)[1] if inside else "<module>"


@functools.cache
def _functions(filename: str) -> list[tuple[int, int, str]]:
    """``(first line, last line, name)`` of every function in a Python source file."""
    try:
        tree = ast.parse(Path(filename).read_text())
    except (OSError, SyntaxError, ValueError):
        return []
    return [
        (node.lineno, node.end_lineno or node.lineno, node.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def breakdown(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> dict[str, int]:
    """Bytes that appeared between the snapshots, by owner."""
    owners: dict[str, int] = {}
    for stat in after.compare_to(before, "traceback"):
        if stat.size_diff:
            owner = _owner(stat.traceback)
            owners[owner] = owners.get(owner, 0) + stat.size_diff
    return owners


async def serve(engine: str) -> None:
    """Our relay, traced, no rate or connection limits, until EOF on stdin.

    A ``snap`` line takes a snapshot after a full collection (answer: ``SNAP``);
    ``report`` answers the growth from the first snapshot to the last, by owner.
    """
    tracemalloc.start(TRACE_FRAMES)
    from rx_itty.relay import Limits, Relay, RelayConfig

    limits = Limits(messages_per_window=None, connections_per_second=None, ban_seconds=0)
    config = RelayConfig(limits=limits)
    # No engine argument for the default: this measures relays from before engines, too.
    relay = Relay(config, engine=engine) if engine != "websockets" else Relay(config)
    announce_url(await relay.start())
    loop = asyncio.get_running_loop()
    snapshots: list[tracemalloc.Snapshot] = []

    def command(line: str) -> None:
        if line == "snap":
            gc.collect()
            snapshots.append(tracemalloc.take_snapshot())
            print("SNAP", flush=True)
        elif line == "report":
            print(json.dumps(breakdown(snapshots[0], snapshots[-1])), flush=True)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            command(line)
    finally:
        await relay.aclose()


# --------------------------------------------------------------------------
# Bench side
# --------------------------------------------------------------------------


async def traced(engine: str, connections: int, channels: int) -> dict[str, int]:
    """The traced growth, by owner, in bytes for all ``connections`` idle connections."""
    argv = [sys.executable, str(SCRIPT), "--serve", engine]
    async with running_child(f"{engine} relay (traced)", argv) as child:

        async def snap() -> None:
            await _ask(child, "snap", "SNAP")

        await idle_growth(port_of(await child.read_url()), connections, channels, snap)
        child.send_line("report")
        owners = await child.read_record(120)
    return {str(owner): int(size) for owner, size in owners.items()}


async def _ask(child: Child, command: str, answer: str) -> None:
    child.send_line(command)
    line = await child.read_line(120)
    if line != answer:
        raise BenchError(f"{child.name}: expected {answer}, got {line[:200]!r}")


async def rss(engine: str, connections: int, channels: int) -> float:
    """RSS growth per connection, exactly as relay_bench's memory scenario measures it."""
    kind: PythonRelay = "picows" if engine == "picows" else "ours"
    async with running_relay(kind, None) as relay:
        return await measure_memory(relay, connections, channels)


def print_breakdown(
    engine: str, per_connection: float, owners: dict[str, int], connections: int, top: int
) -> None:
    total = sum(owners.values()) / connections
    print(
        f"\n{engine}: RSS {per_connection / 1024:.1f} KiB per connection; "
        f"traced {total:,.0f} B per connection, by owner:"
    )
    ranked = sorted(owners.items(), key=lambda item: item[1], reverse=True)
    shown = ranked[:top]
    for owner, size in shown:
        print(f"  {size / connections:8,.0f} B  {owner}")
    rest = sum(size for _, size in ranked[top:])
    print(f"  {rest / connections:8,.0f} B  ({len(ranked) - len(shown)} other owners)")


async def run_all(engines: Sequence[str], connections: int, channels: int, top: int) -> None:
    for engine in engines:
        per_connection = await rss(engine, connections, channels)
        owners = await traced(engine, connections, channels)
        print_breakdown(engine, per_connection, owners, connections, top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 connections (CI)")
    parser.add_argument("--engine", choices=ENGINES, action="append", help="(repeatable)")
    parser.add_argument("--connections", type=int, help="idle connections (default 1000)")
    parser.add_argument("--channels", type=int, default=10, help="channels for them (10)")
    parser.add_argument("--top", type=int, default=25, help="owners shown per engine (25)")
    parser.add_argument("--serve", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        raise_nofile(65_536)
        run_relay(serve(args.serve), args.serve)
        return 0
    connections = args.connections or (200 if args.quick else 1000)
    raise_nofile(connections + 4096)
    print(f"relay_memory: {connections:,} idle connections over {args.channels} channels")
    with guarded("relay_memory"):
        run_async(run_all(args.engine or ENGINES, connections, args.channels, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
