"""A socket-level fuzz run of modest size: hostile frames never disturb good members.

Fuzzers on raw sockets send, in a seeded random order, everything a broken or
hostile client can: invalid JSON, bad UTF-8, binary and reserved opcodes,
unmasked and truncated frames, malformed and stray DMs, deep nesting, oversize
frames. Whenever the relay closes a fuzzer, a new one joins. Meanwhile one good
member sends a numbered sequence that every good member must receive exactly
once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random

import pytest

from rx_itty.relay import Limits, Relay, RelayConfig
from tests.rawws import client_frame, open_socket, read_head, upgrade_request
from tests.support import ENGINE, Peer, scaled

pytestmark = pytest.mark.asyncio

SEED = 20_261_130
FUZZ_FRAMES = 3000
SEQUENCE = 300


def hostile_frame(rng: random.Random) -> bytes:
    kind = rng.randrange(12)
    text = json.dumps({"n": rng.random()}).encode()
    if kind == 0:
        return client_frame(b"{not json")
    if kind == 1:
        return client_frame(b"\xff\xfe\xfd")  # not UTF-8: the relay closes 1007
    if kind == 2:
        return client_frame(text, opcode=0x2)  # binary
    if kind == 3:
        return client_frame(text, opcode=rng.choice([0x3, 0x4, 0xB]))  # reserved opcodes
    if kind == 4:
        return bytes((0x81, len(text))) + text  # unmasked
    if kind == 5:
        return client_frame(b"\x1fno-closing-separator")
    if kind == 6:
        return client_frame(b"\x1f" + rng.randbytes(3).hex().encode() + b"\x1f" + text)
    if kind == 7:
        depth = rng.choice([100, 600, 2000])
        return client_frame(b"[" * depth + b"]" * depth)
    if kind == 8:
        return client_frame(b'"' + b"x" * 5000 + b'"')  # oversize
    if kind == 9:
        return client_frame(text)[: rng.randrange(1, 6)]  # a truncated frame
    if kind == 10:
        return client_frame(b"ping", opcode=0x9)
    return client_frame(text)  # a valid message


async def fuzzer(port: int, rng: random.Random, budget: list[int]) -> None:
    """Send hostile frames, joining again whenever the relay closes us, until the budget ends."""
    while budget[0] > 0:
        reader, writer = await open_socket(port)
        writer.write(upgrade_request("/c/fuzz?"))
        if b" 101 " not in await read_head(reader):
            writer.close()
            continue
        drain = asyncio.ensure_future(reader.read(-1))  # take whatever the relay sends
        try:
            while budget[0] > 0 and not drain.done():
                budget[0] -= 1
                writer.write(hostile_frame(rng))
                await writer.drain()
                await asyncio.sleep(0)
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()
            drain.cancel()
            with contextlib.suppress(BaseException):
                await drain


async def test_hostile_frames_never_disturb_good_members() -> None:
    rng = random.Random(SEED)
    limits = Limits(max_frame_bytes=4096)
    async with Relay(RelayConfig(limits=limits), engine=ENGINE) as relay:
        url = relay.url + "fuzz?"
        async with (
            await Peer.connect(url, max_queue=None) as sender,
            await Peer.connect(url, max_queue=None) as one,
            await Peer.connect(url, max_queue=None) as two,
        ):
            sender_uid = (await sender.joined())["uid"]
            await one.joined()
            await two.joined()
            budget = [FUZZ_FRAMES]
            fuzzers = [asyncio.ensure_future(fuzzer(relay.port, rng, budget)) for _ in range(3)]
            for n in range(SEQUENCE):
                await sender.send({"seq": n})
                if n % 10 == 0:
                    await asyncio.sleep(0)
            async with asyncio.timeout(scaled(60)):
                await asyncio.gather(*fuzzers)
            for peer in (one, two):
                got: list[int] = []
                while len(got) < SEQUENCE:
                    frame = await peer.recv(within=30)
                    assert frame.get("type") != "error"  # errors go to the fuzzers only
                    if frame.get("uid") == sender_uid and "message" in frame:
                        got.append(frame["message"]["seq"])
                assert got == list(range(SEQUENCE))
        async with await Peer.connect(url) as late:  # and the relay still serves
            assert (await late.joined())["type"] == "join"
