"""Where the rx_itty client's memory per idle connection goes, transport by transport.

Usage::

    .venv/bin/python bench/client_memory.py                       # both transports, 1,000 clients
    .venv/bin/python bench/client_memory.py --quick               # 200 clients (CI)
    .venv/bin/python bench/client_memory.py --transport picows --top 40

For each transport (``websockets`` on asyncio's own loop, the default install;
``picows`` on uvloop, the fast extra: client_bench's ``ours`` and ``fast``), two
processes of idle clients against one relay of ours:

1. **RSS**, exactly as client_bench's ``memory`` scenario measures it (its idle
   client processes and its procedure): 10 warm-up clients, a full garbage
   collection, ``VmRSS``; then ``--connections`` more, each alone in its channel
   with one ``on("chat")`` subscriber, every one joined; a collection, ``VmRSS``
   again. Growth / connections.
2. **Breakdown**, in the same kind of process running ``tracemalloc`` (tracing
   costs memory too, so its RSS is not the figure): a snapshot after the
   warm-up and one with the idle clients, both after a full collection; the
   growth grouped by *owner*, the innermost frame of rx_itty or of a library
   (``module:function``), with the standard-library function that allocated in
   brackets (see ``_tracemem.py``, which relay_memory.py shares).

Linux only (``/proc``). No targets: client_bench judges memory against the Node
itty-sockets client; this says what to cut.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Final

from _proc import FAST, guarded, raise_nofile, run_async
from _tracemem import collect_report, print_breakdown, snap
from client_bench import (
    WARM_CONNECTIONS,
    OurKind,
    idle_clients,
    idle_growth,
    idle_memory,
    our_relay,
)

TRANSPORTS: Final[dict[str, OurKind]] = {"websockets": "ours", "picows": "fast"}


async def traced(kind: OurKind, url: str, connections: int) -> dict[str, int]:
    """The traced growth, by owner, in bytes for all ``connections`` idle clients."""
    async with idle_clients(kind, url, traced=True) as child:
        await idle_growth(child, connections, lambda: snap(child), traced=True)
        return await collect_report(child)


async def run_all(transports: Sequence[str], connections: int, top: int) -> None:
    async with our_relay() as relay:
        url = await relay.read_url()
        for transport in transports:
            kind = TRANSPORTS[transport]
            per_connection = await idle_memory(kind, url, connections)
            owners = await traced(kind, url, connections)
            loop = "uvloop" if kind == "fast" else "asyncio loop"
            print_breakdown(f"{transport} ({loop})", per_connection, owners, connections, top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="200 connections (CI)")
    parser.add_argument(
        "--transport", choices=TRANSPORTS, action="append", help="(repeatable; default both)"
    )
    parser.add_argument("--connections", type=int, help="idle clients (default 1000)")
    parser.add_argument("--top", type=int, default=25, help="owners shown per transport (25)")
    args = parser.parse_args(argv)
    connections = args.connections or (200 if args.quick else 1000)
    if connections < 1:
        raise SystemExit("client_memory: --connections must be at least 1")
    transports = args.transport or [name for name in TRANSPORTS if FAST or name != "picows"]
    if "picows" in transports and not FAST:
        raise SystemExit(
            "client_memory: --transport picows needs picows and uvloop: pip install 'rx_itty[fast]'"
        )
    # Inherited by the relay and the client processes, which hold every connection.
    raise_nofile(WARM_CONNECTIONS + connections + 4096)
    print(
        f"client_memory: {connections:,} idle clients per process, each alone in its channel"
        + ("" if FAST else " (no picows: pip install 'rx_itty[fast]' to measure it too)")
    )
    with guarded("client_memory"):
        run_async(run_all(transports, connections, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
