"""What the ``websockets`` engine does its own way: the handshake's deadline, a handshake
caught by a shutdown, a reset right after the head, and permessage-deflate (the only
engine that compresses).

What every engine does is in ``test_engine.py``, ``test_switchboard.py`` and
``test_server.py``, on the engine under test.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

import pytest

from rx_itty.relay import Relay, RelayConfig
from rx_itty.relay.engine import OPEN_TIMEOUT
from tests.rawws import join_raw, open_socket, read_head, status_of, upgrade_request
from tests.support import Peer, scaled


@pytest.mark.asyncio
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


@pytest.mark.asyncio
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


def test_clients_reset_right_after_their_heads_are_not_logged_above_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # On uvloop (what `serve` runs on when installed): its transport has no peer
    # address once closed, which a handshake that outlived its connection asked for.
    uvloop = pytest.importorskip("uvloop", reason="the fast extra (uvloop) is not installed")

    async def resets() -> None:
        async with Relay(engine="websockets") as relay:
            for _ in range(20):
                # Blocking, on the relay's own loop: head and reset are both in before
                # the relay reads either.
                with socket.create_connection(("127.0.0.1", relay.port)) as sock:
                    sock.sendall(upgrade_request("/c/reset?"))
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Accepted after them, so they are all accepted; the relay's close then
            # waits for each of their handshakes to end.
            _, member, _ = await join_raw(relay.port, "/c/reset?")
            member.close()

    with caplog.at_level(logging.DEBUG), asyncio.Runner(loop_factory=uvloop.new_event_loop) as run:
        run.run(resets())
    told = [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG or r.exc_info]
    # The relay's own two lines, its start and its stop, and nothing about the resets.
    assert len(told) == 2, told
    assert told[0].startswith("relay listening on ")
    assert told[1] == "relay stopped"


@pytest.mark.asyncio
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
