"""How often the client reconnects to a server that keeps dropping it.

Usage::

    .venv/bin/python bench/reconnect_rate.py              # 20 s per server
    .venv/bin/python bench/reconnect_rate.py --seconds 60

Two real ``websockets`` servers on 127.0.0.1: one accepts the handshake and closes
at once ("accept-then-close"), one sends an own join first and then closes with
1001 going away ("join-then-close"). A socket made with the default
``connect(url)`` options (reconnect on, default ``Backoff``) is opened against
each for ``--seconds`` of wall time; the server counts the connections it
accepted. Printed: attempts in total, attempts per second over the whole run and
over its last half (a client whose delays grow slows down; one that resets its
backoff on every open does not), and the longest gap between two attempts.

This is a measurement to report, not a test: no target, no PASS/MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection, serve

import rx_itty
from rx_itty import connect

Handler = Callable[[ServerConnection], Awaitable[None]]


async def accept_then_close(conn: ServerConnection) -> None:
    await conn.close()


async def join_then_close(conn: ServerConnection) -> None:
    join = {"type": "join", "uid": "bench1", "self": True, "total": 1, "date": 0}
    await conn.send(json.dumps(join))
    await conn.close(1001, "going away")


async def measure(handler: Handler, seconds: float) -> list[float]:
    """Times (s since start) at which the server accepted a connection."""
    attempts: list[float] = []
    start = time.monotonic()

    async def counting(conn: ServerConnection) -> None:
        attempts.append(time.monotonic() - start)
        await handler(conn)

    async with serve(counting, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ch = connect(f"ws://127.0.0.1:{port}/c/room")
        ch.open()
        await asyncio.sleep(seconds)
        ch.dispose()
    return attempts


def report(name: str, attempts: list[float], seconds: float) -> None:
    late = [t for t in attempts if t >= seconds / 2]
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    print(
        f"{name:18} attempts {len(attempts):5}   per second {len(attempts) / seconds:6.2f}   "
        f"last half {len(late) / (seconds / 2):6.2f}/s   longest gap {max(gaps, default=0):6.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0)
    seconds = parser.parse_args().seconds
    print(f"rx_itty from {rx_itty.__file__}; {seconds:g} s per server")
    for name, handler in (
        ("accept-then-close", accept_then_close),
        ("join-then-close", join_then_close),
    ):
        report(name, await measure(handler, seconds), seconds)


if __name__ == "__main__":
    asyncio.run(main())
