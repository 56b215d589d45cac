"""Slow consumers: stalled members against a blast, with fast members beside them.

Usage::

    .venv/bin/python bench/slow_consumers.py           # 20 stalled, 50,000 messages
    .venv/bin/python bench/slow_consumers.py --quick   # 5 stalled, 10,000 1 KB messages (CI)

Our relay (default buffer limits) runs in a subprocess. ``--stalled`` members
complete their handshake and never read again (4 KiB receive buffers); two fast
members read everything; a sender blasts ``--messages`` numbered messages of
about ``--pad`` bytes. Printed: how long after the blast began the stalled
members were dropped (their leaves, as the fast members saw them), relay RSS
idle / peak / after, and what the fast members got (delivered, lost,
duplicated, out of order). Exits 1 if a stalled member was not dropped or a fast
member lost anything.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import orjson
from _proc import SETUP_TIMEOUT
from _rawws import client_frame, until
from _reliability import (
    common_parser,
    connect_many,
    mib,
    print_figures,
    relay_child,
    script_main,
    stalled_member,
    tally,
    wait_for_deliveries,
)

SCRIPT = Path(__file__).resolve()
PATH = "/c/slow?"


async def run(engine: str, stalled_count: int, messages: int, pad: int) -> bool:
    async with relay_child(SCRIPT, engine) as relay:
        fast = await connect_many(relay.port, [PATH, PATH])
        stalled = [await stalled_member(relay.port, PATH) for _ in range(stalled_count)]
        sender = (await connect_many(relay.port, [PATH]))[0]
        members = stalled_count + 3
        await until(lambda: all(f.total == members for f in fast), SETUP_TIMEOUT, "joins")
        await asyncio.sleep(0.5)
        idle = relay.rss()
        peak = idle
        blast = b"".join(
            client_frame(orjson.dumps({"n": n, "pad": "x" * pad})) for n in range(messages)
        )
        started = time.perf_counter()
        sender.send_raw(blast)

        def finished() -> bool:
            nonlocal peak
            peak = max(peak, relay.rss())
            return all(f.got(sender.uid) >= messages and f.total == 3 for f in fast)

        await wait_for_deliveries(finished, 300, "the fast members' messages and the drops")
        elapsed = time.perf_counter() - started
        await asyncio.sleep(1.0)
        after = relay.rss()
        for sock in stalled:
            sock.close()
        result = tally([(f.seen[sender.uid], range(messages)) for f in fast])
        drops = sorted(t - started for t in fast[0].left_at)
        print_figures(
            f"slow_consumers: {stalled_count} stalled members, {messages:,} messages "
            f"of ~{pad + 20} bytes, 2 fast members",
            [
                ("stalled members dropped", f"{len(drops)} of {stalled_count}"),
                ("first drop after", f"{drops[0]:.2f} s" if drops else "-"),
                ("last drop after", f"{drops[-1]:.2f} s" if drops else "-"),
                ("blast delivered to fast members in", f"{elapsed:.2f} s"),
                ("relay RSS idle", mib(idle)),
                ("relay RSS peak", f"{mib(peak)} (+{mib(peak - idle)})"),
                ("relay RSS after the drops", mib(after)),
                *result.rows(),
            ],
        )
        for client in [*fast, sender]:
            client.abort()
        return result.clean and len(drops) == stalled_count


def main() -> int:
    parser = common_parser(__doc__ or "")
    parser.add_argument("--stalled", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--pad", type=int, default=200)
    return script_main(
        "slow_consumers",
        parser,
        {"stalled": 5, "messages": 10_000, "pad": 1000},
        lambda a: run(a.engine, a.stalled, a.messages, a.pad),
    )


if __name__ == "__main__":
    sys.exit(main())
