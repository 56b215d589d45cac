"""Soak: steady traffic with members coming and going, for ten minutes.

Usage::

    .venv/bin/python bench/soak.py           # 600 s
    .venv/bin/python bench/soak.py --quick   # 6 s (CI)

Our relay runs in a subprocess. Each of ``--channels`` channels has a sender,
a member that stays to the end (the witness), and ``--churners`` members that
keep leaving and joining again (one every ``--churn`` seconds per channel,
half of them abruptly). Senders send numbered messages, ``--rate`` per second
in all. Relay RSS is read after a warm-up (a tenth of the run, at least 2 s)
and at the end. Printed: what the witnesses got (delivered / lost / duplicated
/ out of order), joins and leaves done, and relay RSS before / after / growth
with the smallest and largest sample. Exits 1 if a witness missed anything.
"""

from __future__ import annotations

import asyncio
import random
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
    tally,
    wait_for_deliveries,
)

SCRIPT = Path(__file__).resolve()
SAMPLE_EVERY = 1.0


async def run(
    engine: str, seconds: float, channels: int, churners: int, rate: float, churn: float
) -> bool:
    rng = random.Random(7)
    async with relay_child(SCRIPT, engine) as relay:
        paths = [f"/c/soak-{c}?" for c in range(channels)]
        senders = await connect_many(relay.port, paths)
        witnesses = await connect_many(relay.port, paths)
        crowd = [await connect_many(relay.port, [path] * churners) for path in paths]
        await until(lambda: all(w.total == churners + 2 for w in witnesses), SETUP_TIMEOUT, "joins")
        sent = [0] * channels
        churned = 0
        samples: list[int] = []
        warm_up = max(2.0, seconds / 10)
        started = time.perf_counter()
        next_churn = started + churn
        next_sample = started + warm_up
        interval = channels / rate
        while (now := time.perf_counter()) - started < seconds:
            for c, sender in enumerate(senders):
                sender.send_raw(client_frame(orjson.dumps({"n": sent[c]})))
                sent[c] += 1
            if now >= next_churn:
                next_churn += churn
                for c, path in enumerate(paths):
                    leaving = crowd[c].pop(rng.randrange(len(crowd[c])))
                    if rng.random() < 0.5:
                        leaving.abort()  # gone without a close frame
                    else:
                        leaving.send_raw(client_frame(b"\x03\xe8", opcode=0x8))
                    crowd[c].extend(await connect_many(relay.port, [path]))
                    churned += 1
            if now >= next_sample:
                next_sample += SAMPLE_EVERY
                samples.append(relay.rss())
            await asyncio.sleep(interval)
        samples.append(relay.rss())

        pairs = list(enumerate(zip(senders, witnesses, strict=True)))

        def done() -> bool:
            return all(w.got(s.uid) >= sent[c] for c, (s, w) in pairs)

        await wait_for_deliveries(done, 60, "the last deliveries")
        result = tally([(w.seen[s.uid], range(sent[c])) for c, (s, w) in pairs])
        print_figures(
            f"soak: {seconds:g} s, {channels} channels, {churners} churning members each, "
            f"{rate:g} msgs/s",
            [
                *result.rows(),
                ("members replaced", f"{churned:,}"),
                ("relay RSS after warm-up", mib(samples[0])),
                ("relay RSS at the end", mib(samples[-1])),
                ("relay RSS growth", mib(samples[-1] - samples[0])),
                ("relay RSS min / max sample", f"{mib(min(samples))} / {mib(max(samples))}"),
            ],
        )
        for client in [*senders, *witnesses, *(m for group in crowd for m in group)]:
            client.abort()
        return result.clean


def main() -> int:
    parser = common_parser(__doc__ or "")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--churners", type=int, default=8)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--churn", type=float, default=0.5)
    return script_main(
        "soak",
        parser,
        {"seconds": 6.0},
        lambda a: run(a.engine, a.seconds, a.channels, a.churners, a.rate, a.churn),
    )


if __name__ == "__main__":
    sys.exit(main())
