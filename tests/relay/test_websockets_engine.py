"""What the ``websockets`` engine does its own way: the handshake's deadline, a handshake
caught by a shutdown, and permessage-deflate (the only engine that compresses).

What every engine does is in ``test_engine.py``, ``test_switchboard.py`` and
``test_server.py``, on the engine under test.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from rx_itty.relay import Relay, RelayConfig
from rx_itty.relay.engine import OPEN_TIMEOUT
from tests.rawws import join_raw, open_socket, read_head, status_of, upgrade_request
from tests.support import Peer, scaled

pytestmark = pytest.mark.asyncio


async def test_a_handshake_not_done_within_the_open_timeout_is_cut_off() -> None:
    async with Relay(engine="websockets") as relay:
        reader, writer = await open_socket(relay.port)
        started = time.monotonic()
        writer.write(upgrade_request("/c/slow?")[:30])  # and the rest never comes
        assert await read_head(reader, within=OPEN_TIMEOUT + 10) == b""  # cut, unanswered
        assert time.monotonic() - started > OPEN_TIMEOUT - 1
        _, other, _ = await join_raw(relay.port, "/c/slow?")  # the relay serves on
        other.close()
        writer.close()


async def test_a_handshake_completed_while_the_relay_stops_is_answered_503() -> None:
    relay = Relay(engine="websockets")
    await relay.start()
    reader, writer = await open_socket(relay.port)
    request = upgrade_request("/c/late?")
    writer.write(request[:30])
    # A member accepted after it: the half-sent handshake was accepted too (in order).
    _, member, _ = await join_raw(relay.port, "/c/late?")
    stopping = asyncio.create_task(relay.aclose())
    writer.write(request[30:])
    assert status_of(await read_head(reader)) == 503  # websockets' answer: no Server header
    member.close()  # rather than answer the relay's close frame
    writer.close()
    async with asyncio.timeout(scaled(10)):
        await stopping


@pytest.mark.parametrize("size", [10, 1_000, 70_000])  # each frame-length encoding
async def test_compression_when_configured_compresses_what_is_relayed(size: int) -> None:
    async with (
        Relay(RelayConfig(compression=True), engine="websockets") as relay,
        await Peer.connect(relay.url + "r?echo=true") as a,
        await Peer.connect(relay.url + "r?") as b,
    ):
        assert a.conn.response is not None
        assert "permessage-deflate" in a.conn.response.headers["Sec-WebSocket-Extensions"]
        await a.joined()
        await b.joined()
        await a.recv()  # b's join
        text = "x" * size
        await a.send(text)
        assert (await a.recv())["message"] == text
        assert (await b.recv())["message"] == text
