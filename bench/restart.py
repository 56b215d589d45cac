"""Relay restart: rx_itty clients ride through the relay crashing and coming back.

Usage::

    .venv/bin/python bench/restart.py           # 3 crashes, 200 msgs/s
    .venv/bin/python bench/restart.py --quick   # 1 crash (CI)

A sender and a receiver (``rx_itty.connect``, fast reconnect backoff) share a
channel on our relay, in a subprocess. The sender sends numbered messages at
``--rate``; ``--restarts`` times the relay is killed (SIGKILL: no close frames)
and started again on the same port ``--downtime`` seconds later. Printed: how
long the clients took to be ready again (own join received) after each
restart, and what the receiver got: sent / delivered / lost / duplicated / out
of order. Messages sent
while the receiver was away are lost by design (a channel has no history);
sends queued by the sender while it was away are flushed when it is back.
Exits 1 on any duplicate or reordering.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from _rawws import until
from _reliability import common_parser, mib, print_figures, relay_child, script_main, tally

from rx_itty import Backoff, ConnectionState, IttySocket, connect

SCRIPT = Path(__file__).resolve()
BACKOFF = Backoff(initial=0.05, maximum=0.2)
REOPEN_TIMEOUT = 30.0


async def run(engine: str, restarts: int, rate: float, downtime: float, traffic: float) -> bool:
    got: list[int] = []
    sent = 0
    reopen: list[float] = []
    clients: list[IttySocket] = []  # sender, receiver
    sending: asyncio.Task[None] | None = None

    async def send_forever() -> None:
        nonlocal sent
        while True:
            clients[0].send({"n": sent})
            sent += 1
            await asyncio.sleep(1 / rate)

    def all_open() -> bool:
        return all(s.current_state is ConnectionState.READY for s in clients)

    port = 0
    rss = 0
    for round_ in range(restarts + 1):
        async with relay_child(SCRIPT, engine, port) as relay:
            port = relay.port
            if not clients:
                clients = [connect("restart", server=relay.url, reconnect=BACKOFF) for _ in "sr"]
                clients[1].messages.subscribe(lambda m: got.append(m.message["n"]))
                for client in clients:
                    await client.opened(timeout=REOPEN_TIMEOUT)
                sending = asyncio.ensure_future(send_forever())
            else:
                started = time.perf_counter()
                await until(all_open, REOPEN_TIMEOUT, "reconnects")
                reopen.append(time.perf_counter() - started)
            await asyncio.sleep(traffic)
            rss = relay.rss()
            if round_ < restarts:
                relay.child.proc.kill()  # a crash: no close frames
                await relay.child.proc.wait()
                await asyncio.sleep(downtime)
            elif sending is not None:
                sending.cancel()
                await asyncio.sleep(0.5)  # the last sends arrive
    for client in clients:
        client.dispose()
    result = tally([(got, range(sent))])
    print_figures(
        f"restart: {restarts} relay crash(es), {downtime:g} s down each, {rate:g} msgs/s",
        [
            ("ready again after a restart (median)", f"{statistics.median(reopen):.2f} s"),
            ("ready again after a restart (max)", f"{max(reopen):.2f} s"),
            ("sent", f"{sent:,}"),
            *result.rows()[1:],
            ("relay RSS at the end", mib(rss)),
        ],
    )
    return result.duplicated == result.out_of_order == 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def main() -> int:
    parser = common_parser(__doc__ or "")
    parser.add_argument("--restarts", type=_at_least_one, default=3)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--downtime", type=float, default=0.5)
    parser.add_argument("--traffic", type=float, default=2.0, help="seconds between restarts")
    return script_main(
        "restart",
        parser,
        {"restarts": 1, "traffic": 1.0},
        lambda a: run(a.engine, a.restarts, a.rate, a.downtime, a.traffic),
    )


if __name__ == "__main__":
    sys.exit(main())
