"""rx_itty.asyncio.runtime: where sockets live, the running loop or one shared loop thread."""

from __future__ import annotations

import threading

import pytest

from rx_itty import (
    connect,
    start_relay_thread,
)
from rx_itty.relay import Relay
from tests.support import scaled


@pytest.mark.asyncio
async def test_a_socket_made_inside_a_running_loop_delivers_on_that_loop(relay: Relay) -> None:
    # The notebook shape: the kernel's loop runs in the main thread.
    thread = threading.get_ident()
    seen_on: list[int] = []
    async with connect("room", server=relay.url, echo=True) as ch:
        ch.messages.subscribe(lambda _: seen_on.append(threading.get_ident()))
        ch.send({"type": "chat", "text": "hi"})
        async for message in ch.on("chat").aiter():
            assert message["text"] == "hi"
            break
    assert seen_on == [thread]


def test_without_a_running_loop_sockets_share_one_background_loop_thread() -> None:
    with start_relay_thread() as relay:
        names: list[str] = []
        ch = connect("room", server=relay.url, echo=True)
        ch.messages.subscribe(lambda _: names.append(threading.current_thread().name))
        ch.send(1)
        assert next(iter(ch.messages.iter(timeout=scaled(5)))).message == 1
        other = connect("room2", server=relay.url, echo=True).send(2)
        other_names: list[str] = []
        other.messages.subscribe(lambda _: other_names.append(threading.current_thread().name))
        assert next(iter(other.messages.iter(timeout=scaled(5)))).message == 2
        ch.dispose()
        other.dispose()
    assert set(names) == set(other_names) == {"rx_itty-loop"}
