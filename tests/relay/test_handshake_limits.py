"""Handshake head limits: request line (414), header count and total size (431)."""

from __future__ import annotations

import asyncio

import pytest

from rx_itty.relay import Limits, Relay, RelayConfig
from tests.rawws import open_socket, read_head, status_of, upgrade_request
from tests.relayproc import relay_process
from tests.support import ENGINE

pytestmark = pytest.mark.asyncio

MIB = 1024 * 1024


async def status(port: int, request: bytes) -> int:
    reader, writer = await open_socket(port)
    try:
        writer.write(request)
        return status_of(await read_head(reader))
    finally:
        writer.close()
        await writer.wait_closed()


def headers(count: int, size: int) -> str:
    """``count`` headers of about ``size`` bytes each (CRLF included)."""
    return "".join(f"X-Filler-{i}: {'v' * (size - 16 - len(str(i)))}\r\n" for i in range(count))


@pytest.mark.parametrize(
    ("path", "extra", "expected"),
    [
        ("/c/r?x=" + "a" * 8000, "", 101),
        ("/c/r?x=" + "a" * 8200, "", 414),  # the request line passes 8 KiB
        ("/c/r?", headers(90, 100), 101),  # 95 headers in all
        ("/c/r?", headers(96, 100), 431),  # 101 headers
        ("/c/r?", headers(3, 7000), 101),  # about 21 KB of head
        ("/c/r?", headers(5, 7000), 431),  # about 35 KB: past 32 KiB
    ],
)
async def test_the_request_head_is_bounded_like_nginx_by_default(
    relay: Relay, path: str, extra: str, expected: int
) -> None:
    assert await status(relay.port, upgrade_request(path, extra)) == expected


async def test_the_configured_limits_are_the_ones_the_engine_applies() -> None:
    # Exact boundaries, pieces and messages: test_head.py.
    limits = Limits(max_request_line_bytes=100, max_header_count=6, max_header_bytes=1000)
    async with Relay(RelayConfig(limits=limits), engine=ENGINE) as relay:
        assert await status(relay.port, upgrade_request("/c/r?x=" + "a" * 60)) == 101
        assert await status(relay.port, upgrade_request("/c/r?x=" + "a" * 100)) == 414
        assert await status(relay.port, upgrade_request("/c/r?", headers(2, 50))) == 431
        assert (
            await status(relay.port, upgrade_request("/c/r?", "X-A: " + "a" * 900 + "\r\n")) == 431
        )


async def test_oversize_handshakes_held_open_cost_the_relay_no_lasting_memory() -> None:
    huge = upgrade_request("/c/r?", headers(128, 8000))  # ~1 MiB: what websockets alone allows
    async with relay_process() as relay:
        before = relay.rss()
        held = [await open_socket(relay.port) for _ in range(200)]
        for _, writer in held:
            writer.write(huge)
        heads = await asyncio.gather(*(read_head(reader, within=30) for reader, _ in held))
        # Refused (or cut off while the client was still sending), never upgraded.
        assert all(not head or status_of(head) == 431 for head in heads)
        assert sum(1 for head in heads if head) > 0
        growth = relay.rss() - before
        for _, writer in held:
            writer.transport.abort()
    # Accepted, each would keep its 1 MiB head's worth: about 80 MiB for 200.
    assert growth < 20 * MIB, f"relay RSS grew {growth / MIB:.0f} MiB"
