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
   ``asyncio/base_events.py:create_task``); see ``_tracemem.py``, which
   client_memory.py shares.

The picows engine runs on uvloop, the websockets one on asyncio's own loop, as in
relay_bench. Linux only (``/proc``). No targets: relay_bench judges memory against
the Node relay; this says what to cut.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from _proc import (
    announce_url,
    guarded,
    port_of,
    raise_nofile,
    run_async,
    run_relay,
    running_child,
)
from _tracemem import Tracer, collect_report, print_breakdown, snap
from relay_bench import PythonRelay, idle_growth, measure_memory, running_relay

SCRIPT: Final = Path(__file__).resolve()
ENGINES: Final = ("websockets", "picows")


# --------------------------------------------------------------------------
# Relay side (``--serve ENGINE``)
# --------------------------------------------------------------------------


async def serve(engine: str) -> None:
    """Our relay, traced, no rate or connection limits, until EOF on stdin.

    A ``snap`` line takes a snapshot after a full collection (answer: ``SNAP``);
    ``report`` answers the growth from the first snapshot to the last, by owner.
    """
    tracer = Tracer()
    from rx_itty.relay import Limits, Relay, RelayConfig

    limits = Limits(messages_per_window=None, connections_per_second=None, ban_seconds=0)
    config = RelayConfig(limits=limits)
    # No engine argument for the default: this measures relays from before engines, too.
    relay = Relay(config, engine=engine) if engine != "websockets" else Relay(config)
    announce_url(await relay.start())
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            answer = tracer.answer(line)
            if answer is not None:
                print(answer, flush=True)
    finally:
        await relay.aclose()


# --------------------------------------------------------------------------
# Bench side
# --------------------------------------------------------------------------


async def traced(engine: str, connections: int, channels: int) -> dict[str, int]:
    """The traced growth, by owner, in bytes for all ``connections`` idle connections."""
    argv = [sys.executable, str(SCRIPT), "--serve", engine]
    async with running_child(f"{engine} relay (traced)", argv) as child:
        port = port_of(await child.read_url())
        await idle_growth(port, connections, channels, lambda: snap(child))
        return await collect_report(child)


async def rss(engine: str, connections: int, channels: int) -> float:
    """RSS growth per connection, exactly as relay_bench's memory scenario measures it."""
    kind: PythonRelay = "picows" if engine == "picows" else "ours"
    async with running_relay(kind, None) as relay:
        return await measure_memory(relay, connections, channels)


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
