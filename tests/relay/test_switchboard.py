"""What every engine's connections get from the switchboard, on the engine under test.

Raw sockets play the peers that ``websockets`` clients are too well behaved to
be: one that sends its messages together with its handshake, one that never
answers a ping, one that sends invalid UTF-8.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator

import pytest

from rx_itty.relay import Relay
from tests.rawws import (
    CLOSE,
    PING,
    client_frame,
    close_frame,
    join_raw,
    next_text,
    open_socket,
    read_frame,
    read_head,
    status_of,
    upgrade_request,
)
from tests.support import Peer, scaled

pytestmark = pytest.mark.asyncio


def channel() -> str:
    return f"switchboard-{secrets.token_hex(4)}"


@contextlib.asynccontextmanager
async def beside_a_peer(
    relay: Relay, query: str
) -> AsyncIterator[tuple[Peer, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A peer joined with ``query``, then a raw socket in its channel (the peer saw it join)."""
    name = channel()
    async with await Peer.connect(f"{relay.url}{name}?{query}") as peer:
        await peer.joined()
        reader, writer, _ = await join_raw(relay.port, f"/c/{name}?")
        assert (await peer.recv())["total"] == 2
        try:
            yield peer, reader, writer
        finally:
            writer.close()


async def test_messages_sent_with_the_handshake_come_after_the_own_join_in_order(
    relay: Relay,
) -> None:
    # More than the switchboard holds before it pauses reading, all in one write.
    frames = b"".join(client_frame(json.dumps({"n": n}).encode()) for n in range(40))
    reader, writer = await open_socket(relay.port)
    writer.write(upgrade_request(f"/c/{channel()}?echo=true") + frames)
    assert status_of(await read_head(reader)) == 101
    join = await next_text(reader)
    assert (join["type"], join["self"]) == ("join", True)
    assert [(await next_text(reader))["message"] for _ in range(40)] == [
        {"n": n} for n in range(40)
    ]
    writer.close()


@pytest.mark.parametrize("with_the_head", [False, True], ids=["after-101", "with-the-head"])
async def test_what_a_member_sends_before_closing_during_its_join_arrives_before_its_leave(
    relay: Relay, with_the_head: bool
) -> None:
    name = channel()
    close = client_frame((1000).to_bytes(2, "big") + b"done", opcode=CLOSE)
    async with await Peer.connect(f"{relay.url}{name}?") as watcher:
        await watcher.joined()
        reader, writer = await open_socket(relay.port)
        # The message comes with the handshake; the close as soon as the handshake is
        # answered (on a backplane, both before the join is through), or with them in
        # one write, one TCP segment: then the relay reads it before it answers.
        sent = upgrade_request(f"/c/{name}?") + client_frame(b'"last words"')
        writer.write(sent + close if with_the_head else sent)
        assert status_of(await read_head(reader)) == 101
        if not with_the_head:
            writer.write(close)
        assert await close_frame(reader) == (1000, b"done")  # echoed
        async with asyncio.timeout(scaled(5)):
            assert await reader.read() == b""  # then the relay ends the TCP connection
        assert (await watcher.recv())["type"] == "join"
        assert (await watcher.recv())["message"] == "last words"
        leave = await watcher.recv()
        assert (leave["type"], leave["total"]) == ("leave", 1)
        writer.close()


async def test_the_keepalive_closes_a_member_that_never_answers_a_ping(relay: Relay) -> None:
    async with beside_a_peer(relay, "echo=true") as (alive, reader, _):
        relay.switchboard.sweep()  # a ping to each
        assert (await read_frame(reader))[0] == PING  # the silent member never answers it
        await alive.send("after the pong")  # the client answered the ping before sending this
        assert (await alive.recv())["message"] == "after the pong"
        relay.switchboard.sweep()  # the silent one's ping is still unanswered: closed
        assert await close_frame(reader) == (1011, b"keepalive ping timeout")
        leave = await alive.recv()
        assert (leave["type"], leave["total"]) == ("leave", 1)
        await alive.send("after another pong")
        assert (await alive.recv())["message"] == "after another pong"
        relay.switchboard.sweep()  # the live member answered every ping: it stays
        await alive.send("still here")
        assert (await alive.recv())["message"] == "still here"


async def test_invalid_utf8_closes_the_sender_with_1007_and_nobody_else(relay: Relay) -> None:
    async with beside_a_peer(relay, "") as (other, reader, writer):
        writer.write(client_frame(b'"\xff\xfe"'))
        code, reason = await close_frame(reader)
        assert code == 1007
        assert b"invalid UTF-8" in reason
        assert (await other.recv())["type"] == "leave"


async def test_a_fragmented_message_is_relayed_whole(relay: Relay) -> None:
    url = f"{relay.url}{channel()}?"
    async with await Peer.connect(url) as sender, await Peer.connect(url) as receiver:
        await sender.joined()
        await receiver.joined()
        await sender.recv()  # the receiver's join
        await sender.conn.send(['{"parts":', ' ["a", "b"],', ' "n": 3}'])  # three frames
        assert (await receiver.recv())["message"] == {"parts": ["a", "b"], "n": 3}


async def test_pings_from_a_client_are_answered(relay: Relay) -> None:
    async with await Peer.connect(f"{relay.url}{channel()}?") as peer:
        await peer.joined()
        pong = await peer.conn.ping()
        await asyncio.wait_for(pong, scaled(5))


async def test_frames_gathered_in_one_turn_go_out_together_and_in_order(relay: Relay) -> None:
    # What the Redis backplane does with a burst from other nodes: one write per member
    # at the end of the loop's turn instead of one per frame, the order kept.
    name = channel()
    reader, writer, _ = await join_raw(relay.port, f"/c/{name}?")
    board = relay.switchboard
    (link,) = [link for link in relay._engine.links() if link.member is not None]
    board.gather()
    for n in range(3):
        board.deliver(relay.core.relay_in(name, json.dumps({"type": "message", "message": n})))
    assert link.outbox is not None  # held until the turn ends
    assert len(link.outbox) == 3
    assert [(await next_text(reader))["message"] for _ in range(3)] == [0, 1, 2]
    assert link.outbox is None
    writer.close()
