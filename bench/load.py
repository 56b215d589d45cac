"""Load: many connections over several channels, every channel busy at once.

Usage::

    .venv/bin/python bench/load.py           # 1,000 connections, 10 channels, 200 msgs each
    .venv/bin/python bench/load.py --quick   # 200 connections, 4 channels, 50 msgs (CI)

Our relay runs in a subprocess. All members join (50 handshakes at a time);
then one member of each channel sends ``--messages`` numbered messages, all
channels at once, and every other member must get each exactly once, in order.
Printed: connect time, deliveries expected / delivered / lost / duplicated /
out of order, relay RSS before connecting, with everyone connected and after
the traffic. Exits 1 on any loss, duplicate or reordering.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _proc import SETUP_TIMEOUT
from _rawws import text_frames, until
from _reliability import (
    common_parser,
    connect_many,
    mib,
    print_figures,
    relay_child,
    script_main,
    tally,
    wait_for_deliveries,
)

SCRIPT = Path(__file__).resolve()
TRAFFIC_TIMEOUT = 120.0


async def run(engine: str, connections: int, channels: int, messages: int) -> bool:
    async with relay_child(SCRIPT, engine) as relay:
        before = relay.rss()
        paths = [f"/c/load-{i % channels}?" for i in range(connections)]
        started = time.perf_counter()
        members = await connect_many(relay.port, paths)
        connect_seconds = time.perf_counter() - started
        per_channel = [members[c::channels] for c in range(channels)]
        await until(
            lambda: all(m.total == len(group) for group in per_channel for m in group),
            SETUP_TIMEOUT,
            "every join",
        )
        connected = relay.rss()
        senders = [group[0] for group in per_channel]
        started = time.perf_counter()
        for sender in senders:
            sender.send_raw(text_frames("load", 0, messages))

        def done() -> bool:
            return all(m.got(group[0].uid) >= messages for group in per_channel for m in group[1:])

        await wait_for_deliveries(done, TRAFFIC_TIMEOUT, "every delivery")
        traffic_seconds = time.perf_counter() - started
        after = relay.rss()
        result = tally(
            [(m.seen[group[0].uid], range(messages)) for group in per_channel for m in group[1:]]
        )
        print_figures(
            f"load: {connections:,} connections, {channels} channels, "
            f"{messages:,} messages from one sender per channel",
            [
                ("connected in", f"{connect_seconds:.2f} s"),
                ("traffic delivered in", f"{traffic_seconds:.2f} s"),
                *result.rows(),
                ("relay RSS before connecting", mib(before)),
                (
                    "relay RSS, all connected",
                    f"{mib(connected)} "
                    f"({(connected - before) / connections / 1024:.0f} KiB per connection)",
                ),
                ("relay RSS after the traffic", mib(after)),
            ],
        )
        for member in members:
            member.abort()
        return result.clean


def main() -> int:
    parser = common_parser(__doc__ or "")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--messages", type=int, default=200)
    return script_main(
        "load",
        parser,
        {"connections": 200, "channels": 4, "messages": 50},
        lambda a: run(a.engine, a.connections, a.channels, a.messages),
    )


if __name__ == "__main__":
    sys.exit(main())
