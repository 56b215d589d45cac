"""Slow and stalled readers: bounded relay memory, nobody else slowed, a clear close."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from typing import Any

import pytest
from websockets.asyncio.client import connect

from rx_itty.relay import Limits, Relay, RelayConfig
from tests.rawws import Stalled, client_frame, open_socket, read_frame, read_head, upgrade_request
from tests.relayproc import relay_process
from tests.support import ENGINE, Peer, scaled

pytestmark = pytest.mark.asyncio

MIB = 1024 * 1024


class Receiver:
    """A raw member that reads everything, checks the order, and follows ``total``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.numbers: list[int] = []
        self.total = 0

    @classmethod
    async def join(cls, port: int, path: str) -> Receiver:
        reader, writer = await open_socket(port)
        writer.write(upgrade_request(path))
        assert b" 101 " in await read_head(reader)
        receiver = cls(reader, writer)
        await receiver.next_event()  # own join
        return receiver

    async def next_event(self) -> dict[str, Any]:
        while True:
            opcode, payload = await read_frame(self.reader)
            if opcode == 0x9:  # ping
                self.writer.write(client_frame(payload, opcode=0xA))
            elif opcode == 0x1:
                frame: dict[str, Any] = json.loads(payload)
                if "total" in frame:
                    self.total = frame["total"]
                return frame

    async def read_until(self, count: int, total: int) -> None:
        while len(self.numbers) < count or self.total != total:
            frame = await self.next_event()
            if "message" in frame:
                self.numbers.append(frame["message"]["n"])


async def test_stalled_readers_are_dropped_under_a_blast_with_bounded_memory() -> None:
    stalled_count, messages, pad = 20, 50_000, "x" * 200
    async with relay_process() as relay:
        path = "/c/blast?"
        fast = [await Receiver.join(relay.port, path) for _ in range(2)]
        stalled = [await Stalled.join(relay.port, path) for _ in range(stalled_count)]
        sender = await Receiver.join(relay.port, path)
        for receiver in fast:
            await receiver.read_until(0, total=stalled_count + 3)
        idle_rss = relay.rss()
        peak = idle_rss

        async def sample() -> None:
            nonlocal peak
            while True:  # a measurement, not a wait: the test waits on the receivers
                peak = max(peak, relay.rss())
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        blast = b"".join(
            client_frame(json.dumps({"n": n, "pad": pad}).encode()) for n in range(messages)
        )
        sender.writer.write(blast)
        try:
            async with asyncio.timeout(scaled(60)):
                await asyncio.gather(*(r.read_until(messages, total=3) for r in fast))
        finally:
            sampler.cancel()
        for receiver in fast:
            assert receiver.numbers == list(range(messages))  # all of it, in order
        for member in stalled:
            assert await member.cut_off()
        # Unbounded, the stalled readers' backlog alone would be 20 x 11 MB.
        assert peak - idle_rss < 100 * MIB, f"relay RSS grew {(peak - idle_rss) / MIB:.0f} MiB"
        for member in stalled:
            member.close()
        for receiver in [*fast, sender]:
            receiver.writer.close()


async def blast_until_gone(relay: Relay, watcher: Peer) -> None:
    """Send 100 KB messages until ``watcher``, reading all along, sees someone leave.

    Each message waits until ``watcher`` has it, so the watcher never falls behind
    however fast the relay writes (the relay and the watcher share this thread).
    """
    async with await Peer.connect(relay.url + "r?") as sender:
        await sender.joined()
        await watcher.recv()  # the sender's join
        for _ in range(400):  # 40 MB at most
            await sender.send("x" * 100_000)
            while "message" not in (frame := await watcher.recv(within=60)):
                if frame.get("type") == "leave":
                    return
        while (await watcher.recv(within=60)).get("type") != "leave":  # a grace may end later
            pass


async def test_a_reader_past_its_mark_is_dropped_and_can_read_the_1013_close() -> None:
    limits = Limits(max_buffered_bytes=256 * 1024, slow_reader_seconds=scaled(3))
    async with (
        Relay(RelayConfig(limits=limits), engine=ENGINE) as relay,
        await Peer.connect(relay.url + "r?", max_queue=None) as watcher,
    ):
        await watcher.joined()
        stalled = await Stalled.join(relay.port, "/c/r?")
        await watcher.recv()  # its join
        await blast_until_gone(relay, watcher)
        # Dropped: it left the channel at once; reading now, it finds the close frame
        # queued behind its backlog.
        stalled.transport.resume_reading()
        async with asyncio.timeout(scaled(10)):
            while True:
                opcode, payload = await read_frame(stalled.reader)
                if opcode == 0x8:
                    break
        assert int.from_bytes(payload[:2], "big") == 1013
        assert b"too slow" in payload
        stalled.close()


async def test_the_relay_wide_budget_cuts_slow_readers_off_without_a_grace() -> None:
    limits = Limits(
        max_buffered_bytes=64 * 1024,
        slow_reader_seconds=3600,  # the grace never ends within this test
        max_total_buffered_bytes=MIB,
    )
    async with (
        Relay(RelayConfig(limits=limits), engine=ENGINE) as relay,
        await Peer.connect(relay.url + "r?", max_queue=None) as watcher,
    ):
        await watcher.joined()
        stalled = await Stalled.join(relay.port, "/c/r?")
        await watcher.recv()
        await blast_until_gone(relay, watcher)
        assert await stalled.cut_off()
        assert relay.core.member_count("r") == 1
        stalled.close()


async def test_a_member_that_keeps_up_is_never_dropped() -> None:
    limits = Limits(max_buffered_bytes=64 * 1024, slow_reader_seconds=0)
    async with (
        Relay(RelayConfig(limits=limits), engine=ENGINE) as relay,
        connect(relay.url + "r?echo=true", max_size=None) as member,
    ):
        peer = Peer(member)
        await peer.joined()
        for n in range(200):
            await peer.send({"n": n, "pad": "x" * 10_000})
            assert (await peer.recv())["message"]["n"] == n
        assert relay.core.member_count("r") == 1


async def test_closing_members_cost_no_log_flood(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    async with (
        Relay(engine=ENGINE) as relay,
        await Peer.connect(relay.url + "room?", max_queue=None) as survivor,
    ):
        await survivor.joined()
        members = [await Stalled.join(relay.port, "/c/room?") for _ in range(200)]
        while (await survivor.recv())["total"] < 201:
            pass
        async with await Peer.connect(relay.url + "room?", max_queue=None) as sender:
            await sender.joined()
            for member in members:
                sock = member.writer.transport.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                member.close()  # a reset, not a close handshake
            for n in range(300):  # writes that race the resets
                await sender.send(n)
            while True:
                frame = await survivor.recv()
                if frame.get("total") == 2:
                    break
    lines = [r for r in caplog.records if r.levelno >= 20]
    assert len(lines) <= 5, [r.getMessage() for r in lines[:20]]
