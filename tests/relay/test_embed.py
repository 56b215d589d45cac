"""rx_itty.relay.embed: a relay on a background thread, for scripts and notebooks."""

from __future__ import annotations

import asyncio

import pytest

from rx_itty import (
    connect,
    start_relay_thread,
)
from tests.support import first, scaled


@pytest.mark.asyncio
async def test_stopping_a_relay_thread_from_a_running_loop_does_not_block_it() -> None:
    # The notebook shape: the relay's clients live on the loop calling stop().
    relay = start_relay_thread()
    ch = connect("room", server=relay.url, reconnect=False)
    await ch.opened(scaled(5))
    closed = asyncio.ensure_future(first(ch.closes, lambda _: True))
    relay.stop()  # returns at once; the loop stays free for the close handshake
    assert (await closed).code == 1000
    await relay.astop()
    ch.dispose()
