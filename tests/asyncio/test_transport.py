"""rx_itty.asyncio.transport: the websockets transport's attempts and closes, over real sockets."""

from __future__ import annotations

import asyncio

import pytest

from rx_itty import (
    ConnectionState,
    connect,
)
from rx_itty.relay import Relay
from tests.support import first, scaled


@pytest.mark.asyncio
async def test_closing_while_connecting_to_a_silent_server_abandons_the_attempt() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept the TCP connection, never answer the handshake
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ch = connect(f"ws://127.0.0.1:{port}/c/room", reconnect=False)
        ch.open()
        await first(ch.state, lambda s: s is ConnectionState.CONNECTING)
        closed = asyncio.ensure_future(first(ch.closes, lambda _: True, within=3))
        ch.close()  # the open timeout is 10 s: closing must not wait for it
        assert (await closed).code is None
        assert ch.current_state is ConnectionState.CLOSED
        ch.dispose()


@pytest.mark.asyncio
async def test_opening_and_closing_in_the_same_tick_reports_the_close(relay: Relay) -> None:
    ch = connect("room", server=relay.url, reconnect=False)
    closed = asyncio.ensure_future(first(ch.closes, lambda _: True))
    ch.open()
    ch.close()  # before the connection task has even started
    await closed
    assert ch.current_state is ConnectionState.CLOSED
    await ch.opened(scaled(5))  # and it can open again
    await ch.aclose()
